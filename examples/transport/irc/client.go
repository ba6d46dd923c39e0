package irc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a client connection (RFC 2812 §3.1).
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// TLS, when not nil, makes the connection TLS from the first byte (as on
	// the IRC TLS port 6697, RFC 7194). Its ServerName defaults to the host
	// of Addr; certificates are verified unless the config says otherwise
	// (see PinnedTLS for a server whose certificate no CA signs).
	TLS *tls.Config
	// Nick is the nickname to register with (RFC 2812 §3.1.2).
	Nick string
	// User is the user name of USER (§3.1.3); default Nick.
	User string
	// RealName is the real name of USER; default Nick.
	RealName string
	// Password, when set, is sent with PASS before NICK (§3.1.1).
	Password string
	// SASL, when not nil, authenticates during registration (IRCv3 sasl
	// 3.1); a server that does not offer it, or refuses the credentials,
	// fails the Dial with an *Error (code "SASL", 904, 905, ...).
	SASL *SASL
	// Caps lists IRCv3 capabilities to request (CAP LS 302 / REQ / END);
	// the server may refuse some. Empty, with no SASL: no CAP negotiation.
	Caps []string
	// Handler is called, in order, for every message the server sends after
	// registration (PINGs are answered before it is called). It runs on the
	// connection's reading goroutine and must not block for long.
	Handler func(*Message)
	// Dialer dials the server; default a net.Dialer with a 10 s timeout.
	Dialer Dialer
	// PingInterval is how long the connection may be idle before the client
	// sends PING to check it; default 90 s. The connection is declared dead
	// when nothing arrives within another PingInterval.
	PingInterval time.Duration
	// RegisterTimeout bounds the registration (from connect to 001); default
	// 30 s. A server that never completes it fails the Dial with
	// ErrRegistrationTimeout.
	RegisterTimeout time.Duration
	// Throttle paces what Send writes after registration, so that a burst
	// (a pasted text) reaches the server without tripping its flood
	// protection. The zero value is DefaultThrottle.
	Throttle Throttle
	// MaxQueue bounds the bytes waiting in the send queue; Send returns
	// ErrQueueFull beyond it. Default 256 KiB.
	MaxQueue int
}

// SASL selects an IRCv3 SASL mechanism (https://ircv3.net/specs/extensions/sasl-3.1):
// "PLAIN" with Username and Password (RFC 4616), or "EXTERNAL" with the
// TLS client certificate of Config.TLS (RFC 4422 Appendix A).
type SASL struct {
	Mechanism string
	Username  string
	Password  string
}

// Throttle is a token bucket: Burst lines may go at once, then one line
// per Interval. A negative Interval turns pacing off.
type Throttle struct {
	Burst    int
	Interval time.Duration
}

// DefaultThrottle is the pacing of the zero Throttle: 5 lines at once, then
// one a second, which the flood limits of common IRC servers accept.
var DefaultThrottle = Throttle{Burst: 5, Interval: time.Second}

// Dialer opens the connection to the server; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Error is an error numeric reply from the server (RFC 2812 §5.2), such as
// 433 ERR_NICKNAMEINUSE during registration, an ERROR message (Code
// "ERROR"), or a failed SASL exchange (Code "SASL" when the server offers
// no SASL or not the mechanism; 904, 905, 906, 908 otherwise).
type Error struct {
	Code string
	Text string
}

func (e *Error) Error() string { return "irc: " + e.Code + " " + e.Text }

// Errors of the connection.
var (
	// ErrClosed is returned by Send after the connection is closed.
	ErrClosed = errors.New("irc: connection closed")
	// ErrQueueFull is returned by Send when the send queue holds MaxQueue
	// bytes: the server reads slower than the caller writes.
	ErrQueueFull = errors.New("irc: send queue full")
	// ErrRegistrationTimeout is returned by Dial when the server did not
	// complete the registration within RegisterTimeout.
	ErrRegistrationTimeout = errors.New("irc: registration not completed in time")
)

