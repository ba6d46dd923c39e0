package c2s

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"time"

	"xmppkit.dev/dial"
	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/router/internal/limit"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// Config configures a client listener.
type Config struct {
	// TLS is the server configuration for STARTTLS (RFC 6120 §5): set
	// Certificates or GetCertificate. When nil, a self-signed certificate
	// for the router's domains is generated at start (see
	// Server.Certificate). MinVersion is raised to TLS 1.2 when lower.
	TLS *tls.Config
	// TLSPolicy says when STARTTLS is mandatory (<required/>, RFC 6120
	// §5.3.1: no SASL mechanism is offered before it). The default,
	// TLSAuto, requires it on every connection but those that came in on a
	// loopback address, so that a man in the middle cannot strip STARTTLS
	// off a listener reachable from the network. Where TLS is optional,
	// SCRAM works on a plaintext stream; PLAIN is offered only over TLS.
	TLSPolicy TLSPolicy
	// ChannelBinding says whether SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS
	// are offered on TLS streams (default ChannelBindingOffer).
	ChannelBinding ChannelBinding
	// ConnRate and ConnBurst bound the new connections from one source (an
	// IPv4 address, an IPv6 /64; loopback sources are not limited, so that
	// local tests and benchmarks may open many): ConnBurst at once, then
	// ConnRate a second; more are refused with policy-violation. Defaults
	// DefaultConnRate and DefaultConnBurst; a negative ConnRate disables
	// the limit.
	ConnRate  float64
	ConnBurst int
	// LoginLimits delay the next attempt after failed logins, per source
	// and per account.
	LoginLimits LoginLimits
}

// TLSPolicy says when a client must negotiate STARTTLS (RFC 6120 §5).
type TLSPolicy int

const (
	// TLSAuto requires TLS unless the connection's local address is a
	// loopback one (a development listener on 127.0.0.1 or ::1, or an
	// in-memory transport such as net.Pipe).
	TLSAuto TLSPolicy = iota
	// TLSRequired requires TLS on every connection.
	TLSRequired
	// TLSOptional offers STARTTLS without requiring it: SCRAM is offered
	// before TLS, which lets a man in the middle strip STARTTLS (the
	// password stays safe with SCRAM, the traffic does not).
	TLSOptional
)

// String returns "auto", "required" or "optional".
func (p TLSPolicy) String() string {
	switch p {
	case TLSRequired:
		return "required"
	case TLSOptional:
		return "optional"
	}
	return "auto"
}

// Set parses "auto", "required" or "optional" (flag.Value).
func (p *TLSPolicy) Set(s string) error {
	switch s {
	case "auto", "":
		*p = TLSAuto
	case "required":
		*p = TLSRequired
	case "optional":
		*p = TLSOptional
	default:
		return errors.New(`want "auto", "required" or "optional"`)
	}
	return nil
}

// Server is a client listener of a router: it accepts client streams
// (RFC 6120) and binds each authenticated client as a route of the router.
//
// Per stream: the stream header (the to domain must be one of the router's
// domains, version 1.0), STARTTLS (§5) with TLS 1.2 or later, required by
// Config.TLSPolicy (by default unless the connection came in on a loopback
// address), SASL (§6) against the router's accounts (router.Config.Users,
// kept as SCRAM salted passwords; passwords are never logged):
// SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS over TLS with tls-exporter (TLS
// 1.3, RFC 9266) or tls-unique (TLS 1.2, RFC 5929), announced with XEP-0440
// (see Config.ChannelBinding), SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 7677, RFC
// 5802) and, over TLS only, PLAIN (RFC 4616); stream restarts, and resource
// binding (§7): the server generates a resource when the client asks for
// none; a resource already bound is handled by router.Config.Conflict:
// RefuseNew (the default) answers the bind with a conflict stanza error,
// KickOld ends the old session with the conflict stream error (§7.7.2.2).
// The legacy session IQ (RFC 3921) is not advertised; subscription
// pre-approval (RFC 6121 §3.4) is.
//
// After binding, the router routes the client's stanzas (see
// router.ClientStream.Serve): from is stamped with the client's full JID
// (§8.1.2.1), any other from ends the stream with invalid-from.
//
// Until a client has bound a resource, router.Config.HandshakeTimeout
// bounds the whole negotiation (connection-timeout),
// router.Config.MaxUnauthPerIP bounds such connections per source address
// and router.Config.MaxUnauth in all, with the XEP-0114 listener's
// (policy-violation). Three failed logins (a wrong password or proof, an
// unknown account) or eight failed SASL exchanges of any kind end the
// stream with policy-violation (RFC 6120 §6.4.5).
type Server struct {
	r      *router.Router
	log    *slog.Logger
	local  map[string]bool
	tls    *tls.Config
	cert   *x509.Certificate // the generated certificate, or nil
	policy TLSPolicy
	cb     ChannelBinding
	lim    limits
}

