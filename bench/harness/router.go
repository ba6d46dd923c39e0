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
	"sync/atomic"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// Domains of the router scenario: component A sends to component B.
const (
	DomainA = "a.bench.local"
	DomainB = "b.bench.local"
)

// Relays are the router scenarios, the ceiling first: "relay" is a plain
// TCP relay that answers the handshakes and copies bytes from A to B;
// "router-tcp" is xmppkit's router with both components on XEP-0114 over
// loopback; "router-inproc" is the router with both attached in-process.
var Relays = []string{"relay", "router-tcp", "router-inproc"}

// Relay is a running relay or router that components reach over TCP.
type Relay interface {
	Addr() string
	Close() error
}

// StartRelay starts the relay kind ("relay" or "router-tcp") on a free
// loopback port.
func StartRelay(kind string) (Relay, error) {
	switch kind {
	case "relay":
		return startPlainRelay()
	case "router-tcp":
		return startRouterTCP(nil)
	}
	return nil, fmt.Errorf("harness: unknown relay %q", kind)
}

// plainRelay accepts two components, answers their handshakes, and copies
// every byte from the one that is not DomainB to the one that is.
type plainRelay struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

func startPlainRelay() (*plainRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &plainRelay{ln: ln}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *plainRelay) Addr() string { return p.ln.Addr().String() }

func (p *plainRelay) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conn {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *plainRelay) serve() {
	defer p.wg.Done()
	var src, dst net.Conn
	var srcRd *elemReader
	for src == nil || dst == nil {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conn = append(p.conn, c)
		p.mu.Unlock()
		rd := newElemReader(c)
		domain, err := acceptHandshake(c, rd, "relay-"+strconv.Itoa(len(p.conn)))
		if err != nil {
			c.Close()
			continue
		}
		if domain == DomainB {
			dst = c
		} else {
			src, srcRd = c, rd
		}
	}
	// What A sent after its handshake is already buffered.
	if _, err := dst.Write(srcRd.buf[srcRd.head:srcRd.tail]); err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
}

// routerRelay is xmppkit's router with a XEP-0114 listener.
type routerRelay struct {
	r    *router.Router
	addr string
}

func startRouterTCP(extra map[string]string) (*routerRelay, error) {
	secrets := map[string]string{DomainA: Secret, DomainB: Secret}
	for d, s := range extra {
		secrets[d] = s
	}
	r, err := router.New(router.Config{
		Domains:        []string{"bench.local"},
		Secrets:        secrets,
		Logger:         discard,
		MaxUnauthPerIP: 1 << 20,
	})
	if err != nil {
		return nil, err
	}
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		r.Close(context.Background())
		return nil, err
	}
	return &routerRelay{r: r, addr: addr.String()}, nil
}

func (r *routerRelay) Addr() string { return r.addr }

func (r *routerRelay) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.r.Close(ctx)
}

