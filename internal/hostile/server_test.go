package hostile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// fakeServer accepts a component's connections on a loopback port.
type fakeServer struct {
	ln    net.Listener
	conns chan net.Conn
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(s.conns)
				return
			}
			s.conns <- nc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for nc := range s.conns {
			nc.Close()
		}
	})
	return s
}

// accept returns the component's next connection that completes the
// handshake (earlier attempts the component gave up on while nobody
// answered are skipped).
func (s *fakeServer) accept(t *testing.T, p params, within time.Duration) (net.Conn, *stream.Reader, error) {
	t.Helper()
	timeout := time.After(within)
	last := errors.New("the component did not connect")
	for {
		select {
		case nc, ok := <-s.conns:
			if !ok {
				return nil, nil, errors.New("listener closed")
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			rd := stream.NewReader(nc, stream.ReaderOptions{})
			if _, err := rd.ReadHeader(); err != nil {
				nc.Close()
				last = err
				continue
			}
			if err := serverHandshake(nc, rd, p); err != nil {
				nc.Close()
				last = err
				continue
			}
			nc.SetDeadline(time.Time{})
			return nc, rd, nil
		case <-timeout:
			return nil, nil, last
		}
	}
}

// runFakeComponent runs a component (pinging itself never) against s.
func runFakeComponent(t *testing.T, s *fakeServer, p params, tweak func(*component.Component)) (*component.Component, <-chan error) {
	t.Helper()
	m := mux.New()
	ping.Handler{}.Register(m)
	comp := &component.Component{Addr: s.ln.Addr().String(), Domain: p.domain, Secret: evilSecret, Handler: m,
		Logger: discard, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		HandshakeTimeout: handshakeTimeout, KeepAlive: -1, Limits: stream.Limits{MaxElement: maxElement}}
	if tweak != nil {
		tweak(comp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() { done <- comp.Run(ctx); close(ended) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Error("component Run did not return")
		}
	})
	return comp, done
}

// TestComponentServerStreamErrors: a server ends the stream with each
// stream error condition of RFC 6120 §4.9.3 after the handshake. The
// component reports the condition (Stats().LastError, a remote
// *stream.Error), answers with no stream error of its own (§4.9.1.1),
// and connects again, except for the permanent conditions (IsPermanent:
// not-authorized, host-unknown), after which Run returns the error.
func TestComponentServerStreamErrors(t *testing.T) {
	for i, cond := range stream.Conditions {
		t.Run(string(cond), func(t *testing.T) {
			t.Parallel()
			p := paramsFor(toComponent, 1000+i)
			s := newFakeServer(t)
			comp, done := runFakeComponent(t, s, p, nil)
			nc, _, err := s.accept(t, p, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			content := ""
			if cond == stream.SeeOtherHost {
				content = "127.0.0.1:1"
			}
			io.WriteString(nc, "<stream:error><"+string(cond)+" xmlns='"+stream.NSStreamErrors+"'>"+content+"</"+string(cond)+
				"><text xmlns='"+stream.NSStreamErrors+"'>hostile</text></stream:error>")
			// What the component sends after it: at most its close tag.
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var after bytes.Buffer
			_, rerr := io.Copy(&after, io.LimitReader(nc, 1<<16))
			if strings.Contains(after.String(), "stream:error") || strings.Contains(after.String(), "<error") {
				t.Fatalf("the component answered a stream error with one: %q", after.String())
			}
			if ne := net.Error(nil); errors.As(rerr, &ne) && ne.Timeout() {
				t.Fatalf("the component kept the stream open after the server's error (sent %q)", after.String())
			}
			got, detail := componentVerdict(comp)
			var se *stream.Error
			if err := comp.Stats().LastError; !errors.As(err, &se) || !se.Remote || se.Condition != cond {
				t.Fatalf("LastError %v (%v %s), want the server's %s", err, got, detail, cond)
			}
			if component.IsPermanent(comp.Stats().LastError) {
				select {
				case err := <-done:
					if !errors.Is(err, se) {
						t.Fatalf("Run returned %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Run went on after a permanent error")
				}
				return
			}
			nc2, rd2, err := s.accept(t, p, 5*time.Second)
			if err != nil {
				t.Fatalf("no reconnection after %s: %v", cond, err)
			}
			defer nc2.Close()
			nc2.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(nc2, probe(p))
			if got, d := observe(rd2, &recorder{r: nc2}, false, 0, nc2); got != stayAlive {
				t.Fatalf("after reconnecting: %v %s", got, d)
			}
		})
	}
}

// TestComponentServerStopsReading: after the handshake the server never
// reads again while the service sends 60 KB stanzas. Send returns within
// its context (a full queue or a dead link is an error, never a hang),
// memory stays bounded, the link is declared dead after WriteTimeout, and
// the component reconnects and serves.
func TestComponentServerStopsReading(t *testing.T) {
	p := paramsFor(toComponent, 2000)
	s := newFakeServer(t)
	comp, _ := runFakeComponent(t, s, p, func(c *component.Component) { c.WriteTimeout = time.Second })
	nc, _, err := s.accept(t, p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close() // never read
	heap0 := heapInuse()
	body := strings.Repeat("x", 60<<10)
	var failed, sent int
	var firstFail time.Duration
	start := time.Now()
	for i := 0; i < 3000 && time.Since(start) < 20*time.Second; i++ {
		msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("user@"+serverDomain), body)
		msg.From = jid.MustParse(p.domain)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t0 := time.Now()
		err := comp.Send(ctx, msg)
		cancel()
		if d := time.Since(t0); d > 3*time.Second {
			t.Fatalf("Send %d blocked %v", i, d)
		}
		if err != nil {
			failed++
			if firstFail == 0 {
				firstFail = time.Since(start)
			}
			if failed >= 3 {
				break
			}
			continue
		}
		sent++
	}
	if failed == 0 {
		t.Fatalf("all %d sends to a server that never reads succeeded", sent)
	}
	if g := heapInuse(); g > heap0+64<<20 {
		t.Fatalf("heap grew from %d to %d bytes", heap0, g)
	}
	t.Logf("%d sends accepted, the first failure after %v", sent, firstFail)
	nc2, rd2, err := s.accept(t, p, 10*time.Second)
	if err != nil {
		t.Fatalf("no reconnection after the link stalled: %v", err)
	}
	defer nc2.Close()
	nc2.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc2, probe(p))
	got, d := observe(rd2, &recorder{r: nc2}, false, 0, nc2)
	// Stanzas queued before the stall may come first; the probe's answer
	// must follow.
	if got != stayAlive {
		t.Fatalf("after reconnecting: %v %s", got, d)
	}
}
