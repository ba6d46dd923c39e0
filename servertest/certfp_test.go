package servertest

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// dialTLS connects to the TLS port of s, verifying it with its CA and
// presenting cert (none if nil).
func dialTLS(t *testing.T, s *Server, cert *ClientCert) *tls.Conn {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.TLSAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// saslExternal connects to the TLS port of s presenting cert (none if
// nil) and tries SASL EXTERNAL with no authorization identity (the
// certificate's account); see authenticate.
func saslExternal(t *testing.T, s *Server, nick string, cert *ClientCert) (end, loggedIn string) {
	t.Helper()
	return authenticate(t, dialTLS(t, s, cert), nick, "EXTERNAL", "+")
}

// whoisCertFP registers as nick on the TLS port of s presenting cert and
// returns the fingerprint lines (276) of its WHOIS of itself.
func whoisCertFP(t *testing.T, s *Server, nick string, cert *ClientCert) []string {
	t.Helper()
	w := newIRC(t, dialTLS(t, s, cert))
	w.register(s.Domain, nick)
	w.send("WHOIS " + nick)
	var fp []string
	w.until("318", func(l string) bool {
		if strings.Contains(l, " 276 ") {
			fp = append(fp, l)
		}
		return strings.Contains(l, " 318 ")
	})
	return fp
}

func TestInspircdCertFP(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := Inspircd(t, InspircdOptions{SASL: true, ClientCerts: true, Users: []User{{"alice", "alicepw"}, {"bob", "bobpw"}}})
	t.Logf("InspIRCd + Anope up: %v", time.Since(t0))
	alice, other := NewClientCert(t, "alice"), NewClientCert(t, "mallory")
	if alice.SHA256 == other.SHA256 || len(alice.SHA256) != 64 {
		t.Fatalf("fingerprints %s, %s", alice.SHA256, other.SHA256)
	}
	t0 = time.Now()
	if err := s.AddCertificate("alice", alice); err != nil {
		t.Fatal(err)
	}
	t.Logf("CERT ADD: %v", time.Since(t0))
	if err := s.AddCertificate("alice", alice); err != nil {
		t.Errorf("adding it again: %v", err)
	}
	// The fingerprint is one account's only: presenting it identifies the
	// connection to alice, and AddCertificate for bob refuses.
	if err := s.AddCertificate("bob", alice); err == nil {
		t.Error("the same fingerprint was added to a second account")
	} else if !strings.Contains(err.Error(), "identified to") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("the same fingerprint for a second account: %v", err)
	}
	if err := s.AddCertificate("nobody", alice); err == nil {
		t.Error("AddCertificate for a user the server does not have")
	}

	end, in := saslExternal(t, s, "a1", alice)
	if !strings.Contains(end, " 903 ") || !strings.Contains(in, " alice ") {
		t.Errorf("alice's certificate: %q after %q, want 903 after 900 for alice", end, in)
	}
	if end, _ := saslExternal(t, s, "a2", other); !strings.Contains(end, " 904 ") {
		t.Errorf("a certificate no account holds: %q, want 904", end)
	}
	if end, _ := saslExternal(t, s, "a3", nil); !strings.Contains(end, " 904 ") {
		t.Errorf("no certificate: %q, want 904", end)
	}

	// The server shows the fingerprint it saw (sslinfo): WHOIS 276.
	if fp := whoisCertFP(t, s, "w1", other); len(fp) != 1 || !strings.Contains(fp[0], other.SHA256) {
		t.Errorf("WHOIS 276 %q, want the fingerprint %s", fp, other.SHA256)
	}
	// Without ClientCerts the server asks for no certificate: none is sent.
	p := Inspircd(t, InspircdOptions{TLS: true})
	if fp := whoisCertFP(t, p, "w2", other); len(fp) != 0 {
		t.Errorf("a fingerprint without ClientCerts: %q", fp)
	}
}
