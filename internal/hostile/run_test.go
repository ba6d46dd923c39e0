package hostile

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stream"
)

// result is what one case did to one target.
type result struct {
	got     want
	detail  string
	written int64 // bytes of the case accepted by the peer's socket
	healthy error // the well-behaved connection's round trip after the case
	took    time.Duration
}

// send writes the case's input on conn (in the background: the peer may stop
// reading) and returns a channel with the bytes written.
func send(conn net.Conn, c *hcase, p params) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var n int64
		if c.gen != nil {
			n, _ = c.gen(conn, p)
		} else {
			m, _ := io.WriteString(conn, p.expand(c.data))
			n = int64(m)
		}
		if c.eof {
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}
		out <- n
	}()
	return out
}

// sendWithProbe sends the case and, for a finite input on an open stream,
// the probe IQ after it. The channel yields the bytes of the case written.
func sendWithProbe(conn net.Conn, c *hcase, p params) <-chan int64 {
	written := send(conn, c, p)
	if c.gen != nil {
		return written
	}
	n := <-written
	if !c.pre {
		io.WriteString(conn, probe(p))
	}
	out := make(chan int64, 1)
	out <- n
	return out
}

// waitFor bounds the wait for a reaction to a case.
func (c *hcase) waitFor() time.Duration {
	if c.slow {
		return handshakeTimeout + 4*time.Second
	}
	return 5 * time.Second
}

// runRouter sends case c to one of the router's listeners.
func (e *env) runRouter(tg target, i int, c *hcase) (res result) {
	t0 := time.Now()
	defer func() { res.took = time.Since(t0); res.healthy = e.roundTrip() }()
	p := paramsFor(tg, i)
	var conn net.Conn
	var rd *stream.Reader
	var err error
	switch {
	case c.pre:
		addr := e.compAddr
		if tg == toC2SListener {
			addr = e.c2sAddr
		}
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
	case tg == toComponentListener:
		conn, rd, err = loginComponent(e.compAddr, p)
	default:
		conn, rd, err = loginClient(e.c2sAddr, &tls.Config{RootCAs: e.c2s.CertPool(), ServerName: serverDomain}, p)
	}
	if err != nil {
		return result{got: want{failed, "setup"}, detail: err.Error()}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.waitFor()))
	rec := &recorder{r: conn} // sees the bytes of a stream opened here
	if c.pre {
		rd = stream.NewReader(rec, stream.ReaderOptions{})
	}
	written := sendWithProbe(conn, c, p)
	res.got, res.detail = observe(rd, rec, c.pre, 0, conn)
	conn.Close()
	res.written = <-written
	return res
}

// runComponent sends case c from a fake server to a fresh xmppkit component
// (after a good handshake unless c.pre), then checks that the component
// reconnects and answers a ping on its next connection.
func runComponent(i int, c *hcase) (res result) {
	t0 := time.Now()
	defer func() { res.took = time.Since(t0) }()
	p := paramsFor(toComponent, i)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{got: want{failed, "setup"}, detail: err.Error()}
	}
	defer ln.Close()
	conns := make(chan net.Conn, 8)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- nc
		}
	}()
	m := mux.New()
	ping.Handler{}.Register(m)
	comp := &component.Component{Addr: ln.Addr().String(), Domain: p.domain, Secret: evilSecret, Handler: m,
		Logger: discard, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		HandshakeTimeout: handshakeTimeout, KeepAlive: -1, Limits: stream.Limits{MaxElement: maxElement}}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); comp.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
		ln.Close()
		for nc := range conns {
			nc.Close()
		}
	}()
	accept := func() (net.Conn, error) {
		select {
		case nc := <-conns:
			return nc, nil
		case <-time.After(5 * time.Second):
			return nil, errors.New("the component did not connect")
		}
	}
	nc, err := accept()
	if err != nil {
		return result{got: want{failed, "setup"}, detail: err.Error()}
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(c.waitFor()))
	rec := &recorder{r: nc}
	rd := stream.NewReader(rec, stream.ReaderOptions{})
	if _, err := rd.ReadHeader(); err != nil {
		return result{got: want{failed, "setup"}, detail: err.Error()}
	}
	if !c.pre {
		if err := serverHandshake(nc, rd, p); err != nil {
			return result{got: want{failed, "setup"}, detail: err.Error()}
		}
	}
	written := sendWithProbe(nc, c, p)
	res.got, res.detail = observe(rd, rec, false, 300*time.Millisecond, nc)
	if res.got.kind == closed || res.got.kind == failed && c.slow {
		// The component closed: what did it report?
		res.got, res.detail = componentVerdict(comp)
		if res.got.kind == streamError {
			// It detected a stream error but did not send it to the server
			// before closing (RFC 6120 §4.9.1.1): not the expected reaction.
			res.got.cond += " not sent"
		}
	}
	nc.Close()
	res.written = <-written
	// The component must come back and serve.
	res.healthy = func() error {
		nc2, err := accept()
		if err != nil {
			return err
		}
		defer nc2.Close()
		nc2.SetDeadline(time.Now().Add(5 * time.Second))
		rd2 := stream.NewReader(nc2, stream.ReaderOptions{})
		if _, err := rd2.ReadHeader(); err != nil {
			return err
		}
		if err := serverHandshake(nc2, rd2, p); err != nil {
			return err
		}
		io.WriteString(nc2, probe(p))
		if got, d := observe(rd2, &recorder{r: nc2}, false, 0, nc2); got != stayAlive {
			return fmt.Errorf("after reconnecting: %v %s", got, d)
		}
		return nil
	}()
	return res
}

// serverHandshake is the server side of XEP-0114 §3 on a fake server.
func serverHandshake(nc net.Conn, rd *stream.Reader, p params) error {
	const id = "hostile-stream"
	if _, err := io.WriteString(nc, header(p)); err != nil {
		return err
	}
	el, err := rd.Next()
	if err != nil {
		return err
	}
	txt, _ := el.Text()
	if !el.Is(stream.NSComponent, "handshake") || txt != handshakeDigest(id, evilSecret) {
		return fmt.Errorf("bad handshake %s", el.Raw())
	}
	_, err = io.WriteString(nc, "<handshake/>")
	return err
}

// componentVerdict waits for the component to report why its link ended:
// a stream error it detected, a timeout, or a disconnection.
func componentVerdict(comp *component.Component) (want, string) {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		err := comp.Stats().LastError
		if err == nil {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		var se *stream.Error
		switch {
		case errors.As(err, &se) && !se.Remote:
			return want{streamError, string(se.Condition)}, err.Error()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return want{streamError, string(stream.ConnectionTimeout)}, err.Error()
		}
		return justClosed, err.Error()
	}
	return want{failed, "no LastError"}, "the component reported nothing"
}

// heapInuse returns HeapInuse after a GC.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
