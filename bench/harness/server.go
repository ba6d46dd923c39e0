package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Addresses and secret used by every scenario.
const (
	EchoDomain = "echo.bench.local" // the echo component's domain
	Secret     = "bench-secret"     // any secret is accepted by the fake server
	users      = 64                 // distinct senders in a flood
)

// Server is a fake XMPP server for the echo scenario: it accepts one
// component connection at a time over loopback TCP, answers the XEP-0114
// handshake whatever the secret, floods message stanzas and checks what
// comes back. It works on raw bytes so that its own cost stays small.
type Server struct {
	ln net.Listener
}

// Listen starts a Server on a free loopback port.
func Listen() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln}, nil
}

// Addr is the host:port components dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening.
func (s *Server) Close() error { return s.ln.Close() }

// Accept waits for a component and completes its handshake.
func (s *Server) Accept(ctx context.Context) (*Peer, error) {
	stop := context.AfterFunc(ctx, func() { s.ln.(*net.TCPListener).SetDeadline(time.Now()) })
	conn, err := s.ln.Accept()
	stop()
	if err != nil {
		return nil, err
	}
	rd := newElemReader(conn)
	domain, err := acceptHandshake(conn, rd, "bench-stream-1")
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Peer{conn: conn, rd: rd, Domain: domain}, nil
}

// Peer is the server end of one authenticated component connection.
type Peer struct {
	conn   net.Conn
	rd     *elemReader
	Domain string // what the component's header asked for
	// Senders is the number of distinct sender JIDs of a flood; 0 means
	// 64.
	Senders int
}

func (p *Peer) senders() int {
	if p.Senders > 0 {
		return p.Senders
	}
	return users
}

// Close ends the stream and the connection.
func (p *Peer) Close() error {
	p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(p.conn, "</stream:stream>")
	return p.conn.Close()
}

// msgBody is the body of message i: fixed width so that every stanza has
// the same size (about 150 bytes with the header).
func appendBody(dst []byte, i int) []byte {
	dst = append(dst, "bench payload #"...)
	dst = appendPadded(dst, i)
	return append(dst, " lorem ipsum dolor sit"...)
}

// appendPadded appends i in decimal, zero-padded to 8 digits.
func appendPadded(dst []byte, i int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(i), 10)
	for n := len(s); n < 8; n++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendUser appends the full JID of sender i%users.
func appendUser(dst []byte, i int, domain string) []byte { return appendUserOf(dst, i, users, domain) }

// appendUserOf appends the full JID of sender i%senders.
func appendUserOf(dst []byte, i, senders int, domain string) []byte {
	u := i % senders
	dst = append(dst, "user"...)
	dst = append(dst, byte('0'+u/10), byte('0'+u%10))
	dst = append(dst, '@')
	dst = append(dst, domain...)
	return append(dst, "/desk"...)
}

// AppendMessage appends message i of a flood from a user at fromDomain to
// to: a chat message with an id and a body, about 150 bytes.
func AppendMessage(dst []byte, i int, fromDomain, to string) []byte {
	return appendMessageOf(dst, i, users, fromDomain, to)
}

// appendMessageOf is AppendMessage from one of senders senders.
func appendMessageOf(dst []byte, i, senders int, fromDomain, to string) []byte {
	dst = append(dst, "<message from='"...)
	dst = appendUserOf(dst, i, senders, fromDomain)
	dst = append(dst, "' to='"...)
	dst = append(dst, to...)
	dst = append(dst, "' type='chat' id='m"...)
	dst = appendPadded(dst, i)
	dst = append(dst, "'><body>"...)
	dst = appendBody(dst, i)
	return append(dst, "</body></message>"...)
}

// userDomain is the domain of the flood's senders in the echo scenario.
const userDomain = "bench.example"

// Flood writes n messages to the component and reads until all n echoes
// came back, each checked: a chat message from the component's domain to
// the original sender's full JID, with the same id and body. It returns
// the time from the first write to the last echo.
func (p *Peer) Flood(n int, timeout time.Duration) (time.Duration, error) {
	if n <= 0 {
		return 0, errors.New("harness: nothing to flood")
	}
	p.conn.SetDeadline(time.Now().Add(timeout))
	defer p.conn.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	t0 := time.Now()
	go func() { werr <- writeFloodOf(p.conn, n, p.senders(), userDomain, p.Domain) }()
	v := newVerifier(n, userDomain, p.Domain)
	k := p.senders()
	v.wantTo = func(i int, to []byte) bool {
		v.scratch = appendUserOf(v.scratch[:0], i, k, userDomain)
		return bytes.Equal(to, v.scratch)
	}
	err := v.readAll(p.rd)
	d := time.Since(t0)
	if err != nil {
		p.conn.Close() // unblock the writer
		<-werr
		return d, err
	}
	return d, <-werr
}