// New prepares a client listener for r; it generates a certificate when
// cfg.TLS is nil. Serve it with Listen, Serve or ServeConn.
func New(r *router.Router, cfg Config) (*Server, error) {
	s := &Server{r: r, log: r.Logger(), local: map[string]bool{}, policy: cfg.TLSPolicy, cb: cfg.ChannelBinding}
	for _, d := range r.Domains() {
		s.local[d] = true
	}
	if cfg.ConnBurst <= 0 {
		cfg.ConnBurst = DefaultConnBurst
	}
	s.lim.init(&cfg)
	if cfg.TLS != nil {
		s.tls = cfg.TLS.Clone()
	} else {
		cert, leaf, err := selfSignedCert(r.Domains())
		if err != nil {
			return nil, err
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.cert = leaf
	}
	if s.tls.MinVersion < tls.VersionTLS12 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	return s, nil
}

// Listen is New followed by Server.Listen: it serves clients on the TCP
// address addr (e.g. "127.0.0.1:5222") in the background until the
// router's Close.
func Listen(r *router.Router, addr string, cfg Config) (*Server, net.Addr, error) {
	s, err := New(r, cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.Listen(addr)
	if err != nil {
		return nil, nil, err
	}
	return s, a, nil
}

// Listen listens on the TCP address addr and serves client streams in the
// background until the router's Close. It returns the address listened on.
func (s *Server) Listen(addr string) (net.Addr, error) { return s.r.Listen(addr, s.ServeConn) }

// Serve accepts client connections on ln until the router's Close, which
// closes ln; it then returns router.ErrClosed.
func (s *Server) Serve(ln net.Listener) error { return s.r.ServeListener(ln, s.ServeConn) }

// ServeConn serves one client stream on nc (a TCP connection, or one end
// of net.Pipe in tests) and returns when it ends. The router's Close ends
// it with system-shutdown.
func (s *Server) ServeConn(nc net.Conn) {
	sc := &switchConn{raw: nc, Conn: nc}
	cs, err := s.r.AcceptClient(sc)
	if err != nil {
		return
	}
	if !dial.IsLoopback(nc.RemoteAddr()) && !s.lim.conn.Allow(limit.Key(cs.RemoteHost()), time.Now()) {
		s.lim.refused.Add(1)
		cs.FailHeader(stream.Header{NS: stream.NSClient, ID: stream.NewID(), Version: "1.0"},
			stream.NewError(stream.PolicyViolation, "too many new connections from your address"))
		return
	}
	ss := &session{s: s, cs: cs, sc: sc, raw: nc, tlsRequired: s.requireTLS(nc)}
	if err := ss.negotiate(); err != nil {
		if !ss.headerFailed {
			cs.Fail(err)
		}
		return
	}
	cs.Serve()
}

// requireTLS reports whether the policy requires TLS on nc.
func (s *Server) requireTLS(nc net.Conn) bool {
	switch s.policy {
	case TLSRequired:
		return true
	case TLSOptional:
		return false
	}
	return !dial.IsLoopback(nc.LocalAddr())
}

// downgrade records a client refused because it saw no -PLUS mechanism
// although they were offered (RFC 5802 §6): someone removed them.
func (s *Server) downgrade(ss *session) {
	s.lim.downgrades.Add(1)
	s.log.Info("c2s: SCRAM without channel binding refused: the client binds but saw no -PLUS mechanism (a man in the middle removed them, or a client that cannot bind on this TLS version, such as slixmpp on TLS 1.3)",
		"remote", ss.cs.RemoteHost())
}

// bindingMismatch records a -PLUS login whose channel binding data does
// not match the TLS connection: the client's TLS connection is not ours.
func (s *Server) bindingMismatch(ss *session) {
	s.lim.mismatches.Add(1)
	s.log.Warn("c2s: SCRAM channel binding mismatch (a man in the middle between the client and the listener?)", "remote", ss.cs.RemoteHost())
}

// Certificate returns the self-signed certificate generated by New, for
// clients to trust (add it to a pool, or write it as PEM for slixmpp's
// ca_certs); nil when Config.TLS was given.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertPool returns a pool holding the generated certificate, or nil.
func (s *Server) CertPool() *x509.CertPool {
	if s.cert == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(s.cert)
	return p
}

// session is the state of one client stream's negotiation.
type session struct {
	s            *Server
	cs           *router.ClientStream
	sc           *switchConn
	raw          net.Conn // the socket under TLS
	tlsOn        bool
	tlsRequired  bool
	domain       jid.JID // the local domain the client addressed
	user         jid.JID // the authenticated bare JID
	lang         string  // xml:lang of the client's header
	headerFailed bool    // FailHeader ended the stream
	// the delays the last admitted login attempt set, if it fails
	srcDelay, acctDelay time.Duration
}

// maxSASLFailures is the number of failed logins (wrong password or
// proof, unknown account) after which the stream is closed (RFC 6120
// §6.4.5 lets the server set a limit); maxSASLAttempts bounds all failed
// exchanges (a client that tries each mechanism, as slixmpp does when
// channel binding fails, needs a few).
const (
	maxSASLFailures = 3
	maxSASLAttempts = 8
)

// negotiate runs the stream negotiation up to resource binding.
func (ss *session) negotiate() error {
	failures, attempts := 0, 0
	rd, w := ss.cs.Reader(), ss.cs.Writer()
	for {
		if err := ss.open(); err != nil {
			return err
		}
		if !ss.user.IsZero() {
			return ss.bind()
		}
		for restart := false; !restart; {
			el, err := rd.Next()
			if err != nil {
				return err
			}
			switch {
			case el.Is(stream.NSTLS, "starttls") && !ss.tlsOn:
				if err := ss.startTLS(); err != nil {
					return err
				}
				restart = true
			case el.Is(stream.NSSASL, "auth"):
				mech, _ := el.Attr("mechanism")
				text, err := el.Text()
				if err != nil {
					return stream.NewError(stream.NotWellFormed, "bad <auth/> content")
				}
				var user jid.JID
				if ss.tlsOn || !ss.tlsRequired {
					user, err = ss.authenticate(mech, text)
				} else {
					// §5.3.1: TLS first; no mechanism was offered.
					err = &saslFailure{cond: "encryption-required"}
				}
				var f *saslFailure
				if errors.As(err, &f) {
					w.WriteRaw(f.xml())
					if f.credential {
						failures++
					}
					if attempts++; failures >= maxSASLFailures || attempts >= maxSASLAttempts {
						return stream.NewError(stream.PolicyViolation, "too many failed authentication attempts")
					}
					continue // §6.4.5: the client may try again
				}
				if err != nil {
					return err
				}
				ss.user = user
				ss.cs.Restart()
				restart = true
			default:
				// RFC 6120 §6.4.2, §7.1: nothing else before authentication.
				return stream.NewError(stream.NotAuthorized, "authenticate first")
			}
		}
	}
}

// open reads the client's stream header and answers with ours and the
// features of the current state (RFC 6120 §4.3).
func (ss *session) open() error {
	rd, w := ss.cs.Reader(), ss.cs.Writer()
	id := stream.NewID()
	hdr, err := rd.ReadHeader()
	if err != nil {
		// Bad input or the negotiation deadline, on the first stream or after
		// a restart: our header, then the stream error.
		ss.cs.FailHeader(stream.Header{NS: stream.NSClient, ID: id, Version: "1.0"}, err)
		ss.headerFailed = true
		return err
	}
	d, derr := jid.Parse(hdr.To)
	if derr != nil || d.Local() != "" || d.Resource() != "" || !ss.s.local[d.Domain()] ||
		(!ss.domain.IsZero() && d != ss.domain) {
		w.WriteHeader(stream.Header{NS: stream.NSClient, ID: id, Version: "1.0"})
		return stream.NewError(stream.HostUnknown, "this router does not serve "+hdr.To)
	}
	ss.domain = d
	ss.lang = hdr.Lang
	out := stream.Header{NS: stream.NSClient, From: d.String(), ID: id, Version: "1.0", Lang: "en"}
	if hdr.Version == "" || hdr.Version[0] == '0' {
		w.WriteHeader(out)
		return stream.NewError(stream.UnsupportedVersion, "XMPP 1.0 streams only")
	}
	w.WriteHeader(out)
	w.WriteRaw(ss.features())
	return nil
}

// features returns <stream:features/> for the session's state.
func (ss *session) features() []byte {
	b := []byte("<stream:features>")
	switch {
	case !ss.user.IsZero():
		b = append(b, "<bind xmlns='"+stream.NSBind+"'/>"...)
		// RFC 6121 §3.4: subscription pre-approval is supported.
		b = append(b, "<sub xmlns='urn:xmpp:features:pre-approval'/>"...)
	default:
		if !ss.tlsOn {
			b = append(b, "<starttls xmlns='"+stream.NSTLS+"'>"...)
			if ss.tlsRequired {
				b = append(b, "<required/>"...)
			}
			b = append(b, "</starttls>"...)
		}
		if ss.tlsOn || !ss.tlsRequired {
			b = append(b, "<mechanisms xmlns='"+stream.NSSASL+"'>"...)
			for _, m := range ss.mechanisms() {
				b = append(b, "<mechanism>"+m+"</mechanism>"...)
			}
			b = append(b, "</mechanisms>"...)
			if cbs := ss.channelBindings(); len(cbs) > 0 {
				// XEP-0440: which binding types the -PLUS mechanisms use.
				b = append(b, "<sasl-channel-binding xmlns='"+nsSASLCB+"'>"...)
				for _, cb := range cbs {
					b = append(b, "<channel-binding type='"+cb+"'/>"...)
				}
				b = append(b, "</sasl-channel-binding>"...)
			}
		}
	}
	return append(b, "</stream:features>"...)
}

// startTLS answers <starttls/> with <proceed/> and runs the TLS handshake
// (RFC 6120 §5.4.2, §5.4.3); the stream then restarts.
func (ss *session) startTLS() error {
	w := ss.cs.Writer()
	w.WriteRaw([]byte("<proceed xmlns='" + stream.NSTLS + "'/>"))
	if err := w.Flush(); err != nil {
		return err
	}
	tc := tls.Server(ss.raw, ss.s.tls)
	if err := tc.Handshake(); err != nil {
		return err
	}
	ss.sc.set(tc)
	if ss.cs.Closing() {
		tc.SetReadDeadline(time.Now())
	}
	ss.tlsOn = true
	ss.cs.Restart()
	return nil
}

// bind waits for the client's resource binding request (RFC 6120 §7) and
// binds the full JID; failed requests get a stanza error and the client
// may try again.
func (ss *session) bind() error {
	for {
		el, err := ss.cs.Reader().Next()
		if err != nil {
			return err
		}
		if !el.IsStanza() {
			return stream.NewError(stream.UnsupportedStanzaType, "not a stanza")
		}
		st, _ := el.Stanza()
		if st == nil || st.Kind != stanza.IQ || st.Type != stanza.TypeSet {
			return stream.NewError(stream.NotAuthorized, "bind a resource first") // §7.1
		}
		if _, ok := st.Child(stream.NSBind, "bind"); !ok {
			return stream.NewError(stream.NotAuthorized, "bind a resource first")
		}
		var req struct {
			Resource string `xml:"resource"`
		}
		if err := st.UnmarshalChild(stream.NSBind, "bind", &req); err != nil {
			ss.reply(st, stanza.NewError(stanza.BadRequest, "malformed bind request"))
			continue
		}
		res := req.Resource
		if res == "" {
			res = newResource()
		}
		full, err := ss.user.WithResource(res)
		if err != nil {
			ss.reply(st, stanza.NewError(stanza.BadRequest, "resourcepart not allowed")) // §7.7.2.1
			continue
		}
		payload := xmlscan.AppendEscapedText([]byte("<bind xmlns='"+stream.NSBind+"'><jid>"), full.String())
		result := ss.encode(st, nil, stanza.MustElement(string(payload)+"</jid></bind>"))
		err = ss.cs.Bind(full, ss.lang, result)
		switch {
		case errors.Is(err, stream.ErrConflict):
			ss.reply(st, stanza.NewError(stanza.Conflict, "resource in use")) // §7.7.2.2
			continue
		case err != nil:
			return stream.NewError(stream.SystemShutdown, "")
		}
		return nil
	}
}

// encode returns the answer to an IQ of the negotiation, a result or an
// error, without addresses.
func (ss *session) encode(iq *stanza.Stanza, e *stanza.Error, payload ...stanza.Element) []byte {
	var out *stanza.Stanza
	if e != nil {
		out = iq.ErrorReply(e)
	} else {
		out = iq.Result(payload...)
	}
	out.From, out.To = jid.JID{}, jid.JID{}
	return out.AppendXML(nil)
}

// reply writes the answer to an IQ of the negotiation.
func (ss *session) reply(iq *stanza.Stanza, e *stanza.Error, payload ...stanza.Element) {
	ss.cs.Writer().WriteRaw(ss.encode(iq, e, payload...))
}

// newResource returns a server-generated resourcepart (RFC 6120 §7.6.2.1).
func newResource() string {
	var b [8]byte
	rand.Read(b[:])
	return "xk-" + hex.EncodeToString(b[:])
}
