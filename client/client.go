package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/dial"
	"xmppkit.dev/jid"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// SASL mechanism names (RFC 6120 §6.3.3; RFC 7677, RFC 5802, RFC 4616).
// The -PLUS ones bind the login to the TLS connection (RFC 5802 §6):
// tls-exporter on TLS 1.3 (RFC 9266), tls-unique on TLS 1.2 (RFC 5929).
const (
	ScramSHA256Plus = "SCRAM-SHA-256-PLUS"
	ScramSHA1Plus   = "SCRAM-SHA-1-PLUS"
	ScramSHA256     = "SCRAM-SHA-256"
	ScramSHA1       = "SCRAM-SHA-1"
	Plain           = "PLAIN"
)

// DefaultMechanisms is the order of preference used when Config.Mechanisms
// is empty: the strongest first (RFC 6120 §6.3.3 leaves the choice to the
// client).
var DefaultMechanisms = []string{ScramSHA256Plus, ScramSHA1Plus, ScramSHA256, ScramSHA1, Plain}

// Config says who to log in as and how (RFC 6120 §5-§7).
type Config struct {
	// JID is the account: a bare JID, or a full JID to ask the server for
	// that resource (RFC 6120 §7.6); the server may assign another.
	JID jid.JID
	// Password is the account's password, used by SASL only.
	Password string
	// TLS, when set, makes STARTTLS (RFC 6120 §5) mandatory: negotiation
	// fails with ErrTLSUnavailable if the server does not offer it. An
	// empty ServerName is set to the JID's domain, and MinVersion is at
	// least TLS 1.2. When nil, STARTTLS is not used, and a server that
	// requires it is refused with ErrTLSUnavailable.
	TLS *tls.Config
	// AllowPlainWithoutTLS permits SASL PLAIN on a stream without TLS to a
	// loopback address (or an in-memory transport), for tests: PLAIN sends
	// the password in clear. It has no effect on other addresses.
	AllowPlainWithoutTLS bool
	// Mechanisms lists the SASL mechanisms the client may use, most
	// preferred first; nil means DefaultMechanisms. A -PLUS mechanism is
	// used over TLS when the server offers it with a binding type the
	// client can compute: tls-exporter on TLS 1.3 when the server lists it
	// (XEP-0440; without the list a server's -PLUS on TLS 1.3 may mean
	// tls-unique, which TLS 1.3 does not define), tls-unique on TLS 1.2.
	// Over TLS with no -PLUS offered, SCRAM says that the client binds but
	// the server does not (gs2 flag "y", RFC 5802 §6), so that a server
	// that does refuses the login: someone removed the offer.
	Mechanisms []string
	// RequireChannelBinding fails the login with ErrNoMechanism unless a
	// -PLUS mechanism can be used: the login then fails rather than go
	// through a man in the middle who holds a certificate the client
	// trusts.
	RequireChannelBinding bool
	// Handler, when set, receives every stanza that is not the answer to a
	// SendIQ, in order, on one goroutine, with the client's session as the
	// Sender; what it returns is answered by the rule every xmppkit
	// transport applies (session.ReplyError: a *stanza.Error is the reply,
	// another error or a panic is internal-server-error for an IQ get or
	// set). Recv is then not used. When nil, stanzas wait for Recv.
	//
	// XEP-0199 pings (an iq get of <ping xmlns='urn:xmpp:ping'/>, which
	// servers send to find dead sessions and which the router's c2s
	// IdleTimeout relies on) are answered by the client itself when there
	// is no Handler, and when the Handler does not route them (it returns
	// stanza.ErrServiceUnavailable, as a mux.ServeMux without a ping route
	// does); they never reach Recv.
	Handler mux.Handler
	// Limits bound what the server can make the client buffer.
	Limits stream.Limits
	// RecvQueue is the number of received stanzas buffered for Recv or the
	// Handler before the reader waits; zero means 256.
	RecvQueue int
	// Metrics, when set, receives the client session's metrics (package
	// metrics' session catalogue, labelled with the account's domain).
	Metrics metrics.Registry
}

// Dial connects to addr (host:port) over TCP and logs in as cfg says. With
// addr "", it finds the server of the JID's domain through DNS SRV records
// (RFC 6120 §3.2, package dial). ctx bounds the connection and the whole
// negotiation, not the life of the Client.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var d dial.Dialer
	var conn net.Conn
	var err error
	if addr == "" {
		conn, _, err = d.DialClient(ctx, cfg.JID.Domain())
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return New(ctx, conn, cfg)
}

func (cfg *Config) check() error {
	if cfg.JID.IsZero() || cfg.JID.Local() == "" {
		return fmt.Errorf("client: Config.JID %q has no localpart", cfg.JID)
	}
	return nil
}

