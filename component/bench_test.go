package component

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// benchComponent connects a component to a loopback fake server whose
// script runs after the handshake.
func benchComponent(b *testing.B, h mux.Handler, after func(fc *fakeConn)) (*Component, func()) {
	fs := newFakeServer(b, func(_ int, fc *fakeConn) {
		if fc.accept() {
			after(fc)
		}
	})
	c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret, Handler: h, Logger: quietLogger()}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	for c.Stats().State != StateConnected {
		time.Sleep(time.Millisecond)
	}
	return c, func() {
		b.StopTimer() // Close (and its wait for the server's close tag) is not measured
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
		<-done
	}
}

// Send of a small chat message to a server that reads and discards.
func BenchmarkSend(b *testing.B) {
	c, stop := benchComponent(b, nil, func(fc *fakeConn) { io.Copy(io.Discard, fc.Conn) })
	defer stop()
	m := stanza.NewMessage(stanza.TypeChat, alice, "hello, this is a benchmark message")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// Send from many goroutines at once: the writer batches.
func BenchmarkSendParallel(b *testing.B) {
	c, stop := benchComponent(b, nil, func(fc *fakeConn) { io.Copy(io.Discard, fc.Conn) })
	defer stop()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := stanza.NewMessage(stanza.TypeChat, alice, "hello, this is a benchmark message")
		for pb.Next() {
			if err := c.Send(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A server streams messages from 50 senders; the handler answers each; the
// benchmark ends when every answer is back at the server.
func BenchmarkEcho(b *testing.B) {
	n := b.N
	var replies atomic.Int64
	done := make(chan struct{})
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		return s.Send(ctx, stanza.NewMessage(stanza.TypeChat, st.From, st.Body()))
	})
	var payload strings.Builder
	for i := range n {
		fmt.Fprintf(&payload, "<message from='u%d@example.test/r' to='%s' type='chat' id='m%d'><body>hello %d</body></message>", i%50, testDomain, i, i)
	}
	_, stop := benchComponent(b, h, func(fc *fakeConn) {
		go fc.send(payload.String())
		for {
			if _, err := fc.readStanza(); err != nil {
				return
			}
			if replies.Add(1) == int64(n) {
				close(done)
			}
		}
	})
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d replies", replies.Load(), n)
	}
}
