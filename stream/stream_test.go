package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Headers exactly as the servers sent them (shared/notes/real-servers.md).
const (
	prosodyHeader  = `<?xml version='1.0'?><stream:stream xml:lang='en' from='pubsub.localhost' id='1b3075a7-9071-4b1e-9d8e-0b1c2d3e4f50' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>`
	ejabberdHeader = `<?xml version='1.0'?><stream:stream id='16413661769077744109' xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams' from='pubsub.localhost' xmlns='jabber:component:accept'>`
)

func TestReadHeaderRealServers(t *testing.T) {
	for name, tc := range map[string]struct {
		raw string
		id  string
	}{
		"prosody":  {prosodyHeader, "1b3075a7-9071-4b1e-9d8e-0b1c2d3e4f50"},
		"ejabberd": {ejabberdHeader, "16413661769077744109"},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.raw+`<handshake/>`), ReaderOptions{NS: NSComponent})
			h, err := r.ReadHeader()
			if err != nil {
				t.Fatal(err)
			}
			want := Header{NS: NSComponent, From: "pubsub.localhost", ID: tc.id, Lang: "en"}
			if h != want {
				t.Errorf("header = %+v, want %+v", h, want)
			}
			el, err := r.Next()
			if err != nil || !el.Is(NSComponent, "handshake") {
				t.Fatalf("Next = %v, %v", el, err)
			}
			if txt, err := el.Text(); err != nil || txt != "" {
				t.Errorf("Text = %q %v", txt, err)
			}
			if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("end without close: %v", err)
			}
		})
	}
}

