package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"xmppkit.dev/examples/transport/irc"
)

// Endpoint is one address of an IRC server and whether it speaks TLS from
// the first byte.
type Endpoint struct {
	Addr string // host:port
	TLS  bool
}

// Network is an IRC network the gateway reaches: its addresses, tried in
// order (TLS ones first), and how TLS is checked.
type Network struct {
	// Endpoints are tried in order until one connects. A TLS endpoint whose
	// certificate fails verification ends the attempt: the gateway never
	// falls back to plaintext after a certificate error, which would give
	// an attacker who can forge certificates the plaintext instead.
	Endpoints []Endpoint
	// RootCAs verifies the servers' certificates; nil uses the system's
	// roots.
	RootCAs *x509.CertPool
	// Pins, when set, replace the CA check: the server's certificate must
	// have one of these SHA-256 fingerprints (irc.PinnedTLS). Per-user
	// settings can add pins too.
	Pins []string
	// Throttle paces each user's lines to this network (irc.Config.Throttle).
	Throttle irc.Throttle
}

// ParseNetwork reads a network given as [name=]host[:ports], where ports is
// a comma-separated list and a port written +N is a TLS port (the usual
// IRC notation): "libera=irc.libera.chat:+6697,6667". With no ports it is
// +6697,6667 (RFC 7194: TLS on 6697, tried first). The name defaults to
// the host.
func ParseNetwork(spec string) (name string, n Network, err error) {
	name, rest, hasName := strings.Cut(spec, "=")
	if !hasName {
		rest, name = spec, ""
	}
	host, ports := rest, "+6697,6667"
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, ports = rest[:i], rest[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", Network{}, fmt.Errorf("gateway: network %q: no host", spec)
	}
	if name == "" {
		name = host
	}
	var tlsEPs, plainEPs []Endpoint
	for _, p := range strings.Split(ports, ",") {
		p = strings.TrimSpace(p)
		isTLS := strings.HasPrefix(p, "+")
		p = strings.TrimPrefix(p, "+")
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return "", Network{}, fmt.Errorf("gateway: network %q: bad port %q", spec, p)
		}
		ep := Endpoint{Addr: net.JoinHostPort(host, p), TLS: isTLS}
		if isTLS {
			tlsEPs = append(tlsEPs, ep)
		} else {
			plainEPs = append(plainEPs, ep)
		}
	}
	n.Endpoints = append(tlsEPs, plainEPs...)
	return name, n, nil
}

// PlainNetwork is a network reached on one plaintext address, as the
// transport's tests and a local IRC server use.
func PlainNetwork(addr string) Network {
	return Network{Endpoints: []Endpoint{{Addr: addr}}}
}

// LoadCAs reads PEM certificates from a file into a pool, for
// Network.RootCAs.
func LoadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("gateway: no PEM certificate in %s", file)
	}
	return p, nil
}

// tlsConfig is the TLS config for one endpoint of the network, for a user
// with the given extra pins and client certificate.
func (n Network) tlsConfig(pins []string, cert *tls.Certificate) *tls.Config {
	base := &tls.Config{RootCAs: n.RootCAs, MinVersion: tls.VersionTLS12}
	if cert != nil {
		base.Certificates = []tls.Certificate{*cert}
	}
	all := append(append([]string(nil), n.Pins...), pins...)
	if len(all) > 0 {
		return irc.PinnedTLS(base, all...)
	}
	return base
}

// errNoFallback marks a connection error after which no other endpoint is
// tried (a certificate that failed verification).
func isCertError(err error) bool {
	var ve *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) ||
		errors.Is(err, irc.ErrPinMismatch)
}

// describeDialError turns a connection error into what the user reads,
// with the certificate's fingerprint when it was not trusted, so that the
// user can pin it after checking it.
func describeDialError(ep Endpoint, err error) string {
	var ie *irc.Error
	switch {
	case errors.As(err, &ie):
		return ie.Text + " (" + ie.Code + ")"
	case errors.Is(err, irc.ErrRegistrationTimeout):
		return "the server did not complete the registration in time"
	case isCertError(err):
		msg := "the TLS certificate of " + ep.Addr + " is not trusted: " + err.Error()
		if fp := irc.UnverifiedFingerprint(err); fp != "" {
			msg += "; its SHA-256 fingerprint is " + fp + " (pin it in the server settings if you trust it)"
		}
		return msg
	}
	return err.Error()
}

// dialTimeout bounds one connection attempt, registration included.
const dialTimeout = 30 * time.Second
