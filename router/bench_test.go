package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

const benchMsg = "<message from='bot@a.localhost/x' to='user@b.localhost' type='chat' id='0123456789'><body>hello, this is a benchmark message</body></message>"

// BenchmarkForwardTCP measures component A → router → component B over
// loopback TCP: one op is one forwarded stanza. A writes pre-encoded stanzas
// in large batches and B reads with a stream.Reader, neither of which
// allocates, so allocs/op are the router's.
func BenchmarkForwardTCP(b *testing.B) {
	r, addr := newTestRouter(b, Config{})
	_ = r
	a := connectRaw(b, addr, "a.localhost")
	dst := connectRaw(b, addr, "b.localhost")
	const batch = 256
	chunk := []byte(strings.Repeat(benchMsg, batch))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMsg)))
	b.ResetTimer()
	go func() {
		for n := 0; n < b.N; n += batch {
			k := min(batch, b.N-n)
			if _, err := a.nc.Write(chunk[:k*len(benchMsg)]); err != nil {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		if _, err := dst.rd.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkForwardInProcess measures in-process component A → router →
// in-process component B: one op is one stanza routed and handled.
func BenchmarkForwardInProcess(b *testing.B) {
	r, _ := newTestRouter(b, Config{})
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	svc, err := r.Attach("b.localhost", mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if got.Add(1) == target {
			close(done)
		}
		return nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close(context.Background())
	svcA, err := r.Attach("a.localhost", mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil }))
	if err != nil {
		b.Fatal(err)
	}
	defer svcA.Close(context.Background())
	s := svcA
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("user@b.localhost"), "hello, this is a benchmark message")
	msg.From = jid.MustParse("bot@a.localhost/x")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		if err := s.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		i++
		// Stay within the queue: the bench measures routing, not bounces.
		for int64(i)-got.Load() > int64(DefaultWorkerQueue/2) {
			runtimeGosched()
		}
	}
	<-done
}

// BenchmarkInProcessToTCP measures an in-process component sending to a TCP
// component (one encoding into the connection's queue per stanza).
func BenchmarkInProcessToTCP(b *testing.B) {
	r, addr := newTestRouter(b, Config{})
	svc, err := r.Attach("a.localhost", mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil }))
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close(context.Background())
	dst := connectRaw(b, addr, "b.localhost")
	s := svc
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("user@b.localhost"), "hello, this is a benchmark message")
	msg.From = jid.MustParse("bot@a.localhost/x")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	read := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := dst.rd.Next(); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	for i := 0; i < b.N; i++ {
		for {
			c := r.comps["b.localhost"].(*conn)
			if c.queued.Load()-c.written.Load() < int64(DefaultMaxQueue/2) {
				break
			}
			runtimeGosched()
		}
		if err := s.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoad16 measures aggregate forwarding among 16 TCP components,
// each sending to all the others: one op is one forwarded stanza.
func BenchmarkLoad16(b *testing.B) {
	const comps = 16
	secrets := map[string]string{}
	for i := range comps {
		secrets[fmt.Sprintf("c%d.localhost", i)] = testSecret
	}
	_, addr := newTestRouter(b, Config{Secrets: secrets})
	cs := make([]*rawComp, comps)
	for i := range cs {
		cs[i] = connectRaw(b, addr, fmt.Sprintf("c%d.localhost", i))
		cs[i].nc.SetDeadline(time.Time{})
	}
	per := (b.N + comps - 1) / comps // stanzas each component sends
	// Component i sends its k-th stanza to (i+1+k%(comps-1)) % comps, so
	// each receives exactly per stanzas.
	chunks := make([][]byte, comps)
	for i := range chunks {
		var sb strings.Builder
		for k := range comps - 1 {
			fmt.Fprintf(&sb, "<message to='c%d.localhost' type='chat' id='x'><body>load</body></message>", (i+1+k)%comps)
		}
		chunks[i] = []byte(sb.String())
	}
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i, c := range cs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for k := 0; k < per; k++ {
				if _, err := c.rd.Next(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			full, rest := per/(comps-1), per%(comps-1)
			for range full {
				c.nc.Write(chunks[i])
			}
			if rest > 0 {
				// the first rest stanzas of the chunk
				n, off := 0, 0
				for n < rest {
					off += strings.Index(string(chunks[i][off:]), "</message>") + len("</message>")
					n++
				}
				c.nc.Write(chunks[i][:off])
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*comps)/b.Elapsed().Seconds(), "stanzas/s")
}

// BenchmarkRouteComponentStanza measures the router's own work for one
// stanza from a TCP component, without sockets: scanning it from the
// stream, reading its header, the domain checks, the route lookup and
// queueing its bytes for the recipient (whose writer discards them).
func BenchmarkRouteComponentStanza(b *testing.B) {
	r, _ := newTestRouter(b, Config{})
	dst := &conn{r: r, ns: stream.NSComponent, max: 1 << 62}
	dst.w = stream.NewWriter(io.Discard, nil)
	r.mu.Lock()
	r.comps["b.localhost"] = dst
	r.mu.Unlock()
	b.Cleanup(func() { // before the router's Close: dst has no socket
		r.mu.Lock()
		delete(r.comps, "b.localhost")
		r.mu.Unlock()
	})
	src := &conn{r: r, ns: stream.NSComponent}
	const batch = 4096
	in := []byte(strings.Repeat(benchMsg, batch))
	hdr := []byte("<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='a.localhost'>")
	domain := jid.MustParse("a.localhost")
	var scratch []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMsg)))
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		rd := stream.NewReader(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(in[:min(batch, b.N-n)*len(benchMsg)])), stream.ReaderOptions{})
		if _, err := rd.ReadHeader(); err != nil {
			b.Fatal(err)
		}
		for {
			el, err := rd.Next()
			if err != nil {
				break
			}
			r.fromComponent(src, domain, el, &scratch)
		}
	}
}