// Numeric replies used by the gateway (RFC 2812 §5, IRCv3 sasl-3.1).
const (
	RplWelcome         = "001"
	RplISupport        = "005"
	RplUserHost        = "302"
	RplAway            = "301"
	RplChannelModeIs   = "324"
	RplNoTopic         = "331"
	RplTopic           = "332"
	RplTopicWhoTime    = "333"
	RplInviting        = "341"
	RplNamReply        = "353"
	RplEndOfNames      = "366"
	RplBanList         = "367"
	RplEndOfBanList    = "368"
	RplList            = "322"
	RplListEnd         = "323"
	ErrNoSuchNick      = "401"
	ErrNoSuchChan      = "403"
	ErrCannotSend      = "404"
	ErrErroneusNick    = "432"
	ErrNicknameUsed    = "433"
	ErrUserNotInChan   = "441"
	ErrNotOnChannel    = "442"
	ErrUserOnChannel   = "443"
	ErrNeedMoreParams  = "461"
	ErrPassword        = "464"
	ErrChanFull        = "471"
	ErrUnknownMode     = "472"
	ErrInviteOnly      = "473"
	ErrBannedChan      = "474"
	ErrBadChanKey      = "475"
	ErrChanOPrivsNeed  = "482"
	RplLoggedIn        = "900"
	RplSASLSuccess     = "903"
	ErrSASLFail        = "904"
	ErrSASLTooLong     = "905"
	ErrSASLAborted     = "906"
	ErrSASLAlready     = "907"
	RplSASLMechs       = "908"
	ErrNickLocked      = "902"
	ErrUnavailResource = "437"
	ErrNickCollision   = "436"
)

// Conn is a registered client connection to an IRC server.
type Conn struct {
	cfg Config
	nc  net.Conn

	wmu sync.Mutex // serializes writes to nc

	mu       sync.Mutex
	nick     string
	self     string // our nick!user@host
	prefixes string // ISUPPORT PREFIX symbols, e.g. "~&@%+"
	modes    string // matching mode letters, e.g. "qaohv"
	chantype string
	casemap  string
	isupport map[string]string
	caps     map[string]string // enabled capabilities and their values
	batches  map[string]string // open labeled-response batch ref -> label
	err      error

	queue   [][]byte // lines waiting for the writer
	pongMsg []byte   // the PONG to write next, ahead of the queue and unpaced
	queued  int      // bytes in queue
	wake    chan struct{}
	drained chan struct{} // closed when the queue empties
	filling bool          // drained is open (lines are queued)

	done     chan struct{}
	lastRead time.Time
	label    int
}

// Dial connects to the server and registers (RFC 2812 §3.1): CAP
// negotiation (IRCv3 capability negotiation 302) with SASL when
// configured, PASS, NICK, USER, then it waits for 001 RPL_WELCOME. A
// refusal (433 nick in use, 432 erroneous nick, 464 bad password, a SASL
// failure, ERROR) is returned as an *Error; a TLS failure as the crypto/tls
// error (a *tls.CertificateVerificationError for an untrusted
// certificate). On success the Handler starts receiving messages.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.User == "" {
		cfg.User = cfg.Nick
	}
	if cfg.RealName == "" {
		cfg.RealName = cfg.Nick
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 90 * time.Second
	}
	if cfg.RegisterTimeout == 0 {
		cfg.RegisterTimeout = 30 * time.Second
	}
	if cfg.Throttle == (Throttle{}) {
		cfg.Throttle = DefaultThrottle
	}
	if cfg.Throttle.Burst < 1 {
		cfg.Throttle.Burst = 1
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 256 << 10
	}
	var d Dialer = &net.Dialer{Timeout: 10 * time.Second}
	if cfg.Dialer != nil {
		d = cfg.Dialer
	}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(cfg.Addr)
			tc.ServerName = host
		}
		tlsConn := tls.Client(nc, tc)
		nc.SetDeadline(time.Now().Add(cfg.RegisterTimeout))
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tlsConn
	}
	c := &Conn{
		cfg: cfg, nc: nc, nick: cfg.Nick, prefixes: "@+", modes: "ov", chantype: "#&+!",
		casemap: CaseRFC1459, isupport: map[string]string{}, caps: map[string]string{},
		batches: map[string]string{},
		done:    make(chan struct{}), wake: make(chan struct{}, 1), drained: make(chan struct{}),
	}
	close(c.drained)
	r := bufio.NewReaderSize(nc, 4096)
	if err := c.register(r); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, ErrRegistrationTimeout
		}
		return nil, err
	}
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	go c.writeLoop()
	go c.readLoop(r)
	return c, nil
}

// maxOffered bounds the capability names kept from CAP LS.
const maxOffered = 1024