// Client is a logged-in client stream (RFC 6120): it runs on a
// session.Session (a client session: the same workers, error replies, iq
// matching, error values and send path as every xmppkit transport) and
// implements mux.Sender. Its methods are safe for concurrent use.
type Client struct {
	cfg     Config
	conn    net.Conn
	r       *stream.Reader
	w       *stream.Writer // negotiation only
	jid     jid.JID
	mech    string
	tlsConn *tls.Conn

	sess *session.Session
	out  *session.Writer // the stream after negotiation

	mu  sync.Mutex
	err error // why the stream ended; nil while it runs and after a clean close

	quit     chan struct{} // closed by Close: stop delivering
	quitOnce sync.Once
	done     chan struct{}   // closed when the read loop has ended
	ctx      context.Context // the read loop's; cancelled by Close
	cancel   context.CancelFunc
}

// New logs in over conn, an established connection to the server (TCP,
// direct TLS, or net.Pipe in tests): stream header, STARTTLS, SASL, stream
// restart and resource binding (RFC 6120 §4-§7). ctx bounds the
// negotiation. On error conn is closed.
func New(ctx context.Context, conn net.Conn, cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{cfg: cfg, conn: conn}
	if err := c.negotiate(ctx); err != nil {
		c.conn.Close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		c.conn.Close()
		return nil, err
	}
	n := cfg.RecvQueue
	if n <= 0 {
		n = session.DefaultRecvQueue
	}
	c.sess = session.New(session.Config{
		Addr:    c.jid,
		Client:  true,
		Handler: answerPings(cfg.Handler),
		Logger:  slog.New(slog.DiscardHandler),
		// One worker: the Handler sees the stanzas in the order received.
		Workers:        1,
		WorkerQueue:    n,
		RecvQueue:      n,
		HandlerTimeout: -1,
		Metrics:        cfg.Metrics,
	}, (*transport)(c))
	c.out = session.NewWriter(c.sess, session.WriterConfig{WriteTimeout: writeTimeout})
	c.out.Attach(c.conn, 1)
	c.sess.LinkUp(1)
	c.quit = make(chan struct{})
	c.done = make(chan struct{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.readLoop()
	return c, nil
}

// negotiate runs the whole login with deadlines taken from ctx.
func (c *Client) negotiate(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err := c.login(ctx)
	if !stop() && err == nil {
		return ctx.Err()
	}
	if err == nil {
		c.conn.SetDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		// The connection deadline taken from ctx may fire just before ctx.
		err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func (c *Client) login(ctx context.Context) error {
	c.r = stream.NewReader(c.conn, stream.ReaderOptions{Limits: c.cfg.Limits, NS: stream.NSClient})
	c.w = stream.NewWriter(c.conn, c.r)
	f, err := c.open()
	if err != nil {
		return err
	}
	if c.cfg.TLS != nil {
		if !f.startTLS {
			return fmt.Errorf("%w: server offers no STARTTLS", ErrTLSUnavailable)
		}
		if err := c.startTLS(ctx); err != nil {
			return err
		}
		if f, err = c.open(); err != nil {
			return err
		}
	} else if f.startTLSRequired {
		return fmt.Errorf("%w: server requires STARTTLS and Config.TLS is nil", ErrTLSUnavailable)
	}
	if err := c.authenticate(f); err != nil {
		return err
	}
	c.r.Reset(c.conn)
	if f, err = c.open(); err != nil {
		return err
	}
	if !f.bind {
		return fmt.Errorf("%w: no resource binding feature after SASL", ErrBadServer)
	}
	if err := c.bind(); err != nil {
		return err
	}
	if f.session && !f.sessionOptional {
		return c.legacySession()
	}
	return nil
}

// open sends the stream header and reads the server's header and features
// (RFC 6120 §4.2, §4.3.2).
func (c *Client) open() (features, error) {
	h := stream.Header{NS: stream.NSClient, To: c.cfg.JID.Domain(), Version: "1.0", Lang: "en"}
	if c.tlsConn != nil {
		h.From = c.cfg.JID.Bare().String() // RFC 6120 §4.7.1: only once the stream is protected
	}
	if err := c.w.WriteHeader(h); err != nil {
		return features{}, err
	}
	sh, err := c.r.ReadHeader()
	if err != nil {
		return features{}, c.fail(err)
	}
	if sh.Version == "" {
		return features{}, fmt.Errorf("%w: server stream header has no version 1.0 (RFC 6120 §4.7.5)", ErrBadServer)
	}
	el, err := c.r.Next()
	if err != nil {
		return features{}, c.fail(err)
	}
	if !el.Is(stream.NSStream, "features") {
		return features{}, c.unexpected(el, "<stream:features/>")
	}
	return parseFeatures(el.Raw())
}

// fail sends a stream error the Reader detected (not one the server sent)
// and returns err.
func (c *Client) fail(err error) error {
	var se *stream.Error
	if errors.As(err, &se) && !se.Remote {
		c.w.WriteError(se)
	}
	return err
}

func (c *Client) unexpected(el *stream.Element, want string) error {
	space, local := el.Name()
	return fmt.Errorf("%w: got <%s xmlns='%s'/>, want %s", ErrBadServer, local, space, want)
}

// startTLS negotiates STARTTLS (RFC 6120 §5.4.2) and restarts the stream
// on the TLS connection.
func (c *Client) startTLS(ctx context.Context) error {
	if err := c.w.WriteRaw([]byte("<starttls xmlns='" + stream.NSTLS + "'/>")); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	el, err := c.r.Next()
	if err != nil {
		return c.fail(err)
	}
	switch {
	case el.Is(stream.NSTLS, "proceed"):
	case el.Is(stream.NSTLS, "failure"):
		return fmt.Errorf("%w: server answered STARTTLS with <failure/>", ErrTLSUnavailable)
	default:
		return c.unexpected(el, "<proceed/>")
	}
	cfg := c.cfg.TLS.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = c.cfg.JID.Domain()
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("client: TLS handshake: %w", err)
	}
	c.conn, c.tlsConn = tc, tc
	c.r.Reset(tc)
	c.w = stream.NewWriter(tc, c.r)
	return nil
}

// bind asks for the resource of Config.JID, or for one chosen by the server
// (RFC 6120 §7.5, §7.6).
func (c *Client) bind() error {
	b := stanza.NewBuilder(stream.NSBind, "bind")
	if res := c.cfg.JID.Resource(); res != "" {
		b.TextElement("resource", res)
	}
	res, err := c.negotiationIQ(b.Element())
	if err != nil {
		return fmt.Errorf("client: bind: %w", err)
	}
	var v struct {
		JID string `xml:"jid"`
	}
	if err := res.UnmarshalChild(stream.NSBind, "bind", &v); err != nil {
		return fmt.Errorf("%w: bind result: %v", ErrBadServer, err)
	}
	j, err := jid.Parse(v.JID)
	if err != nil || j.Resource() == "" || j.Bare() != c.cfg.JID.Bare() {
		return fmt.Errorf("%w: bind result JID %q is not a full JID of %s", ErrBadServer, v.JID, c.cfg.JID.Bare())
	}
	c.jid = j
	return nil
}

// legacySession establishes the session of RFC 3921 §3, which some servers
// still advertise as required.
func (c *Client) legacySession() error {
	if _, err := c.negotiationIQ(stanza.Element{Space: "urn:ietf:params:xml:ns:xmpp-session", Local: "session"}); err != nil {
		return fmt.Errorf("client: session: %w", err)
	}
	return nil
}

// negotiationIQ sends an IQ set to the server before the read loop runs
// and waits for its answer: the result, or the *stanza.Error.
func (c *Client) negotiationIQ(el stanza.Element) (*stanza.Stanza, error) {
	iq := stanza.NewIQ(stanza.TypeSet, jid.JID{}, el)
	if err := c.w.WriteStanza(iq); err != nil {
		return nil, err
	}
	for {
		st, err := c.r.ReadStanza()
		if st == nil {
			return nil, c.fail(err)
		}
		if st.Kind != stanza.IQ || st.ID != iq.ID {
			continue // RFC 6120 §7.3: nothing else is expected; skip it
		}
		switch st.Type {
		case stanza.TypeResult:
			return st, nil
		case stanza.TypeError:
			return nil, st.Err()
		}
	}
}

// Features are the stream features (RFC 6120 §4.3.2) the client acts on.
type features struct {
	startTLS         bool
	startTLSRequired bool
	mechanisms       []string
	bind             bool
	session          bool
	sessionOptional  bool
	// channelBindings are the types of XEP-0440's <sasl-channel-binding/>;
	// nil when the server did not list them.
	channelBindings []string
}

// JID returns the full JID the server bound to the session (RFC 6120 §7).
func (c *Client) JID() jid.JID { return c.jid }

// Mechanism returns the SASL mechanism that authenticated the client.
func (c *Client) Mechanism() string { return c.mech }

// ChannelBinding returns the channel binding type of the login
// ("tls-exporter", "tls-unique"), or "" when the mechanism did not bind.
func (c *Client) ChannelBinding() string {
	if !isPlus(c.mech) {
		return ""
	}
	return c.binding()
}

// TLSState returns the TLS connection state and true when STARTTLS was
// negotiated.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	if c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.tlsConn.ConnectionState(), true
}

// chooseMechanism picks the first of want that the server offers and that
// is allowed on this stream: PLAIN needs TLS or allowPlain; a -PLUS
// mechanism needs binding, the channel binding type usable ("" when none).
func chooseMechanism(want, offered []string, tlsOn, allowPlain bool, binding string) (string, error) {
	if len(want) == 0 {
		want = DefaultMechanisms
	}
	for _, m := range want {
		if !slices.Contains(offered, m) {
			continue
		}
		if m == Plain && !tlsOn && !allowPlain {
			continue
		}
		if isPlus(m) && binding == "" {
			continue
		}
		if _, ok := mechanisms[m]; ok {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: server offers %v, client allows %v (TLS %v, channel binding %q)", ErrNoMechanism, offered, want, tlsOn, binding)
}

func isPlus(m string) bool { return strings.HasSuffix(m, "-PLUS") }
