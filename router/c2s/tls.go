package c2s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// selfSignedCert makes an ECDSA P-256 certificate for the router's domains,
// valid for a year, signed by its own key: a development certificate for
// STARTTLS (RFC 6120 §5, §13.7.2) that clients trust by pinning it.
func selfSignedCert(domains []string) (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domains[0], Organization: []string{"xmppkit router (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, d := range domains {
		if ip := net.ParseIP(d); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, d)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// switchConn is the net.Conn a client stream's conn reads and writes: the
// socket until STARTTLS, the TLS connection after. The router's kick
// (SetReadDeadline from another goroutine) always reaches the current one.
//
// Close closes the socket without a TLS close_notify: the stream's own
// </stream:stream> exchange has ended it already, and on an unbuffered
// transport (net.Pipe) the alert could wait for a peer that no longer reads.
type switchConn struct {
	mu  sync.Mutex
	raw net.Conn
	net.Conn
}

func (s *switchConn) cur() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Conn
}

func (s *switchConn) set(c net.Conn) {
	s.mu.Lock()
	s.Conn = c
	s.mu.Unlock()
}

func (s *switchConn) Read(b []byte) (int, error)         { return s.cur().Read(b) }
func (s *switchConn) Write(b []byte) (int, error)        { return s.cur().Write(b) }
func (s *switchConn) Close() error                       { return s.raw.Close() }
func (s *switchConn) SetDeadline(t time.Time) error      { return s.cur().SetDeadline(t) }
func (s *switchConn) SetReadDeadline(t time.Time) error  { return s.cur().SetReadDeadline(t) }
func (s *switchConn) SetWriteDeadline(t time.Time) error { return s.cur().SetWriteDeadline(t) }
func (s *switchConn) LocalAddr() net.Addr                { return s.cur().LocalAddr() }
func (s *switchConn) RemoteAddr() net.Addr               { return s.cur().RemoteAddr() }