func (c *Conn) register(r *bufio.Reader) error {
	c.nc.SetDeadline(time.Now().Add(c.cfg.RegisterTimeout))
	negotiate := len(c.cfg.Caps) > 0 || c.cfg.SASL != nil
	if negotiate {
		if err := c.write("CAP", "LS", "302"); err != nil {
			return err
		}
	}
	if c.cfg.Password != "" {
		if err := c.write("PASS", c.cfg.Password); err != nil {
			return err
		}
	}
	if err := c.write("NICK", c.cfg.Nick); err != nil {
		return err
	}
	if err := c.write("USER", c.cfg.User, "0", "*", c.cfg.RealName); err != nil {
		return err
	}
	var offered []string
	saslDone := c.cfg.SASL == nil
	end := func() error { return c.write("CAP", "END") }
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		m, err := Parse(line)
		if err != nil {
			continue
		}
		switch m.Command {
		case "PING":
			c.write("PONG", m.Params...)
		case "CAP":
			switch strings.ToUpper(m.Param(1)) {
			case "LS":
				more := m.Param(2) == "*" && len(m.Params) > 3
				if len(offered) < maxOffered { // a server listing caps without end
					offered = append(offered, strings.Fields(m.Trailing())...)
				}
				if more {
					continue // more LS lines follow (CAP 302)
				}
				want := c.wanted(offered)
				if c.cfg.SASL != nil && !c.offers(offered, "sasl", c.cfg.SASL.Mechanism) {
					return &Error{Code: "SASL", Text: "the server offers no SASL " + c.cfg.SASL.Mechanism}
				}
				if len(want) > 0 {
					c.write("CAP", "REQ", strings.Join(want, " "))
				} else if err := end(); err != nil {
					return err
				}
			case "ACK":
				for _, cp := range strings.Fields(m.Trailing()) {
					if strings.HasPrefix(cp, "-") {
						continue
					}
					c.mu.Lock()
					c.caps[cp] = capValue(offered, cp)
					c.mu.Unlock()
				}
				if !saslDone && c.hasCap("sasl") {
					if err := c.write("AUTHENTICATE", strings.ToUpper(c.cfg.SASL.Mechanism)); err != nil {
						return err
					}
					continue
				}
				if !saslDone {
					return &Error{Code: "SASL", Text: "the server did not enable SASL"}
				}
				if err := end(); err != nil {
					return err
				}
			case "NAK":
				if !saslDone && strings.Contains(" "+m.Trailing()+" ", " sasl ") {
					return &Error{Code: "SASL", Text: "the server refused SASL"}
				}
				// Ask again without what was refused, or end.
				refused := strings.Fields(m.Trailing())
				var rest []string
				for _, w := range c.wanted(offered) {
					if !contains(refused, w) {
						rest = append(rest, w)
					}
				}
				if len(rest) > 0 && len(rest) < len(c.wanted(offered)) {
					c.write("CAP", "REQ", strings.Join(rest, " "))
				} else if err := end(); err != nil {
					return err
				}
			}
		case "AUTHENTICATE":
			if m.Param(0) != "+" || saslDone {
				continue
			}
			if err := c.authenticate(); err != nil {
				return err
			}
		case RplSASLSuccess:
			saslDone = true
			if err := end(); err != nil {
				return err
			}
		case ErrSASLFail, ErrSASLTooLong, ErrSASLAborted, RplSASLMechs, ErrNickLocked:
			if !saslDone {
				c.write("CAP", "END")
				return &Error{Code: m.Command, Text: m.Trailing()}
			}
		case RplWelcome:
			c.mu.Lock()
			if m.Param(0) != "" { // the nick the server registered
				c.nick = m.Param(0)
			}
			if f := strings.Fields(m.Trailing()); len(f) > 0 && strings.Contains(f[len(f)-1], "!") {
				c.self = f[len(f)-1]
			}
			c.mu.Unlock()
			return nil
		case "ERROR":
			return &Error{Code: "ERROR", Text: m.Trailing()}
		case ErrNicknameUsed, ErrErroneusNick, ErrPassword, ErrNickCollision, ErrUnavailResource:
			return &Error{Code: m.Command, Text: m.Trailing()}
		}
	}
}

// wanted returns the configured capabilities (and sasl) that offered holds.
func (c *Conn) wanted(offered []string) []string {
	var want []string
	list := c.cfg.Caps
	if c.cfg.SASL != nil {
		list = append(append([]string(nil), list...), "sasl")
	}
	for _, w := range list {
		if c.offers(offered, w, "") && !contains(want, w) {
			want = append(want, w)
		}
	}
	return want
}

