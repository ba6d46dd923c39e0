package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultClientPort is the port tried when a domain publishes no
// _xmpp-client._tcp SRV record (RFC 6120 §3.2.2).
const DefaultClientPort = 5222

// Service names looked up by [Dialer.DialClient].
const (
	ServiceClient       = "xmpp-client"  // RFC 6120 §3.2.1, STARTTLS inside the stream
	ServiceClientDirect = "xmpps-client" // XEP-0368, direct TLS
)

// ALPNClient is the ALPN protocol id set on direct TLS client connections
// (XEP-0368 §3).
const ALPNClient = "xmpp-client"

// ErrServiceUnavailable reports that the domain's SRV records say, with a
// lone "." target, that no XMPP client service is offered (RFC 2782;
// RFC 6120 §3.2.1).
var ErrServiceUnavailable = errors.New("dial: domain publishes no XMPP client service (SRV target \".\")")

// Resolver looks up SRV records. *net.Resolver implements it; tests pass a
// fake.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// Dialer holds the options for dialing XMPP connections. The zero value
// dials plain TCP with no timeout beyond the context's, the system's default
// keepalive and the default resolver.
type Dialer struct {
	// Timeout bounds each connection attempt, TLS handshake included. Zero
	// means no limit other than the context's.
	Timeout time.Duration
	// KeepAlive is the TCP keepalive period: zero means the system default
	// (as net.Dialer), negative disables keepalive.
	KeepAlive time.Duration
	// TLSConfig, when set, makes DialContext use direct TLS. DialClient uses
	// it (cloned) for the _xmpps-client targets only, and a default config
	// when it is nil.
	TLSConfig *tls.Config
	// Resolver looks up SRV records for DialClient; nil means
	// net.DefaultResolver.
	Resolver Resolver
	// NoDirectTLS makes DialClient skip the _xmpps-client lookup.
	NoDirectTLS bool
	// NetDialer, when set, is used for the TCP connects (its Timeout and
	// KeepAlive are overridden by the fields above when those are nonzero).
	// Tests use it to redirect connections.
	NetDialer *net.Dialer
}

// DialContext connects to addr on the named network ("tcp", "tcp4", "tcp6")
// with the Dialer's timeout and keepalive. With TLSConfig set, it performs a
// direct TLS handshake (XEP-0368) before returning; a missing ServerName is
// taken from addr's host.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.TLSConfig == nil {
		return d.dialTCP(ctx, network, addr)
	}
	cfg := d.TLSConfig
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	return d.dialTLS(ctx, network, addr, cfg)
}

func (d *Dialer) netDialer() *net.Dialer {
	var nd net.Dialer
	if d.NetDialer != nil {
		nd = *d.NetDialer
	}
	if d.Timeout != 0 {
		nd.Timeout = d.Timeout
	}
	if d.KeepAlive != 0 {
		nd.KeepAlive = d.KeepAlive
	}
	return &nd
}

func (d *Dialer) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.netDialer().DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return c, nil
}

func (d *Dialer) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	raw, err := d.netDialer().DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("dial: tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// Target is one endpoint DialClient tries: a host and port from an SRV
// record (or the fallback), and whether it expects direct TLS.
type Target struct {
	Host      string
	Port      uint16
	DirectTLS bool
	Priority  uint16
	Weight    uint16
}

// Addr returns host:port.
func (t Target) Addr() string {
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// DialError is returned by DialClient when every target failed. It lists
// each target's error; errors.Is/As look through them.
type DialError struct {
	Domain string
	Errs   []TargetError
}

// TargetError is one failed attempt of a DialError.
type TargetError struct {
	Target Target
	Err    error
}

func (e *DialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dial: no endpoint of %s reachable", e.Domain)
	for _, t := range e.Errs {
		fmt.Fprintf(&b, "; %s (tls=%v): %v", t.Target.Addr(), t.Target.DirectTLS, t.Err)
	}
	return b.String()
}

// Unwrap returns the per-target errors.
func (e *DialError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, t := range e.Errs {
		out[i] = t.Err
	}
	return out
}

// DialClient connects to the XMPP client service of domain (RFC 6120 §3.2,
// XEP-0368) and returns the connection and the target it reached. Direct TLS
// targets are verified against domain (SNI = domain, ALPN "xmpp-client");
// the others are plain TCP on which the stream will negotiate STARTTLS.
func (d *Dialer) DialClient(ctx context.Context, domain string) (net.Conn, Target, error) {
	targets, err := d.LookupClient(ctx, domain)
	if err != nil {
		return nil, Target{}, err
	}
	derr := &DialError{Domain: domain}
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			derr.Errs = append(derr.Errs, TargetError{t, err})
			break
		}
		var c net.Conn
		if t.DirectTLS {
			c, err = d.dialTLS(ctx, "tcp", t.Addr(), d.clientTLSConfig(domain))
		} else {
			c, err = d.dialTCP(ctx, "tcp", t.Addr())
		}
		if err == nil {
			return c, t, nil
		}
		derr.Errs = append(derr.Errs, TargetError{t, err})
	}
	return nil, Target{}, derr
}