// writeFlood writes messages 0..n-1 in batches of about 32 KiB.
func writeFlood(w io.Writer, n int, fromDomain, to string) error {
	return writeFloodOf(w, n, users, fromDomain, to)
}

// writeFloodOf is writeFlood from senders senders.
func writeFloodOf(w io.Writer, n, senders int, fromDomain, to string) error {
	buf := make([]byte, 0, 40<<10)
	for i := 0; i < n; i++ {
		buf = appendMessageOf(buf, i, senders, fromDomain, to)
		if len(buf) >= 32<<10 || i == n-1 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("harness: flood write: %w", err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

// verifier checks the echoes (or forwarded copies) of a flood.
type verifier struct {
	n          int
	seen       []uint64
	got        int
	wantFrom   func(i int, from []byte) bool
	wantTo     func(i int, to []byte) bool
	scratch    []byte
	userDomain string
}

// newVerifier expects echoes: from the component domain (or an address at
// it) to sender i's full JID.
func newVerifier(n int, userDomain, compDomain string) *verifier {
	v := &verifier{n: n, seen: make([]uint64, (n+63)/64), userDomain: userDomain}
	v.wantFrom = func(_ int, from []byte) bool {
		return string(from) == compDomain || bytes.HasSuffix(from, []byte("@"+compDomain)) ||
			bytes.HasPrefix(from, []byte(compDomain+"/"))
	}
	v.wantTo = func(i int, to []byte) bool {
		v.scratch = appendUser(v.scratch[:0], i, userDomain)
		return bytes.Equal(to, v.scratch)
	}
	return v
}

// readAll reads elements until every message was seen once.
func (v *verifier) readAll(rd *elemReader) error {
	for v.got < v.n {
		k, raw, err := rd.next()
		if err != nil {
			return fmt.Errorf("harness: after %d of %d stanzas: %w", v.got, v.n, err)
		}
		if k == pieceClose {
			return fmt.Errorf("harness: stream closed after %d of %d stanzas", v.got, v.n)
		}
		if k != pieceElement {
			return fmt.Errorf("harness: unexpected %q", clip(raw))
		}
		if err := v.check(raw); err != nil {
			return err
		}
	}
	return nil
}

// check verifies one received message.
func (v *verifier) check(raw []byte) error {
	if string(tagName(raw)) != "message" {
		return fmt.Errorf("harness: expected a message, got %q", clip(raw))
	}
	var id, typ, from, to, ns []byte
	eachAttr(raw, func(n, val []byte) bool {
		switch string(n) {
		case "id":
			id = val
		case "type":
			typ = val
		case "from":
			from = val
		case "to":
			to = val
		case "xmlns":
			ns = val
		}
		return true
	})
	if ns != nil && string(ns) != nsComponent {
		return fmt.Errorf("harness: message in namespace %q", ns)
	}
	if len(id) != 9 || id[0] != 'm' {
		return fmt.Errorf("harness: bad id in %q", clip(raw))
	}
	i, err := strconv.Atoi(string(id[1:]))
	if err != nil || i < 0 || i >= v.n {
		return fmt.Errorf("harness: bad id in %q", clip(raw))
	}
	if v.seen[i/64]&(1<<(i%64)) != 0 {
		return fmt.Errorf("harness: message %d came twice", i)
	}
	if string(typ) != "chat" {
		return fmt.Errorf("harness: message %d: type %q", i, typ)
	}
	if !v.wantFrom(i, from) {
		return fmt.Errorf("harness: message %d: from %q", i, from)
	}
	if !v.wantTo(i, to) {
		return fmt.Errorf("harness: message %d: to %q", i, to)
	}
	body, ok := innerText(raw, "body")
	v.scratch = appendBody(v.scratch[:0], i)
	if !ok || !bytes.Equal(body, v.scratch) {
		return fmt.Errorf("harness: message %d: body %q", i, body)
	}
	v.seen[i/64] |= 1 << (i % 64)
	v.got++
	return nil
}

// EchoOnce runs one echo flood of n stanzas against the component that
// start connects to addr (in this process), and stops it afterwards.
func EchoOnce(lib string, n int, timeout time.Duration) (time.Duration, error) {
	srv, err := Listen()
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	stop, err := StartEcho(lib, srv.Addr())
	if err != nil {
		return 0, err
	}
	var once sync.Once
	defer once.Do(func() { stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := srv.Accept(ctx)
	if err != nil {
		return 0, err
	}
	d, err := peer.Flood(n, timeout)
	peer.Close()
	var serr error
	once.Do(func() { serr = stop() })
	if err == nil {
		err = serr
	}
	return d, err
}