// offers reports whether the capability is offered (with the value
// holding mech, when mech is given: sasl=PLAIN,EXTERNAL).
func (c *Conn) offers(offered []string, name, mech string) bool {
	for _, o := range offered {
		k, v, hasV := strings.Cut(o, "=")
		if k != name {
			continue
		}
		if mech == "" || !hasV {
			return true
		}
		for _, m := range strings.Split(v, ",") {
			if strings.EqualFold(m, mech) {
				return true
			}
		}
		return false
	}
	return false
}

func capValue(offered []string, name string) string {
	for _, o := range offered {
		if k, v, _ := strings.Cut(o, "="); k == name {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// authenticate sends the SASL response in 400-byte base64 chunks (an exact
// multiple ends with "+").
func (c *Conn) authenticate() error {
	var payload []byte
	switch strings.ToUpper(c.cfg.SASL.Mechanism) {
	case "PLAIN":
		// authzid NUL authcid NUL password (RFC 4616 §2); authzid empty.
		payload = []byte("\x00" + c.cfg.SASL.Username + "\x00" + c.cfg.SASL.Password)
	case "EXTERNAL":
		payload = nil // the certificate says who we are
	default:
		return &Error{Code: "SASL", Text: "unsupported mechanism " + c.cfg.SASL.Mechanism}
	}
	enc := base64.StdEncoding.EncodeToString(payload)
	if enc == "" {
		return c.write("AUTHENTICATE", "+")
	}
	for len(enc) >= 400 {
		if err := c.write("AUTHENTICATE", enc[:400]); err != nil {
			return err
		}
		enc = enc[400:]
	}
	if enc == "" {
		return c.write("AUTHENTICATE", "+")
	}
	return c.write("AUTHENTICATE", enc)
}

func (c *Conn) hasCap(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.caps[name]
	return ok
}

// HasCap reports whether the server enabled the IRCv3 capability.
func (c *Conn) HasCap(name string) bool { return c.hasCap(name) }

// Caps returns the enabled capabilities.
func (c *Conn) Caps() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.caps))
	for k := range c.caps {
		out = append(out, k)
	}
	return out
}

// maxLineRead bounds one line read from the server: longer lines (servers
// may send 512 bytes plus up to 8191 of tags) are cut, the rest of the
// line skipped, so that memory stays bounded whatever the server sends.
const maxLineRead = 16 << 10

// readLine reads one line, cutting lines longer than maxLineRead (the rest
// is skipped).
func readLine(r *bufio.Reader) (string, error) {
	var long []byte
	for {
		b, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long) < maxLineRead {
				long = append(long, b[:min(len(b), maxLineRead-len(long))]...)
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if long != nil {
			if len(long) < maxLineRead {
				long = append(long, b[:min(len(b), maxLineRead-len(long))]...)
			}
			return string(long), nil
		}
		return string(b), nil
	}
}

func (c *Conn) readLoop(r *bufio.Reader) {
	defer close(c.done)
	go c.pinger()
	for {
		c.nc.SetReadDeadline(time.Now().Add(2 * c.cfg.PingInterval))
		line, err := readLine(r)
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		c.lastRead = time.Now()
		c.mu.Unlock()
		m, err := Parse(line)
		if err != nil {
			continue
		}
		c.track(m)
		switch m.Command {
		case "PING":
			c.pong(m.Params)
			continue
		case "PONG":
			continue
		case "ERROR":
			c.fail(&Error{Code: "ERROR", Text: m.Trailing()})
		}
		if c.cfg.Handler != nil {
			c.cfg.Handler(m)
		}
	}
}

// pinger sends PING after PingInterval of silence, so that a dead link is
// noticed through the read deadline.
func (c *Conn) pinger() {
	t := time.NewTicker(c.cfg.PingInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.mu.Lock()
			idle := time.Since(c.lastRead)
			c.mu.Unlock()
			if idle >= c.cfg.PingInterval {
				c.write("PING", "keepalive")
			}
		}
	}
}