func (d *Dialer) clientTLSConfig(domain string) *tls.Config {
	var cfg *tls.Config
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = domain
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{ALPNClient}
	}
	return cfg
}

// LookupClient returns the ordered list of targets DialClient tries for
// domain: the _xmpps-client and _xmpp-client SRV records merged and ordered
// per RFC 2782 (XEP-0368 §3 rule 1), or domain:5222 when neither lookup
// yields any record (RFC 6120 §3.2.2). It returns ErrServiceUnavailable when
// the only records are "." targets.
func (d *Dialer) LookupClient(ctx context.Context, domain string) ([]Target, error) {
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	var recs []Target
	sawDot := false
	lookup := func(service string, tls bool) {
		_, addrs, err := r.LookupSRV(ctx, service, "tcp", domain)
		if err != nil {
			// NXDOMAIN, no records, or a lookup failure: treated alike as
			// "no records" for this service, as RFC 6120 §3.2.2 says.
			return
		}
		if len(addrs) == 1 && (addrs[0].Target == "." || addrs[0].Target == "") {
			sawDot = true
			return
		}
		for _, a := range addrs {
			if a == nil || a.Target == "." || a.Target == "" {
				continue
			}
			recs = append(recs, Target{
				Host:      strings.TrimSuffix(a.Target, "."),
				Port:      a.Port,
				DirectTLS: tls,
				Priority:  a.Priority,
				Weight:    a.Weight,
			})
		}
	}
	if !d.NoDirectTLS {
		lookup(ServiceClientDirect, true)
	}
	lookup(ServiceClient, false)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial: lookup %s: %w", domain, err)
	}
	if len(recs) == 0 {
		if sawDot {
			return nil, fmt.Errorf("%w: %s", ErrServiceUnavailable, domain)
		}
		return []Target{{Host: domain, Port: DefaultClientPort}}, nil
	}
	OrderSRV(recs, rand.IntN)
	return recs, nil
}

// OrderSRV sorts targets by ascending priority and, within each priority,
// into the weighted random order of RFC 2782 ("Usage rules"): repeatedly pick
// among the remaining records with probability proportional to weight,
// zero-weight records being picked only when drawn with running sum 0.
// intn(n) must return a uniform value in [0, n); pass rand.IntN.
func OrderSRV(ts []Target, intn func(int) int) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Priority < ts[j].Priority })
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j].Priority == ts[i].Priority {
			j++
		}
		shuffleByWeight(ts[i:j], intn)
		i = j
	}
}

func shuffleByWeight(group []Target, intn func(int) int) {
	// RFC 2782: put zero-weight entries first, then pick by running sum.
	sort.SliceStable(group, func(i, j int) bool { return group[i].Weight == 0 && group[j].Weight != 0 })
	for k := 0; k < len(group)-1; k++ {
		total := 0
		for _, t := range group[k:] {
			total += int(t.Weight)
		}
		var pick int
		if total == 0 {
			pick = k + intn(len(group)-k) // all weights zero: uniform
		} else {
			n := intn(total + 1) // in [0, total]
			sum := 0
			for m := k; m < len(group); m++ {
				sum += int(group[m].Weight)
				if sum >= n {
					pick = m
					break
				}
			}
		}
		group[k], group[pick] = group[pick], group[k]
		// Keep the zero-weight-first invariant for the rest.
		rest := group[k+1:]
		sort.SliceStable(rest, func(i, j int) bool { return rest[i].Weight == 0 && rest[j].Weight != 0 })
	}
}

// IsLoopback reports whether a is a loopback address (127.0.0.0/8, ::1), or
// the address of a transport that does not cross a network (net.Pipe, a
// Unix socket, nil): what a client or server may treat as the same machine,
// e.g. to allow a plaintext development stream.
func IsLoopback(a net.Addr) bool {
	switch a := a.(type) {
	case nil:
		return true
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UDPAddr, *net.IPAddr:
		return false
	}
	return true
}
