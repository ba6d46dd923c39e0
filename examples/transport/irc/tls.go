package irc

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint returns the SHA-256 fingerprint of a DER certificate as
// lower-case hex, the form PinnedTLS takes (and `openssl x509 -noout
// -fingerprint -sha256` prints, with colons, which ParseFingerprint
// accepts).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint normalizes a SHA-256 fingerprint written in hex, with or
// without colons and an optional "sha256:" prefix; it fails unless it is
// 32 bytes.
func ParseFingerprint(s string) (string, error) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	s = strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("irc: %q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return s, nil
}

// ErrPinMismatch is the handshake error of PinnedTLS when the server's
// certificate is not the pinned one.
var ErrPinMismatch = errors.New("irc: the server's certificate does not match the pinned fingerprint")

// PinnedTLS returns a TLS config for a server whose certificate no trusted
// CA signs (self-signed, expired, another name): the chain is not verified,
// but the server's own (leaf) certificate must have one of the SHA-256
// fingerprints, so that the connection is still authenticated. base, when
// not nil, gives the other settings (client certificates for SASL
// EXTERNAL, the minimum version).
func PinnedTLS(base *tls.Config, fingerprints ...string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	pins := make(map[string]bool, len(fingerprints))
	for _, f := range fingerprints {
		if p, err := ParseFingerprint(f); err == nil {
			pins[p] = true
		}
	}
	c.InsecureSkipVerify = true // replaced by the pin check below
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || !pins[Fingerprint(raw[0])] {
			got := ""
			if len(raw) > 0 {
				got = Fingerprint(raw[0])
			}
			return fmt.Errorf("%w (it is sha256:%s)", ErrPinMismatch, got)
		}
		return nil
	}
	return c
}

// UnverifiedFingerprint returns the fingerprint of the certificate a
// server showed when err is a failed certificate verification (so that a
// user can decide to pin it), or "".
func UnverifiedFingerprint(err error) string {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
		return Fingerprint(ve.UnverifiedCertificates[0].Raw)
	}
	return ""
}