// track keeps the connection's own nick and host, the server's ISUPPORT
// values, and the labels of labeled-response batches (a message inside a
// labeled batch gets the batch's label tag).
func (c *Conn) track(m *Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref, ok := m.Tags["batch"]; ok {
		if l, ok := c.batches[ref]; ok && m.Tags["label"] == "" {
			m.Tags["label"] = l
		}
	}
	switch m.Command {
	case "BATCH":
		ref := m.Param(0)
		switch {
		case strings.HasPrefix(ref, "+") && m.Tags["label"] != "":
			if len(c.batches) < 64 {
				c.batches[ref[1:]] = m.Tags["label"]
			}
		case strings.HasPrefix(ref, "-"):
			if l, ok := c.batches[ref[1:]]; ok {
				if m.Tags == nil {
					m.Tags = map[string]string{}
				}
				m.Tags["label"] = l
				delete(c.batches, ref[1:])
			}
		}
	case "NICK":
		if Fold(c.casemap, m.Nick()) == Fold(c.casemap, c.nick) && m.Param(0) != "" {
			old := c.nick
			c.nick = m.Param(0)
			if c.self != "" {
				c.self = c.nick + strings.TrimPrefix(c.self, old)
			}
		}
	case "JOIN":
		if Fold(c.casemap, m.Nick()) == Fold(c.casemap, c.nick) && strings.Contains(m.Prefix, "!") {
			c.self = m.Prefix // the host the server shows others (cloaks included)
		}
	case RplISupport:
		if len(m.Params) < 2 {
			return
		}
		for _, p := range m.Params[1 : len(m.Params)-1] {
			k, v, _ := strings.Cut(p, "=")
			if strings.HasPrefix(k, "-") || k == "" {
				continue
			}
			k = strings.ToUpper(k)
			if len(c.isupport) < 256 {
				c.isupport[k] = v
			}
			switch k {
			case "PREFIX":
				// (qaohv)~&@%+
				if strings.HasPrefix(v, "(") {
					if i := strings.IndexByte(v, ')'); i > 0 && len(v)-i-1 == i-1 {
						c.modes, c.prefixes = v[1:i], v[i+1:]
					}
				}
			case "CHANTYPES":
				if v != "" {
					c.chantype = v
				}
			case "CASEMAPPING":
				c.casemap = strings.ToLower(v)
			}
		}
	}
}

// ISupport returns the value of an RPL_ISUPPORT (005) token, such as
// "NETWORK" or "CHANMODES", and whether the server sent it.
func (c *Conn) ISupport(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.isupport[strings.ToUpper(key)]
	return v, ok
}

// Fold returns name folded with the server's CASEMAPPING, for comparing
// nicks and channel names as the server does.
func (c *Conn) Fold(name string) string {
	c.mu.Lock()
	cm := c.casemap
	c.mu.Unlock()
	return Fold(cm, name)
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

// encode builds one line, refusing what does not fit in MaxLine (tags have
// their own budget in IRCv3 message-tags and are not counted).
func encode(tags map[string]string, command string, params []string) ([]byte, error) {
	m := Message{Command: command, Params: params}
	b, err := m.Append(make([]byte, 0, 128))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxLine {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadMessage, len(b), MaxLine)
	}
	if len(tags) > 0 {
		t := Message{Tags: tags, Command: command, Params: params}
		return t.Append(make([]byte, 0, len(b)+64))
	}
	return b, nil
}

// write writes one line now, ahead of the queue (registration, PONG,
// QUIT).
func (c *Conn) write(command string, params ...string) error {
	b, err := encode(nil, command, params)
	if err != nil {
		return err
	}
	return c.writeRaw(b)
}

