package servertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a self-signed ECDSA P-256 certificate for localhost,
// *.localhost and 127.0.0.1 into dir as localhost.crt and localhost.key, and
// both concatenated as localhost.pem (the form ejabberd wants). The
// certificate is marked as a CA so that clients can trust it directly (for
// example slixmpp's ca_certs, or a Go x509.CertPool) when verifying STARTTLS
// (RFC 6120 §5).
func writeCert(dir string) (certFile, keyFile, pemFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: LocalDomain, Organization: []string{"xmppkit servertest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{LocalDomain, "*." + LocalDomain},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
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