func TestReadHeaderChecks(t *testing.T) {
	const ns = ` xmlns:stream='http://etherx.jabber.org/streams'`
	tests := []struct {
		name, raw string
		want      Condition // "" = accepted
	}{
		{"client 1.0", `<stream:stream xmlns='jabber:client'` + ns + ` to='example.com' version='1.0'>`, ""},
		{"version 1.5", `<stream:stream xmlns='jabber:client'` + ns + ` version='1.5'>`, ""},
		{"version 01.00", `<stream:stream xmlns='jabber:client'` + ns + ` version='01.00'>`, ""},
		{"version 0.9", `<stream:stream xmlns='jabber:client'` + ns + ` version='0.9'>`, ""},
		{"version 2.0", `<stream:stream xmlns='jabber:client'` + ns + ` version='2.0'>`, UnsupportedVersion},
		{"version junk", `<stream:stream xmlns='jabber:client'` + ns + ` version='one'>`, UnsupportedVersion},
		{"wrong stream ns", `<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>`, InvalidNamespace},
		{"wrong content ns", `<stream:stream xmlns='urn:wrong'` + ns + `>`, InvalidNamespace},
		{"no content ns", `<stream:stream` + ns + `>`, InvalidNamespace},
		{"unexpected content ns", `<stream:stream xmlns='jabber:server'` + ns + `>`, InvalidNamespace},
		{"wrong element", `<stream:strem xmlns='jabber:client'` + ns + `>`, BadFormat},
		{"not well-formed", `<stream:stream xmlns='jabber:client'` + ns + ` to='a' to='b'>`, NotWellFormed},
		{"comment", `<!-- hi --><stream:stream xmlns='jabber:client'` + ns + `>`, RestrictedXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := ReaderOptions{}
			if tt.name == "unexpected content ns" {
				opts.NS = NSClient
			}
			r := NewReader(strings.NewReader(tt.raw), opts)
			_, err := r.ReadHeader()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Condition != tt.want || se.Remote {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			select {
			case <-r.Closed():
			default:
				t.Error("Closed not signalled after a header error")
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{NS: NSServer, To: "b.example", From: "a.example", ID: "x'y\"z", Version: "1.0", Lang: "fr"}
	r := NewReader(bytes.NewReader(h.AppendXML(nil)), ReaderOptions{})
	got, err := r.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Errorf("got %+v want %+v", got, h)
	}
}

func TestStreamErrorRoundTrip(t *testing.T) {
	if len(Conditions) != 25 {
		t.Fatalf("%d conditions, RFC 6120 §4.9.3 defines 25", len(Conditions))
	}
	for _, c := range Conditions {
		e := &Error{Condition: c}
		switch c {
		case SeeOtherHost:
			e.Host = "[2001:db8::1]:5222"
		case NotAuthorized:
			e.Text, e.Lang = "Given token does not match calculated token", "en"
		case PolicyViolation:
			e.Text = "too <big> & fast"
			e.App = `<stanza-too-big xmlns='urn:xmpp:errors'/>`
		}
		var out bytes.Buffer
		w := NewWriter(&out, nil)
		if err := w.WriteHeader(Header{NS: NSComponent, ID: "1"}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteError(e); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteRaw([]byte("<x/>")); err != ErrClosed {
			t.Errorf("write after WriteError: %v", err)
		}
		if !strings.HasSuffix(out.String(), "</stream:error></stream:stream>") {
			t.Errorf("written: %s", out.String())
		}
		r := NewReader(&out, ReaderOptions{})
		if _, err := r.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		_, err := r.Next()
		var got *Error
		if !errors.As(err, &got) {
			t.Fatalf("%s: Next = %v", c, err)
		}
		want := *e
		want.Remote = true
		if *got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c, *got, want)
		}
		if !errors.Is(err, &Error{Condition: c}) {
			t.Errorf("%s: errors.Is by condition failed", c)
		}
	}
}

func TestReaderElements(t *testing.T) {
	in := prosodyHeader + "<handshake>ab&amp;cd</handshake> \n\t " +
		`<message to='pubsub.localhost' from='a@localhost/r' type='chat' id='m1'><body>hi</body></message>` +
		`<iq type='get' id='q'/>` +
		`<foo xmlns='urn:foo'/>` +
		`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>` +
		"</stream:stream>"
	r := NewReader(strings.NewReader(in), ReaderOptions{Keepalives: true})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if txt, err := el.Text(); err != nil || txt != "ab&cd" || el.IsStanza() {
		t.Errorf("handshake text %q %v", txt, err)
	}
	el, err = r.Next()
	if err != nil || !el.Keepalive() {
		t.Fatalf("want keepalive, got %v %v", el, err)
	}
	for el.Keepalive() {
		if el, err = r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if !el.IsStanza() {
		t.Fatal("message is not a stanza")
	}
	if v, ok := el.Attr("type"); !ok || v != "chat" {
		t.Errorf("Attr = %q %v", v, ok)
	}
	s, err := el.Stanza()
	if err != nil || s.Body() != "hi" || s.From != jid.MustParse("a@localhost/r") {
		t.Errorf("stanza %v %v", s, err)
	}
	s, err = r.ReadStanza()
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.BadRequest || s == nil || s.ID != "q" {
		t.Errorf("bad iq: %v %v", s, err)
	}
	_, err = r.ReadStanza()
	if !errors.Is(err, ErrUnsupportedStanzaType) {
		t.Errorf("foo: %v", err)
	}
	el, err = r.Next()
	if err != nil || !el.Is(NSStream, "features") {
		t.Fatalf("features: %v %v", el, err)
	}
	if sp, l := el.Name(); sp != NSStream || l != "features" {
		t.Errorf("Name = %q %q", sp, l)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("close: %v", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after close: %v", err)
	}
	<-r.Closed()
}

func TestReaderBadInput(t *testing.T) {
	tests := map[string]Condition{
		"<message><body></message>": NotWellFormed,
		"<message/>junk":            BadFormat,
		"<?pi x?>":                  RestrictedXML,
		"<x a='\xff'/>":             UnsupportedEncoding,
		"<x>" + strings.Repeat("<y>", 100) + strings.Repeat("</y>", 100) + "</x>": PolicyViolation,
	}
	for in, want := range tests {
		r := NewReader(strings.NewReader(ejabberdHeader+in), ReaderOptions{})
		if _, err := r.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		var err error
		for err == nil {
			_, err = r.Next()
		}
		var se *Error
		if !errors.As(err, &se) || se.Condition != want || se.Remote {
			t.Errorf("%q: err = %v, want %s", in, err, want)
		}
	}
}

// TestSecondHeaderAtOnce: a stream header sent again inside the stream
// (without a restart, and without an XML declaration, which would be
// restricted-xml) is bad-format as soon as its start tag is read, over TCP,
// while the peer keeps the connection open; before, it was taken as an
// element that swallowed every later stanza until the size limit.
func TestSecondHeaderAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const start = `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='c.localhost'>`
	io.WriteString(peer, start+"<message to='a@localhost' id='1'/>"+start+"<message to='a@localhost' id='2'/>")
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := NewReader(nc, ReaderOptions{NS: NSComponent})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := r.Next(); err != nil || string(el.Raw()) != "<message to='a@localhost' id='1'/>" {
		t.Fatalf("first stanza: %v", err)
	}
	_, err = r.Next()
	var se *Error
	if !errors.As(err, &se) || se.Condition != BadFormat || se.Remote {
		t.Fatalf("second header: got %v, want bad-format at once", err)
	}
}

// countingWriter counts Write calls and can be slowed down.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	calls  atomic.Int64
	delay  time.Duration
	failAt int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n := c.calls.Add(1)
	if c.failAt > 0 && n >= c.failAt {
		return 0, errors.New("boom")
	}
	time.Sleep(c.delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func TestWriterBatchesUnderLoad(t *testing.T) {
	cw := &countingWriter{delay: 200 * time.Microsecond}
	w := NewWriter(cw, nil)
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("a@b"), fmt.Sprint(i))
				if err := w.WriteStanza(m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	calls := cw.calls.Load()
	t.Logf("%d stanzas in %d writes", writers*each, calls)
	if calls > writers*each/10 {
		t.Errorf("%d write calls for %d stanzas: not batched", calls, writers*each)
	}
	// Everything arrived, whole and in order per writer.
	r := NewReader(io.MultiReader(strings.NewReader(prosodyHeader), bytes.NewReader(cw.buf.Bytes())), ReaderOptions{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := r.ReadStanza()
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	if n != writers*each {
		t.Errorf("read %d stanzas, want %d", n, writers*each)
	}
}

func TestWriterIdleFlushesPromptly(t *testing.T) {
	cw := &countingWriter{}
	w := NewWriter(cw, nil)
	for i := 0; i < 3; i++ {
		if err := w.WriteRaw([]byte("<a/>")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for cw.calls.Load() != int64(i+1) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := cw.calls.Load(); got != int64(i+1) {
			t.Fatalf("after %d idle writes: %d write calls", i+1, got)
		}
	}
}

func TestWriterStickyError(t *testing.T) {
	cw := &countingWriter{failAt: 2}
	w := NewWriter(cw, nil)
	_ = w.WriteRaw([]byte("<a/>"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = w.WriteRaw([]byte("<b/>"))
	if err := w.Flush(); err == nil {
		t.Fatal("no error from failed write")
	}
	if err := w.WriteRaw([]byte("<c/>")); err == nil || err.Error() != "boom" {
		t.Errorf("later write: %v", err)
	}
}

func TestPipeSession(t *testing.T) {
	a, b := net.Pipe()
	testSession(t, a, b)
}

func TestTCPSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal("listening on loopback:", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	testSession(t, a, b)
}

// testSession runs a component-style exchange between a client on ca and a
// server on cb: headers, an iq and its result, then a graceful close from
// the client that waits for the server's close.
func testSession(t *testing.T, ca, cb net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serverDone := make(chan error, 1)
	go func() {
		serverDone <- func() error {
			r := NewReader(cb, ReaderOptions{NS: NSComponent})
			w := NewWriter(cb, r)
			h, err := r.ReadHeader()
			if err != nil {
				return err
			}
			if err := w.WriteHeader(Header{NS: NSComponent, From: h.To, ID: "s1"}); err != nil {
				return err
			}
			for {
				s, err := r.ReadStanza()
				if err == io.EOF {
					return w.Close(ctx)
				}
				if err != nil {
					return err
				}
				if err := w.WriteStanza(s.Result(stanza.MustElement(`<pong xmlns='urn:x'/>`))); err != nil {
					return err
				}
			}
		}()
	}()
	r := NewReader(ca, ReaderOptions{NS: NSComponent})
	w := NewWriter(ca, r)
	if err := w.WriteHeader(Header{NS: NSComponent, To: "svc.localhost"}); err != nil {
		t.Fatal(err)
	}
	h, err := r.ReadHeader()
	if err != nil || h.ID != "s1" || h.From != "svc.localhost" {
		t.Fatalf("header %+v %v", h, err)
	}
	const n = 50
	go func() {
		for i := 0; i < n; i++ {
			iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.localhost"), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})
			iq.ID = fmt.Sprint(i)
			if err := w.WriteStanza(iq); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		s, err := r.ReadStanza()
		if err != nil {
			t.Fatal(err)
		}
		if s.Type != stanza.TypeResult || s.ID != fmt.Sprint(i) {
			t.Fatalf("reply %d: %s", i, s)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("client read after close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("client Close: %v", err)
	}
	if err := <-serverDone; err != nil {
		t.Errorf("server: %v", err)
	}
}

func TestCloseTimesOutWithoutPeer(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	r := NewReader(a, ReaderOptions{})
	w := NewWriter(a, r)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v", err)
	}
	if err := w.WriteRaw([]byte("<x/>")); err != ErrClosed {
		t.Errorf("write after Close: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, nil)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if buf.String() != CloseTag {
		t.Errorf("wrote %q", buf.String())
	}
}

// The reader copes with input arriving one byte at a time.
func TestReaderOneByte(t *testing.T) {
	in := ejabberdHeader + `<handshake/> <iq type='get' id='1' to='x.y' from='a@b/c'><q xmlns='urn:q'>t</q></iq>` +
		`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Component already connected</text></stream:error></stream:stream>`
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), ReaderOptions{NS: NSComponent})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := r.Next(); err != nil || !el.Is(NSComponent, "handshake") {
		t.Fatalf("handshake: %v", err)
	}
	s, err := r.ReadStanza()
	if err != nil || s.Payload() != `<q xmlns='urn:q'>t</q>` {
		t.Fatalf("iq: %v %v", s, err)
	}
	_, err = r.Next()
	var se *Error
	if !errors.As(err, &se) || se.Condition != Conflict || se.Text != "Component already connected" || !se.Remote {
		t.Errorf("stream error: %#v", err)
	}
}

func TestReaderLimits(t *testing.T) {
	in := prosodyHeader + `<message><body>` + strings.Repeat("x", 2000) + `</body></message>`
	r := NewReader(strings.NewReader(in), ReaderOptions{Limits: Limits{MaxElement: 1000}})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrPolicyViolation) {
		t.Errorf("oversized element: %v", err)
	}
}

func TestWriterAllocs(t *testing.T) {
	w := NewWriter(io.Discard, nil)
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("a@b"), "hi")
	raw := []byte("<presence/>")
	for i := 0; i < 100; i++ { // grow the buffers first
		_ = w.WriteStanza(m)
	}
	_ = w.Flush()
	if n := testing.AllocsPerRun(200, func() {
		_ = w.WriteStanza(m)
		_ = w.WriteRaw(raw)
		_ = w.Flush()
	}); n > 0 {
		t.Errorf("%v allocs per WriteStanza+WriteRaw+Flush", n)
	}
}

func TestElementRawAccessors(t *testing.T) {
	in := "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>" +
		`<c:message xmlns:c='jabber:client' to='a&amp;b@x' xml:lang='en' type="chat"><body/></c:message>` +
		"</stream:stream>"
	r := NewReader(strings.NewReader(in), ReaderOptions{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p, l := el.RawName(); string(p) != "c" || string(l) != "message" {
		t.Errorf("RawName = %q %q", p, l)
	}
	if v, ok := el.RawAttr("to"); !ok || string(v) != "a&amp;b@x" {
		t.Errorf("RawAttr(to) = %q %v", v, ok)
	}
	if v, ok := el.RawAttr("lang"); ok {
		t.Errorf("RawAttr(lang) found the prefixed xml:lang: %q", v)
	}
	if _, ok := el.RawAttr("from"); ok {
		t.Error("RawAttr(from) found a missing attribute")
	}
	want := [][3]string{{"xmlns", "c", "jabber:client"}, {"", "to", "a&amp;b@x"}, {"xml", "lang", "en"}, {"", "type", "chat"}}
	if el.NumAttr() != len(want) {
		t.Fatalf("NumAttr = %d, want %d", el.NumAttr(), len(want))
	}
	for i, w := range want {
		if p, l, v := el.RawAttrAt(i); string(p) != w[0] || string(l) != w[1] || string(v) != w[2] {
			t.Errorf("RawAttrAt(%d) = %q %q %q, want %q", i, p, l, v, w)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		el.RawAttr("type")
		el.RawAttrAt(3)
		el.RawName()
	}); n != 0 {
		t.Errorf("raw accessors allocate %v times", n)
	}
}

// TestWriterAbandon: Abandon returns what was queued and not handed to the
// connection, refuses stanzas afterwards, and still writes the close.
func TestWriterAbandon(t *testing.T) {
	pr, pw := io.Pipe()
	w := NewWriter(pw, nil)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		got <- b
	}()
	w.mu.Lock()
	w.running = true // hold the flusher back: everything stays queued
	w.mu.Unlock()
	for i := range 3 {
		if err := w.WriteRaw(fmt.Appendf(nil, "<message id='%d'/>", i)); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	w.running = false // Abandon waits for the flusher
	w.mu.Unlock()
	if b, n := w.Abandon(); string(b) != "<message id='0'/><message id='1'/><message id='2'/>" || n != 0 {
		t.Fatalf("Abandon = %q, %d", b, n)
	}
	if err := w.WriteRaw([]byte("<message/>")); !errors.Is(err, ErrAbandoned) {
		t.Fatalf("WriteRaw after Abandon = %v, want ErrAbandoned", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close after Abandon: %v", err)
	}
	if b := <-got; string(b) != CloseTag {
		t.Fatalf("the connection got %q, want only the closing tag", b)
	}
}

// failAfter is a connection that takes n bytes and then fails.
type failAfter struct {
	n    int
	took bytes.Buffer
}

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) <= f.n {
		f.n -= len(b)
		f.took.Write(b)
		return len(b), nil
	}
	k := f.n
	f.took.Write(b[:k])
	f.n = 0
	return k, errors.New("connection lost")
}

// TestWriterAbandonFailed: after a failed write, Abandon returns the
// failed batch with how much of it was written, followed by what queued
// behind it.
func TestWriterAbandonFailed(t *testing.T) {
	f := &failAfter{n: 5}
	w := NewWriter(f, nil)
	if err := w.WriteRaw([]byte("<a/><b/>")); err != nil {
		t.Fatal(err)
	}
	for w.Flush() == nil {
		time.Sleep(time.Millisecond)
	}
	b, n := w.Abandon()
	if string(b) != "<a/><b/>" || n != 5 || f.took.String() != "<a/><" {
		t.Fatalf("Abandon = %q, %d; the connection took %q", b, n, f.took.String())
	}
}
