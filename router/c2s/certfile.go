package c2s

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// renewBefore is how long before its expiry a stored generated certificate
// is replaced.
const renewBefore = 30 * 24 * time.Hour

// LoadOrCreateCertificate returns the certificate and key kept in the PEM
// files certFile and keyFile, creating them when they do not exist: a
// self-signed certificate for domains, as New generates (ECDSA P-256, a
// year), written with the key readable by its owner only. So a client that
// pinned the certificate (RFC 6120 §13.7.2.1: a self-signed certificate is
// trusted by pinning it) keeps trusting it across restarts.
//
// A stored certificate is replaced by a new one (created true) when it
// expires within 30 days or does not name every one of domains; any other
// problem with the files (one of the two missing, unreadable, not a
// certificate and its key) is an error, and the files are left alone.
// Give the result to Config.TLS:
//
//	cert, _, err := c2s.LoadOrCreateCertificate(dir+"/cert.pem", dir+"/key.pem", r.Domains())
//	srv, err := c2s.New(r, c2s.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
func LoadOrCreateCertificate(certFile, keyFile string, domains []string) (cert tls.Certificate, created bool, err error) {
	if len(domains) == 0 {
		return tls.Certificate{}, false, errors.New("c2s: a certificate needs a domain")
	}
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
	case cerr == nil && kerr == nil:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("c2s: %w", err)
		}
		if time.Until(cert.Leaf.NotAfter) > renewBefore && covers(cert.Leaf, domains) {
			return cert, false, nil
		}
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return tls.Certificate{}, false, fmt.Errorf("c2s: %w", cerr)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return tls.Certificate{}, false, fmt.Errorf("c2s: %w", kerr)
	default:
		return tls.Certificate{}, false, fmt.Errorf("c2s: only one of %s and %s exists; remove it or supply the other", certFile, keyFile)
	}
	cert, leaf, err := selfSignedCert(domains)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	// The key first: a certificate without its key is never left behind.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644); err != nil {
		return tls.Certificate{}, false, err
	}
	return cert, true, nil
}

// covers reports whether leaf names every one of domains.
func covers(leaf *x509.Certificate, domains []string) bool {
	for _, d := range domains {
		if leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return true
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory, synced and renamed into place.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("c2s: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("c2s: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("c2s: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("c2s: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("c2s: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("c2s: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("c2s: %w", err)
	}
	return nil
}

// NewSelfSignedCertificate returns a new self-signed certificate for
// domains, as New generates when Config.TLS is nil (ECDSA P-256, valid for
// a year), for a caller that shows its fingerprint or keeps it itself.
func NewSelfSignedCertificate(domains []string) (tls.Certificate, error) {
	if len(domains) == 0 {
		return tls.Certificate{}, errors.New("c2s: a certificate needs a domain")
	}
	cert, _, err := selfSignedCert(domains)
	return cert, err
}

// Fingerprint returns the SHA-256 fingerprint of a certificate as clients
// show it for pinning: upper-case hex bytes separated by colons, as
// `openssl x509 -fingerprint -sha256` prints it.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
