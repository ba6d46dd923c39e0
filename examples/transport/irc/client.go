package irc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Config configures a client connection (RFC 2812 §3.1).
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Nick is the nickname to register with (RFC 2812 §3.1.2).
	Nick string
	// User is the user name of USER (§3.1.3); default Nick.
	User string
	// RealName is the real name of USER; default Nick.
	RealName string
	// Password, when set, is sent with PASS before NICK (§3.1.1).
	Password string
	// Caps lists IRCv3 capabilities to request (CAP LS/REQ/END); the server
	// may refuse them. Empty: no CAP negotiation.
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
}

// Dialer opens the connection to the server; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Error is an error numeric reply from the server (RFC 2812 §5.2), such as
// 433 ERR_NICKNAMEINUSE during registration, or an ERROR message (Code "ERROR").
type Error struct {
	Code string
	Text string
}

func (e *Error) Error() string { return "irc: " + e.Code + " " + e.Text }

// ErrClosed is returned by Send after the connection is closed.
var ErrClosed = errors.New("irc: connection closed")

// Numeric replies used by the gateway (RFC 2812 §5).
const (
	RplWelcome      = "001"
	RplISupport     = "005"
	RplTopic        = "332"
	RplTopicWhoTime = "333"
	RplNamReply     = "353"
	RplEndOfNames   = "366"
	ErrNoSuchNick   = "401"
	ErrNoSuchChan   = "403"
	ErrCannotSend   = "404"
	ErrErroneusNick = "432"
	ErrNicknameUsed = "433"
	ErrBannedChan   = "474"
	ErrInviteOnly   = "473"
	ErrBadChanKey   = "475"
	ErrChanFull     = "471"
	ErrPassword     = "464"
)

// Conn is a registered client connection to an IRC server.
type Conn struct {
	cfg Config
	nc  net.Conn

	wmu sync.Mutex // serializes writes

	mu       sync.Mutex
	nick     string
	self     string // our nick!user@host, from 001
	prefixes string // ISUPPORT PREFIX symbols, e.g. "~&@%+"
	modes    string // matching mode letters, e.g. "qaohv"
	chantype string
	err      error

	done     chan struct{}
	lastRead time.Time
}

// Dial connects to the server and registers (RFC 2812 §3.1): optional CAP
// negotiation, PASS, NICK, USER, then it waits for 001 RPL_WELCOME. A refusal
// (433 nick in use, 432 erroneous nick, 464 bad password, ERROR) is returned
// as an *Error. On success the Handler starts receiving messages.
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
	var d Dialer = &net.Dialer{Timeout: 10 * time.Second}
	if cfg.Dialer != nil {
		d = cfg.Dialer
	}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, nc: nc, nick: cfg.Nick, prefixes: "@+", modes: "ov", chantype: "#&+!", done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReaderSize(nc, 4096)
	if err := c.register(r); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	go c.readLoop(r)
	return c, nil
}

func (c *Conn) register(r *bufio.Reader) error {
	if len(c.cfg.Caps) > 0 {
		if err := c.Send("CAP", "LS", "302"); err != nil {
			return err
		}
	}
	if c.cfg.Password != "" {
		if err := c.Send("PASS", c.cfg.Password); err != nil {
			return err
		}
	}
	if err := c.Send("NICK", c.cfg.Nick); err != nil {
		return err
	}
	if err := c.Send("USER", c.cfg.User, "0", "*", c.cfg.RealName); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
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
			c.Send("PONG", m.Params...)
		case "CAP":
			switch m.Param(1) {
			case "LS":
				if m.Param(2) == "*" {
					continue // more LS lines follow (CAP 302)
				}
				offered := strings.Fields(m.Trailing())
				var want []string
				for _, w := range c.cfg.Caps {
					for _, o := range offered {
						if o == w || strings.HasPrefix(o, w+"=") {
							want = append(want, w)
						}
					}
				}
				if len(want) > 0 {
					c.Send("CAP", "REQ", strings.Join(want, " "))
				} else {
					c.Send("CAP", "END")
				}
			case "ACK", "NAK":
				c.Send("CAP", "END")
			}
		case RplWelcome:
			c.mu.Lock()
			c.nick = m.Param(0)
			if f := strings.Fields(m.Trailing()); len(f) > 0 && strings.Contains(f[len(f)-1], "!") {
				c.self = f[len(f)-1]
			}
			c.mu.Unlock()
			return nil
		case "ERROR":
			return &Error{Code: "ERROR", Text: m.Trailing()}
		case ErrNicknameUsed, ErrErroneusNick, ErrPassword, "436", "437":
			return &Error{Code: m.Command, Text: m.Trailing()}
		}
	}
}

// readLine reads one line, refusing (and skipping) lines longer than 8 KiB.
func readLine(r *bufio.Reader) (string, error) {
	var long []byte
	for {
		b, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long) < 8192 {
				long = append(long, b...)
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if long != nil {
			return string(append(long, b...)), nil
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
			c.Send("PONG", m.Params...)
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
				c.Send("PING", "keepalive")
			}
		}
	}
}

// track keeps the connection's own nick and the server's ISUPPORT values.
func (c *Conn) track(m *Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Command {
	case "NICK":
		if strings.EqualFold(m.Nick(), c.nick) {
			old := c.nick
			c.nick = m.Param(0)
			if c.self != "" {
				c.self = c.nick + strings.TrimPrefix(c.self, old)
			}
		}
	case RplISupport:
		for _, p := range m.Params[1:] {
			k, v, _ := strings.Cut(p, "=")
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
			}
		}
	}
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

// Send writes one message with the command and parameters; the last
// parameter is written as a trailing one when it needs it. A message longer
// than MaxLine is refused with ErrBadMessage (use Split first).
func (c *Conn) Send(command string, params ...string) error {
	m := Message{Command: command, Params: params}
	b, err := m.Append(make([]byte, 0, 128))
	if err != nil {
		return err
	}
	if len(b) > MaxLine {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadMessage, len(b), MaxLine)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.fail(err)
		return err
	}
	return nil
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
	return entry[:i], entry[i:]
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

// Quit sends QUIT with the reason (RFC 2812 §3.1.7), waits up to a second for
// the server to close the link, then closes it.
func (c *Conn) Quit(reason string) error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	c.Send("QUIT", reason)
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	c.nc.Close()
	<-c.done
	return nil
}
