package c2s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestLoadOrCreateCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	c1, created, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"})
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	// A restart loads the same certificate: pinned clients keep working.
	c2, created, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"})
	if err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if Fingerprint(c1.Leaf) != Fingerprint(c2.Leaf) {
		t.Fatal("the certificate changed across restarts")
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(Fingerprint(c1.Leaf)) {
		t.Fatalf("fingerprint %q", Fingerprint(c1.Leaf))
	}
	// Another domain: a new certificate naming it.
	c3, created, err := LoadOrCreateCertificate(certFile, keyFile, []string{"example.org"})
	if err != nil || !created || c3.Leaf.VerifyHostname("example.org") != nil {
		t.Fatalf("new domain: created %v, %v", created, err)
	}

	// Expiring within 30 days: replaced.
	writeCert(t, certFile, keyFile, time.Now().Add(24*time.Hour))
	c4, created, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"})
	if err != nil || !created || time.Until(c4.Leaf.NotAfter) < 300*24*time.Hour {
		t.Fatalf("expiring: created %v, %v, until %v", created, err, c4.Leaf.NotAfter)
	}
	// A certificate of the operator's, valid: kept as is.
	writeCert(t, certFile, keyFile, time.Now().Add(90*24*time.Hour))
	before, _ := os.ReadFile(certFile)
	if _, created, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"}); err != nil || created {
		t.Fatalf("valid: created %v, %v", created, err)
	}
	if after, _ := os.ReadFile(certFile); string(after) != string(before) {
		t.Fatal("a valid certificate was rewritten")
	}

	// Damage is an error, and the files stay.
	os.WriteFile(certFile, []byte("not PEM"), 0o644)
	if _, _, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"}); err == nil {
		t.Fatal("a damaged certificate file was accepted")
	}
	if b, _ := os.ReadFile(certFile); string(b) != "not PEM" {
		t.Fatal("a damaged certificate file was replaced")
	}
	os.Remove(keyFile)
	if _, _, err := LoadOrCreateCertificate(certFile, keyFile, []string{"localhost"}); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
}

// writeCert writes a self-signed certificate for localhost valid until
// notAfter.
func writeCert(t *testing.T, certFile, keyFile string, notAfter time.Time) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
}