// Forward connects raw component B then raw component A to the relay at
// addr, has A send n chat messages to B and waits until B received all of
// them, each checked (from A's sender, to B, same id and body). It returns
// the time from A's first write to B's last read.
func Forward(addr string, n int, timeout time.Duration) (time.Duration, error) {
	connB, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer connB.Close()
	rdB := newElemReader(connB)
	if err := dialHandshake(connB, rdB, DomainB, Secret); err != nil {
		return 0, fmt.Errorf("component B: %w", err)
	}
	connA, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer connA.Close()
	rdA := newElemReader(connA)
	if err := dialHandshake(connA, rdA, DomainA, Secret); err != nil {
		return 0, fmt.Errorf("component A: %w", err)
	}
	// A must read what the router may send it (error replies), or a
	// stuck router would stall; anything arriving on A is a failure.
	aerr := make(chan error, 1)
	go func() {
		k, raw, err := rdA.next()
		if err == nil && k != pieceClose {
			err = fmt.Errorf("component A received %q", clip(raw))
		}
		aerr <- err
	}()
	connB.SetDeadline(time.Now().Add(timeout))
	connA.SetDeadline(time.Now().Add(timeout))
	werr := make(chan error, 1)
	t0 := time.Now()
	go func() { werr <- writeFlood(connA, n, DomainA, DomainB) }()
	v := newForwardVerifier(n, DomainA, DomainB)
	err = v.readAll(rdB)
	d := time.Since(t0)
	if err != nil {
		select {
		case e := <-aerr:
			if e != nil && !errors.Is(e, io.EOF) && !isTimeout(e) {
				err = fmt.Errorf("%w (%w)", err, e)
			}
		default:
		}
		connA.Close()
		<-werr
		return d, err
	}
	if err := <-werr; err != nil {
		return d, err
	}
	select {
	case e := <-aerr:
		if e != nil && !errors.Is(e, io.EOF) {
			return d, e
		}
	default:
	}
	return d, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// newForwardVerifier expects message i from sender i at fromDomain, to to.
func newForwardVerifier(n int, fromDomain, to string) *verifier {
	v := &verifier{n: n, seen: make([]uint64, (n+63)/64)}
	v.wantFrom = func(i int, from []byte) bool {
		v.scratch = appendUser(v.scratch[:0], i, fromDomain)
		return bytes.Equal(from, v.scratch)
	}
	v.wantTo = func(_ int, got []byte) bool { return string(got) == to }
	return v
}

// ForwardOnce starts the relay kind in this process and runs Forward
// through it.
func ForwardOnce(kind string, n int, timeout time.Duration) (time.Duration, error) {
	if kind == "router-inproc" {
		return Inproc(n, timeout)
	}
	rl, err := StartRelay(kind)
	if err != nil {
		return 0, err
	}
	d, err := Forward(rl.Addr(), n, timeout)
	if cerr := rl.Close(); err == nil && cerr != nil && kind != "relay" {
		err = cerr
	}
	return d, err
}

// inprocWindow bounds the stanzas in flight in the in-process scenario,
// below the attachment's queue so that nothing is bounced.
const inprocWindow = 4096

// inprocStanzas are the prebuilt messages A sends in the in-process
// scenario (reused cyclically: building stanzas is the application's cost,
// not the router's).
func inprocStanzas() ([]*stanza.Stanza, error) {
	to := jid.MustParse(DomainB)
	out := make([]*stanza.Stanza, 256)
	var b []byte
	for i := range out {
		b = appendUser(b[:0], i, DomainA)
		from, err := jid.Parse(string(b))
		if err != nil {
			return nil, err
		}
		st := stanza.NewMessage(stanza.TypeChat, to, string(appendBody(nil, i)))
		st.From = from
		st.ID = "m" + string(appendPadded(nil, i))
		out[i] = st
	}
	return out, nil
}

// Inproc attaches A and B to a router in this process, has A send n
// messages to B through A's Sender, and returns the time until B's handler
// saw them all. B checks each stanza's addresses and body.
func Inproc(n int, timeout time.Duration) (time.Duration, error) {
	r, err := router.New(router.Config{
		Domains:        []string{"bench.local"},
		Logger:         discard,
		InProcessQueue: 2 * inprocWindow * router.DefaultWorkers,
	})
	if err != nil {
		return 0, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Close(ctx)
	}()
	msgs, err := inprocStanzas()
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, inprocWindow)
	var got atomic.Int64
	var bad atomic.Pointer[string]
	all := make(chan struct{})
	b := mux.New()
	b.HandleMessageFunc(stanza.TypeChat, "", func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
		if st.To.Domain() != DomainB || st.From.Domain() != DomainA || len(st.Body()) != 45 {
			s := fmt.Sprintf("bad stanza from %s to %s body %q", st.From, st.To, st.Body())
			bad.CompareAndSwap(nil, &s)
		}
		<-sem
		if got.Add(1) == int64(n) {
			close(all)
		}
		return nil
	})
	if _, err := r.Attach(DomainB, b); err != nil {
		return 0, err
	}
	s, err := r.Attach(DomainA, mux.New())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return time.Since(t0), fmt.Errorf("harness: in-process: %d of %d delivered: %w", got.Load(), n, ctx.Err())
		}
		if err := s.Send(ctx, msgs[i%len(msgs)]); err != nil {
			return time.Since(t0), err
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		return time.Since(t0), fmt.Errorf("harness: in-process: %d of %d delivered: %w", got.Load(), n, ctx.Err())
	}
	d := time.Since(t0)
	if p := bad.Load(); p != nil {
		return d, errors.New("harness: in-process: " + *p)
	}
	return d, nil
}
