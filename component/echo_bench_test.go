package component

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// The echo load of issue 9: a server floods ~150-byte chat messages from
// echoSenders senders; the component's mux handler swaps to and from and
// replies with the same body and id. BenchmarkEchoTCP measures xmppkit;
// BenchmarkEchoTCPRaw measures a raw byte copy of the same traffic over the
// same loopback path, the ceiling. One op is one echoed stanza, so allocs/op
// is allocations per stanza (the flooding server allocates nothing per
// stanza). Compare with
//
//	go test -run '^$' -bench 'EchoTCP' -benchmem ./component

const echoSenders = 50

// echoBlock is echoBlockLen messages the server writes again and again.
const echoBlockLen = 1000

// echoFlood returns one block of flood messages and the message length.
func echoFlood() []byte {
	var b bytes.Buffer
	for i := range echoBlockLen {
		fmt.Fprintf(&b, "<message from='user%02d@example.test/phone' to='%s' type='chat' id='m%07d'>"+
			"<body>hello, this is message %07d of the flood</body></message>", i%echoSenders, testDomain, i, i)
	}
	return b.Bytes()
}

// echoHandler is the echo service: replies to each chat message with its
// body, from and to swapped, the same id.
func echoHandler() mux.Handler {
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		r := msg.Reply()
		if b, ok := msg.Child("", "body"); ok {
			r.SetPayloadElements(b)
		}
		return s.Send(ctx, r)
	})
	return m
}

// flood writes n messages (whole blocks and a part of one) to w.
func flood(w io.Writer, block []byte, n int) error {
	per := len(block) / echoBlockLen // every message has the same length
	for n > 0 {
		k := min(n, echoBlockLen)
		if _, err := w.Write(block[:k*per]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// countEchoes reads r until it has seen n "</message>" end tags, without
// allocating per read.
func countEchoes(r io.Reader, n int) error {
	const tag = "</message>"
	buf := make([]byte, 64<<10)
	keep := 0 // bytes kept from the previous read (a tag cut in two)
	seen := 0
	for seen < n {
		m, err := r.Read(buf[keep:])
		if m == 0 && err != nil {
			return fmt.Errorf("%d of %d echoes: %w", seen, n, err)
		}
		data := buf[:keep+m]
		for {
			i := bytes.Index(data, []byte(tag))
			if i < 0 {
				break
			}
			seen++
			data = data[i+len(tag):]
		}
		keep = min(len(data), len(tag)-1)
		copy(buf, data[len(data)-keep:])
	}
	return nil
}

// runEcho floods n messages at the peer on fc's connection and waits for
// n echoes, reporting stanzas/s.
func runEcho(b *testing.B, conn net.Conn, n int) {
	block := echoFlood()
	b.SetBytes(int64(len(block) / echoBlockLen))
	var wg sync.WaitGroup
	var ferr error
	stopHeap := watchHeap()
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ferr = flood(conn, block, n)
	}()
	err := countEchoes(conn, n)
	d := time.Since(t0)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	peak := stopHeap()
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	if ferr != nil {
		b.Fatal(ferr)
	}
	b.ReportMetric(float64(n)/d.Seconds(), "stanzas/s")
	// CPU time of the whole process (server side included) per stanza:
	// steadier than wall time on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/stanza")
	// The largest live heap seen during the run: flat under load means it
	// does not grow with b.N.
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// watchHeap samples the heap's live objects every 10 ms until the
// returned function is called, which returns the largest sample.
func watchHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// echoServer is a fake server that hands over each connection after the
// handshake, on ready, and keeps it until finished is closed.
func echoServer(b testing.TB) (fs *fakeServer, ready chan net.Conn, finished chan struct{}) {
	ready = make(chan net.Conn, 1)
	finished = make(chan struct{})
	fs = newFakeServer(b, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		ready <- fc.Conn
		<-finished
	})
	return fs, ready, finished
}

// BenchmarkEchoTCP: the echo component over loopback TCP, default
// settings.
func BenchmarkEchoTCP(b *testing.B) {
	n := b.N
	fs, ready, finished := echoServer(b)
	c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret, Handler: echoHandler(),
		Logger: quietLogger(), KeepAlive: -1}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	conn := <-ready
	runtime.GC()
	b.ReportAllocs()
	w0 := c.stats.writes.Load()
	runEcho(b, conn, n)
	b.ReportMetric(float64(n)/float64(c.stats.writes.Load()-w0), "stanzas/write")
	close(finished)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Close(ctx)
	<-done
}

// BenchmarkEchoTCPRaw: the ceiling, a client that copies every byte it
// reads back to the server (after the same handshake), over the same path.
func BenchmarkEchoTCPRaw(b *testing.B) {
	n := b.N
	fs, ready, finished := echoServer(b)
	cc, err := net.Dial("tcp", fs.addr())
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	// The handshake, by hand: header, digest of the server's id, then copy.
	if _, err := io.WriteString(cc, "<stream:stream xmlns='jabber:component:accept' "+
		"xmlns:stream='http://etherx.jabber.org/streams' to='"+testDomain+"'>"); err != nil {
		b.Fatal(err)
	}
	hdr := make([]byte, 0, 512)
	for !bytes.Contains(hdr, []byte("id='sid-1234'>")) {
		var one [1]byte
		if _, err := cc.Read(one[:]); err != nil {
			b.Fatal(err)
		}
		hdr = append(hdr, one[0])
	}
	if _, err := io.WriteString(cc, "<handshake>"+handshakeDigest("sid-1234", testSecret)+"</handshake>"); err != nil {
		b.Fatal(err)
	}
	var ok [len("<handshake/>")]byte
	if _, err := io.ReadFull(cc, ok[:]); err != nil {
		b.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.CopyBuffer(cc, cc, make([]byte, 64<<10))
	}()
	conn := <-ready
	b.ReportAllocs()
	runEcho(b, conn, n)
	close(finished)
	cc.Close()
	<-copied
}
