package servertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// issue makes a new ECDSA P-256 key and a certificate for it from tmpl
// (given a random serial, a week of validity from an hour ago and the
// organization "xmppkit servertest"), signed by parent with parentKey, or
// self-signed when parent is nil. It returns the certificate and the key
// (PKCS #8), DER, and the key.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (der, keyDER []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(7*24*time.Hour)
	tmpl.Subject.Organization = []string{"xmppkit servertest"}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey); err != nil {
		return nil, nil, nil, err
	}
	if keyDER, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, nil, nil, err
	}
	return der, keyDER, key, nil
}

// writeCert writes a self-signed ECDSA P-256 certificate for localhost,
// *.localhost and 127.0.0.1 into dir as localhost.crt and localhost.key, and
// both concatenated as localhost.pem (the form ejabberd wants). The
// certificate is marked as a CA so that clients can trust it directly (for
// example slixmpp's ca_certs, or a Go x509.CertPool) when verifying STARTTLS
// (RFC 6120 §5).
func writeCert(dir string) (certFile, keyFile, pemFile string, err error) {
	der, keyDER, _, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: LocalDomain},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{LocalDomain, "*." + LocalDomain},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}, nil, nil)
	if err != nil {
		return "", "", "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	certFile = filepath.Join(dir, "localhost.crt")
	keyFile = filepath.Join(dir, "localhost.key")
	pemFile = filepath.Join(dir, "localhost.pem")
	for _, f := range []struct {
		name string
		data []byte
	}{{certFile, certPEM}, {keyFile, keyPEM}, {pemFile, append(append([]byte{}, certPEM...), keyPEM...)}} {
		if err := os.WriteFile(f.name, f.data, 0o600); err != nil {
			return "", "", "", fmt.Errorf("servertest: write certificate: %w", err)
		}
	}
	return certFile, keyFile, pemFile, nil
}

// WriteCertPEM writes cert as a PEM "CERTIFICATE" block to a file in a
// temporary directory removed when t ends, and returns the file's path: the
// form a client such as slixmpp (ca_certs) needs to trust a server's
// self-signed certificate when verifying STARTTLS (RFC 6120 §5). It fails t
// if cert is nil or the file cannot be written.
func WriteCertPEM(t testing.TB, cert *x509.Certificate) string {
	t.Helper()
	if cert == nil {
		t.Fatal("servertest: WriteCertPEM: nil certificate")
		return ""
	}
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatalf("servertest: write certificate: %v", err)
	}
	return file
}

// tlsFiles are the files of a server certificate issued by a throwaway CA.
type tlsFiles struct {
	caFile   string // the CA certificate (PEM): what a verifying client trusts
	certFile string // the server's certificate (PEM), issued by the CA
	keyFile  string // the server certificate's private key (PEM, PKCS #8)
	leaf     []byte // the server certificate, DER
}

// writeCAChain makes a throwaway CA and a server certificate it issues for
// names (DNS names; 127.0.0.1 and ::1 are always included), and writes
// ca.crt, server.crt and server.key into dir. Unlike writeCert's
// self-signed certificate, the server certificate is not a CA: a client
// verifying it needs the CA, which tests certificate verification as it
// works on real networks, and pinning (the SHA-256 of the leaf).
func writeCAChain(dir string, names ...string) (tlsFiles, error) {
	var f tlsFiles
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "xmppkit servertest CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, _, caKey, err := issue(caTmpl, nil, nil)
	if err != nil {
		return f, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return f, err
	}
	cn := "localhost"
	if len(names) > 0 {
		cn = names[0]
	}
	leaf, keyDER, _, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}, ca, caKey)
	if err != nil {
		return f, err
	}
	f.leaf = leaf
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	f.caFile = filepath.Join(dir, "ca.crt")
	f.certFile = filepath.Join(dir, "server.crt")
	f.keyFile = filepath.Join(dir, "server.key")
	for _, w := range []struct {
		name string
		typ  string
		der  []byte
	}{{f.caFile, "CERTIFICATE", caDER}, {f.certFile, "CERTIFICATE", f.leaf}, {f.keyFile, "PRIVATE KEY", keyDER}} {
		// Readable by all: IRC servers may read them after dropping root,
		// and the directory is private to the test anyway.
		if err := os.WriteFile(w.name, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), 0o644); err != nil {
			return f, fmt.Errorf("servertest: write certificate: %w", err)
		}
	}
	return f, nil
}

// CertPool returns a pool holding the certificate a TLS client must trust
// to verify the server: the throwaway CA of an IRC server started with TLS,
// or the self-signed certificate of an XMPP server. It returns nil when the
// server has none.
func (s *Server) CertPool() *x509.CertPool {
	file := s.CAFile
	if file == "" {
		file = s.CertFile
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil
	}
	return pool
}

// CertSHA256 returns the lowercase hex SHA-256 of the server certificate
// (DER), the fingerprint a client pins; "" when the server has none.
func (s *Server) CertSHA256() string {
	data, err := os.ReadFile(s.CertFile)
	if err != nil {
		return ""
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// ClientCert is a TLS client certificate for CertFP logins to IRC (SASL
// EXTERNAL, RFC 4422 Appendix A; NickServ CERT): self-signed, as IRC
// clients make them, since the server identifies it by its fingerprint,
// not by who signed it.
type ClientCert struct {
	// TLS is the certificate with its private key, for tls.Config.Certificates.
	TLS tls.Certificate
	// PEM is the certificate and then its private key (PKCS #8), both PEM:
	// the one-text form that clients and gateways take as a setting.
	PEM []byte
	// SHA256 is the lowercase hex SHA-256 of the DER certificate: the
	// fingerprint InspIRCd (hash="sha256") and NickServ CERT compare.
	SHA256 string
}

// NewClientCert makes a self-signed ECDSA P-256 client certificate whose
// subject common name is name. It fails t if the certificate cannot be
// made.
func NewClientCert(t testing.TB, name string) *ClientCert {
	t.Helper()
	c, err := newClientCert(name)
	if err != nil {
		t.Fatalf("servertest: client certificate: %v", err)
	}
	return c
}

func newClientCert(name string) (*ClientCert, error) {
	der, keyDER, _, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &ClientCert{TLS: pair, PEM: append(certPEM, keyPEM...), SHA256: hex.EncodeToString(sum[:])}, nil
}