func (c *Conn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// Send queues one message with the command and parameters; the last
// parameter is written as a trailing one when it needs it. Lines go out in
// the order sent, paced by the Throttle. A message longer than MaxLine is
// refused with ErrBadMessage (use Split first); a full queue gives
// ErrQueueFull; a closed connection ErrClosed.
func (c *Conn) Send(command string, params ...string) error {
	return c.SendTags(nil, command, params...)
}

// SendTags is Send with IRCv3 message tags (client-only tags start with
// "+"); the caller checks that the server enabled message-tags.
func (c *Conn) SendTags(tags map[string]string, command string, params ...string) error {
	b, err := encode(tags, command, params)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return ErrClosed
	}
	if c.queued+len(b) > c.cfg.MaxQueue {
		return ErrQueueFull
	}
	if !c.filling {
		c.drained, c.filling = make(chan struct{}), true
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// NextLabel returns a fresh label for an IRCv3 labeled-response request.
func (c *Conn) NextLabel() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.label++
	return "x" + strconv.Itoa(c.label)
}

// Queued returns the number of lines waiting to be written.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// pong has the writer answer a PING (RFC 2812 §3.7.3) ahead of the queue.
// The reading goroutine never writes itself, so a server that floods PINGs
// and does not read the answers cannot stall reading; only the latest PONG
// waits (answering the last PING is what keeps the link alive).
func (c *Conn) pong(params []string) {
	b, err := encode(nil, "PONG", params)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.pongMsg = b
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes the queue, paced by the token bucket, and PONGs
// (unpaced) before it.
func (c *Conn) writeLoop() {
	th := c.cfg.Throttle
	tokens := float64(th.Burst)
	last := time.Now()
	for {
		c.mu.Lock()
		if pong := c.pongMsg; pong != nil {
			c.pongMsg = nil
			c.mu.Unlock()
			if c.writeRaw(pong) != nil {
				return
			}
			continue
		}
		var b []byte
		if len(c.queue) > 0 {
			b = c.queue[0]
		} else if c.filling {
			close(c.drained)
			c.filling = false
		}
		c.mu.Unlock()
		if b == nil {
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		if th.Interval > 0 {
			now := time.Now()
			tokens += float64(now.Sub(last)) / float64(th.Interval)
			last = now
			if tokens > float64(th.Burst) {
				tokens = float64(th.Burst)
			}
			if tokens < 1 {
				wait := time.Duration((1 - tokens) * float64(th.Interval))
				select {
				case <-time.After(wait):
				case <-c.done:
					return
				}
				continue
			}
			tokens--
		}
		if c.writeRaw(b) != nil {
			return
		}
		c.mu.Lock()
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queued -= len(b)
		if len(c.queue) == 0 {
			c.queue = nil
		}
		c.mu.Unlock()
	}
}

// Nick returns the connection's current nick.
func (c *Conn) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// IsChannel reports whether name is a channel name for this server
// (ISUPPORT CHANTYPES, default "#&+!").
func (c *Conn) IsChannel(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return name != "" && strings.IndexByte(c.chantype, name[0]) >= 0
}

// SplitPrefix separates the membership prefixes of a NAMES entry (RFC 2812
// §3.2.5, ISUPPORT PREFIX) from the nick: "@+alice" gives "@+" and "alice".
func (c *Conn) SplitPrefix(entry string) (prefixes, nick string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(entry) && strings.IndexByte(c.prefixes, entry[i]) >= 0 {
		i++
	}
	nick = entry[i:]
	if j := strings.IndexByte(nick, '!'); j >= 0 {
		nick = nick[:j] // userhost-in-names
	}
	return entry[:i], nick
}

// ModePrefix returns the NAMES prefix symbol of a channel member mode letter
// ('o' gives '@'), or 0.
func (c *Conn) ModePrefix(mode byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := strings.IndexByte(c.modes, mode); i >= 0 && i < len(c.prefixes) {
		return c.prefixes[i]
	}
	return 0
}

// PrefixMode returns the member mode letter of a NAMES prefix symbol ('@'
// gives 'o'), or 0.
func (c *Conn) PrefixMode(sym byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := strings.IndexByte(c.prefixes, sym); i >= 0 && i < len(c.modes) {
		return c.modes[i]
	}
	return 0
}

// MaxText returns how many bytes of text fit in one PRIVMSG or NOTICE to
// target so that the line the server relays to others, which carries our
// nick!user@host prefix, stays within 510 bytes plus CRLF (RFC 2812 §2.3).
func (c *Conn) MaxText(command, target string) int {
	c.mu.Lock()
	self := c.self
	if self == "" {
		// nick!~user@ and a host of up to 63 bytes.
		self = c.nick + "!~" + c.cfg.User + "@" + strings.Repeat("x", 63)
	}
	c.mu.Unlock()
	n := MaxLine - 2 - len(":"+self+" "+command+" "+target+" :")
	if n < 16 {
		n = 16
	}
	return n
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it runs, or after Quit).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(c.err, ErrClosed) {
		return nil
	}
	return c.err
}

// Quit waits up to drain for the send queue to empty (so that what was
// sent is not lost), sends QUIT with the reason (RFC 2812 §3.1.7), waits up
// to a second for the server to close the link, then closes it.
func (c *Conn) Quit(reason string) error { return c.QuitAfter(reason, 3*time.Second) }

// QuitAfter is Quit with its own bound on the wait for the queue.
func (c *Conn) QuitAfter(reason string, drain time.Duration) error {
	c.mu.Lock()
	drained := c.drained
	c.mu.Unlock()
	select {
	case <-drained:
	case <-c.done:
	case <-time.After(drain):
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	c.write("QUIT", reason)
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	c.nc.Close()
	<-c.done
	return nil
}
