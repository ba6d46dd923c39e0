package stream

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

const benchStanza = `<message from='juliet@capulet.example/balcony' to='pubsub.shakespeare.example' type='chat' id='4711'><body>Wherefore art thou, Romeo?</body></message>`

// benchInput is a component stream of n messages.
func benchInput(n int) []byte {
	return []byte(prosodyHeader + strings.Repeat(benchStanza, n) + CloseTag)
}

// BenchmarkReaderNext reads top-level elements without decoding them: the
// router's forwarding path. Expect 0 allocs per element.
func BenchmarkReaderNext(b *testing.B) {
	in := benchInput(1000)
	br := bytes.NewReader(in)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStanza)))
	r := NewReader(br, ReaderOptions{})
	n := 0
	for b.Loop() {
		restartEvery(b, &n, in, br, r)
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadStanzaWriteReply is a component's echo path: read and decode a
// stanza, build the reply and queue it on a Writer.
func BenchmarkReadStanzaWriteReply(b *testing.B) {
	in := benchInput(1000)
	br := bytes.NewReader(in)
	r := NewReader(br, ReaderOptions{})
	w := NewWriter(io.Discard, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStanza)))
	n := 0
	for b.Loop() {
		restartEvery(b, &n, in, br, r)
		s, err := r.ReadStanza()
		if err != nil {
			b.Fatal(err)
		}
		if err := w.WriteStanza(s.Reply()); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteStanza queues a prepared stanza from parallel goroutines.
func BenchmarkWriteStanza(b *testing.B) {
	w := NewWriter(io.Discard, nil)
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("juliet@capulet.example"), "Wherefore art thou, Romeo?")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.WriteStanza(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// restartEvery restarts r on the 1000-stanza input every 1000 calls.
func restartEvery(b *testing.B, n *int, in []byte, br *bytes.Reader, r *Reader) {
	if *n%1000 == 0 {
		br.Reset(in)
		r.Reset(br)
		if _, err := r.ReadHeader(); err != nil {
			b.Fatal(err)
		}
	}
	*n++
}

// countingConn counts the Write calls (system calls) made on a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// BenchmarkWriterTCP sends stanzas from parallel goroutines over loopback
// TCP to a reader that drains them, and reports write system calls per
// stanza: well below 1 shows batching.
func BenchmarkWriterTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Skip(err)
	}
	defer ln.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	conn := &countingConn{Conn: raw}
	w := NewWriter(conn, nil)
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("juliet@capulet.example"), "Wherefore art thou, Romeo?")
	b.ReportAllocs()
	b.SetBytes(int64(len(m.AppendXML(nil))))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.WriteStanza(m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(conn.writes.Load())/float64(b.N), "writes/op")
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-drained
}
