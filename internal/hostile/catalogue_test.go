package hostile

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// hcase is one malformed or hostile input of the catalogue.
type hcase struct {
	name string
	pre  bool   // sent in place of the stream header, before authentication
	data string // the input, with placeholders (see params.expand)
	// gen streams the input in place of data (huge or slow inputs); it
	// returns the bytes written.
	gen  func(w io.Writer, p params) (int64, error)
	eof  bool // half-close after the input
	slow bool // the reaction comes at the handshake deadline
	want want
	per  map[target]want // the reaction where it differs by target
	// skip names targets where the case does not apply, with the reason.
	skip map[target]string
	// bug names targets with a known bug in a package this test may not
	// change (see SECURITY.md): the case runs, the liveness checks apply,
	// and the table shows what it got instead of want.
	bug map[target]string
	// maxWritten, when set, bounds the bytes the peer may accept before it
	// cuts the connection.
	maxWritten int64
}

func (c *hcase) expect(tg target) want {
	if w, ok := c.per[tg]; ok {
		return w
	}
	return c.want
}

const (
	stNS   = " xmlns:stream='" + streamsNS + "'"
	pingEl = "<ping xmlns='urn:xmpp:ping'/>"
	errNS  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	total  = 100 << 20 // the "100 MB text node"
	chunk  = 32 << 10
	// maxPeakGrowth bounds the heap growth while the cases run (8 at a
	// time, each peer buffering at most maxElement plus TLS and stream
	// buffers); the 100 MB input alone would exceed it.
	maxPeakGrowth = 48 << 20
	bodyTo        = "<message to='{to}'><body>"
)

// saslPlain is a SASL PLAIN attempt (RFC 4616) for mallory with a wrong
// password; on a stream without TLS the router refuses PLAIN outright.
const saslPlain = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AG1hbGxvcnkAd3Jvbmc=</auth>"

func body(s string) string { return bodyTo + s + "</body></message>" }

func iqTo(to, attrs string) string {
	return "<iq type='get' id='bad'" + attrs + " to='" + to + "'>" + pingEl + "</iq>"
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d='x'", i)
	}
	return b.String()
}

func manyNS(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " xmlns:p%d='urn:x:%d'", i, i)
	}
	return b.String()
}

// billionLaughs is the classic exponential entity expansion in a DTD.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol0 'lol'>")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "<!ENTITY lol%d '%s'>", i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	b.WriteString("]>")
	return b.String()
}

// bigText streams a 100 MB text node, stopping when the peer cuts it off.
func bigText(w io.Writer, p params) (int64, error) {
	n, err := io.WriteString(w, p.expand(bodyTo))
	written := int64(n)
	if err != nil {
		return written, err
	}
	buf := []byte(strings.Repeat("a", chunk))
	for written < total {
		n, err := w.Write(buf)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// endlessHeader opens a stream header and sends 1 MiB of whitespace inside
// the start tag.
func endlessHeader(w io.Writer, p params) (int64, error) {
	n, err := io.WriteString(w, p.expand("<?xml version='1.0'?><stream:stream xmlns='{ns}'"+stNS+"{hto}"))
	written := int64(n)
	buf := []byte(strings.Repeat(" ", chunk))
	for err == nil && written < 1<<20 {
		n, err = w.Write(buf)
		written += int64(n)
	}
	return written, err
}

// hugeHandshake answers a component's header with a valid header and then a
// <handshake/> whose text never ends (100 MB): the component must cut it off
// at its element limit.
func hugeHandshake(w io.Writer, p params) (int64, error) {
	n, err := io.WriteString(w, header(p)+"<handshake>")
	written := int64(n)
	buf := []byte(strings.Repeat("f", chunk))
	for err == nil && written < total {
		n, err = w.Write(buf)
		written += int64(n)
	}
	return written, err
}

// slowHeader sends a valid header one byte per 100 ms (slowloris).
func slowHeader(w io.Writer, p params) (int64, error) {
	var written int64
	for _, b := range []byte(header(p)) {
		n, err := w.Write([]byte{b})
		written += int64(n)
		if err != nil {
			return written, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return written, nil
}

var (
	notWellFormed = streamErr(stream.NotWellFormed)
	restricted    = streamErr(stream.RestrictedXML)
	encoding      = streamErr(stream.UnsupportedEncoding)
	policy        = streamErr(stream.PolicyViolation)
	timeout       = streamErr(stream.ConnectionTimeout)
	badRequest    = want{stanzaError, string(stanza.BadRequest)}
	jidMalformed  = want{stanzaError, string(stanza.JIDMalformed)}
)

func catalogue() []hcase {
	return []hcase{
		// XML restrictions (RFC 6120 §11.1-§11.5).
		{name: "DTD before the header", pre: true, data: "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ELEMENT stream:stream ANY>]>{start}", want: restricted},
		{name: "external entity (XXE) declaration", pre: true, data: "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>{start}", want: restricted},
		{name: "billion laughs DTD", pre: true, data: billionLaughs() + "{start}", want: restricted},
		{name: "DOCTYPE mid-stream", data: "<!DOCTYPE message>", want: restricted},
		{name: "undefined entity reference", data: body("&xxe;"), want: restricted},
		{name: "billion laughs reference", data: body("&lol9;&lol9;"), want: restricted},
		{name: "entity reference in an attribute", data: "<message to='{to}' id='&lol9;'/>", want: restricted},
		{name: "comment before the header", pre: true, data: "<!-- hello -->{hdr}", want: restricted},
		{name: "comment between stanzas", data: "<!-- hello -->", want: restricted},
		{name: "comment inside a stanza", data: "<message to='{to}'><!-- x --><body>x</body></message>", want: restricted},
		{name: "processing instruction between stanzas", data: "<?evil payload?>", want: restricted},
		{name: "processing instruction inside a stanza", data: "<message to='{to}'><?evil payload?></message>", want: restricted},
		{name: "XML declaration mid-stream", data: "<?xml version='1.0'?>", want: restricted},
		{name: "XML version 1.1", pre: true, data: "<?xml version='1.1'?>{start}", want: restricted},
		{name: "encoding ISO-8859-1", pre: true, data: "<?xml version='1.0' encoding='ISO-8859-1'?>{start}", want: encoding},
		{name: "UTF-16 byte order mark", pre: true, data: "\xff\xfe<\x00?\x00", want: encoding},

		// Limits (RFC 6120 §13.12).
		{name: "10,000-deep nesting", data: "<message to='{to}'>" + strings.Repeat("<a>", 10000), want: policy},
		{name: "100 MB text node (streamed)", gen: bigText, want: policy, maxWritten: 32 << 20},
		{name: "oversized stanza (1 MiB body)", data: body(strings.Repeat("x", 1<<20)), want: policy},
		{name: "10,000 attributes", data: "<message to='{to}'" + manyAttrs(10000) + "/>", want: policy},
		{name: "10,000 attributes in the header", pre: true, data: "<stream:stream xmlns='{ns}'" + stNS + "{hto}{ver}" + manyAttrs(10000) + ">", want: policy},
		{name: "10,000 namespace declarations", data: "<message to='{to}'" + manyNS(10000) + "/>", want: policy},
		{name: "20 KB element before authentication", pre: true, data: "{hdr}<x xmlns='urn:x'>" + strings.Repeat("a", 20<<10) + "</x>", want: policy,
			// The router reads unauthenticated peers under Config.UnauthMaxElement (16 KiB).
			skip: map[target]string{toComponent: "a server's answer before the handshake (the component's own limits)"}},
		{name: "1 MiB element name", data: "<" + strings.Repeat("m", 1<<20) + "/>", want: policy},
		{name: "1 MiB attribute value", data: "<message to='{to}' id='" + strings.Repeat("i", 1<<20) + "'/>", want: policy},
		{name: "header that never ends (1 MiB)", pre: true, gen: endlessHeader, want: policy},
		{name: "header that never ends (silence)", pre: true, data: "<stream:stream xmlns='{ns}'" + stNS, slow: true, want: timeout},
		{name: "no header at all (silence)", pre: true, data: "", slow: true, want: timeout},
		{name: "slow sender, 1 byte per 100 ms", pre: true, gen: slowHeader, slow: true, want: timeout},

		// XML well-formedness and namespaces.
		{name: "duplicate attribute", data: "<message to='{to}' to='{to}'/>", want: notWellFormed},
		{name: "duplicate attribute in the header", pre: true, data: "<stream:stream xmlns='{ns}'" + stNS + "{hto}{hto}{ver}>", want: notWellFormed},
		{name: "duplicate expanded attribute name", data: "<message to='{to}' xmlns:a='urn:x' xmlns:b='urn:x' a:z='1' b:z='2'/>", want: notWellFormed},
		{name: "duplicate namespace declaration", data: "<message to='{to}' xmlns:a='urn:x' xmlns:a='urn:y'/>", want: notWellFormed},
		{name: "invalid UTF-8 in text", data: body("\xff\xfe"), want: encoding},
		{name: "invalid UTF-8 in an attribute", data: "<message to='{to}' id='\xc3'/>", want: encoding},
		{name: "overlong UTF-8 (C0 AF)", data: body("\xc0\xaf"), want: encoding},
		{name: "UTF-8 encoded surrogate", data: body("\xed\xa0\x80"), want: encoding},
		{name: "truncated UTF-8 in a name", data: "<mess\xe2\x82age/>", want: encoding},
		{name: "NUL byte in text", data: body("a\x00b"), want: notWellFormed},
		{name: "NUL character reference", data: body("&#0;"), want: notWellFormed},
		{name: "control character U+0001", data: body("\x01"), want: notWellFormed},
		{name: "ESC in an attribute", data: "<message to='{to}' id='\x1b[2J'/>", want: notWellFormed},
		{name: "U+FFFE noncharacter", data: body("\xef\xbf\xbe"), want: notWellFormed},
		{name: "character reference to a surrogate", data: body("&#xD800;"), want: notWellFormed},
		{name: "character reference beyond U+10FFFF", data: body("&#x110000;"), want: notWellFormed},
		{name: "empty character reference", data: body("&#x;"), want: notWellFormed},
		{name: "bare ampersand", data: body("a & b"), want: notWellFormed},
		{name: "]]> in text", data: body("]]>"), want: notWellFormed},
		{name: "< in an attribute value", data: "<message to='{to}' id='a<b'/>", want: notWellFormed},
		{name: "unquoted attribute value", data: "<message to={to}/>", want: notWellFormed},
		{name: "invalid element name", data: "<1message/>", want: notWellFormed},
		{name: "mismatched end tag", data: "<message to='{to}'><body>x</bdy></message>", want: notWellFormed},
		{name: "unclosed element at </stream:stream>", data: "<message to='{to}'><body>x</stream:stream>", want: notWellFormed},
		{name: "stray end tag", data: "</message>", want: notWellFormed},
		{name: "unclosed element, then EOF", data: "<message to='{to}'><body>", eof: true, want: justClosed},
		{name: "undeclared element prefix", data: "<foo:message to='{to}'/>", want: notWellFormed},
		{name: "undeclared attribute prefix", data: "<message to='{to}' foo:bar='x'/>", want: notWellFormed},
		{name: "rebinding the xml prefix", data: "<message to='{to}' xmlns:xml='urn:evil'/>", want: notWellFormed},
		{name: "undeclaring a prefix", data: "<message to='{to}' xmlns:p=''/>", want: notWellFormed},
		{name: "text between stanzas", data: "hello", want: streamErr(stream.BadFormat)},

		// Stream header and framing (RFC 6120 §4).
		{name: "wrong stream namespace", pre: true, data: "<stream:stream xmlns='{ns}' xmlns:stream='http://example.com/streams'{hto}{ver}>", want: streamErr(stream.InvalidNamespace)},
		{name: "wrong content namespace", pre: true, data: "<stream:stream xmlns='{wrongns}'" + stNS + "{hto}{ver}>", want: streamErr(stream.InvalidNamespace),
			per: map[target]want{toComponent: justClosed}}, // ErrBadServer: the component checks the namespace itself
		{name: "no content namespace", pre: true, data: "<stream:stream" + stNS + "{hto}{ver}>", want: streamErr(stream.InvalidNamespace)},
		{name: "undeclared stream prefix", pre: true, data: "<stream:stream xmlns='{ns}'{hto}{ver}>", want: notWellFormed},
		{name: "root element is not <stream/>", pre: true, data: "<stream:foo xmlns='{ns}'" + stNS + "{hto}{ver}>", want: streamErr(stream.BadFormat)},
		{name: "handshake before the header", pre: true, data: "<handshake>0123456789abcdef</handshake>", want: streamErr(stream.BadFormat)},
		{name: "unsupported version 2.0", pre: true, data: "<stream:stream xmlns='{ns}'" + stNS + "{hto} version='2.0'>", want: streamErr(stream.UnsupportedVersion)},
		{name: "header to an unknown domain", pre: true, data: "<stream:stream xmlns='{ns}'" + stNS + " to='nobody.example'{ver}>", want: streamErr(stream.HostUnknown),
			per: map[target]want{toComponent: justClosed}}, // a server header without id: ErrBadServer
		{name: "wrong handshake digest", pre: true, data: "{hdr}<handshake>da39a3ee5e6b4b0d3255bfef95601890afd80709</handshake>", want: streamErr(stream.NotAuthorized),
			per: map[target]want{toComponent: justClosed}}, // a non-empty <handshake/> answer: ErrBadServer
		// PLAIN without TLS is refused (encryption-required): exchanges that
		// are no password guesses end the stream after eight; wrong
		// passwords after three (TestLoginLimits).
		{name: "eight failed SASL exchanges", pre: true, data: "{hdr}" + strings.Repeat(saslPlain, 8), want: streamErr(stream.NotAuthorized),
			per: map[target]want{toC2SListener: streamErr(stream.PolicyViolation), toComponent: justClosed}},
		{name: "huge handshake answer (streamed)", pre: true, gen: hugeHandshake, want: policy, maxWritten: 32 << 20,
			skip: map[target]string{toComponentListener: "a server's answer", toC2SListener: "a server's answer"}},
		{name: "garbage after the handshake", data: "<<<\x00garbage", want: notWellFormed},
		{name: "second stream header mid-stream", data: "{start}" + body("swallowed?"), want: streamErr(stream.BadFormat)},
		{name: "garbage after </stream:stream>", data: "</stream:stream>\x00<<<\xff garbage", want: justClosed},
		{name: "stream error from the peer", data: "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", want: justClosed},
		// A client stream carries jabber:client stanzas only (RFC 6120
		// §4.9.3.22; hard-a's, issue 18 item 7).
		{name: "jabber:server stanza on a client stream", data: "<message xmlns='jabber:server' to='{to}' from='{from}'><body>x</body></message>", want: streamErr(stream.UnsupportedStanzaType),
			skip: map[target]string{toComponentListener: "client streams only", toComponent: "client streams only"}},
		{name: "component-namespace stanza on a client stream", data: "<iq xmlns='jabber:component:accept' type='get' id='c' to='{to}'>" + pingEl + "</iq>", want: streamErr(stream.UnsupportedStanzaType),
			skip: map[target]string{toComponentListener: "client streams only", toComponent: "client streams only"}},
		{name: "unknown top-level element", data: "<foo xmlns='urn:example:evil'/>", want: streamErr(stream.UnsupportedStanzaType),
			per: map[target]want{toComponent: stayAlive}}, // ignored, counted in Stats.IgnoredElements

		// Stanzas (RFC 6120 §8).
		{name: "IQ with two payloads", data: "<iq type='get' id='two' to='{to}'>" + pingEl + "<query xmlns='jabber:iq:version'/></iq>", want: badRequest},
		{name: "IQ get without payload", data: "<iq type='get' id='none' to='{to}'/>", want: badRequest},
		{name: "IQ without type", data: "<iq id='nt' to='{to}'>" + pingEl + "</iq>", want: badRequest,
			per: map[target]want{toComponent: stayAlive}}, // dropped with a log record: only get/set must be answered
		{name: "IQ of unknown type", data: "<iq type='fetch' id='ut' to='{to}'>" + pingEl + "</iq>", want: badRequest,
			per: map[target]want{toComponent: stayAlive}},
		{name: "IQ without id", data: "<iq type='get' to='{to}'>" + pingEl + "</iq>", want: badRequest,
			// The router answers bad-request without id (RFC 6120 §8.1.3: the
			// reply has the request's id only when it had one); the component
			// drops it with a log record: its reply could not be matched.
			per: map[target]want{toComponent: stayAlive}},
		{name: "result for an IQ never sent", data: "<iq type='result' id='never-sent' to='{to}'/>", want: stayAlive},
		{name: "error for an IQ never sent", data: "<iq type='error' id='never-sent' to='{to}'><error type='cancel'><bad-request xmlns='" + errNS + "'/></error></iq>", want: stayAlive},
		{name: "spoofed from", data: iqTo("{to}", " from='admin@victim.example'"), want: want{stanzaError, string(stanza.Forbidden)},
			per: map[target]want{toC2SListener: streamErr(stream.InvalidFrom), toComponent: stayAlive}},
		{name: "malformed from", data: iqTo("{to}", " from='a@@b'"), want: jidMalformed,
			// A client's from that is not its address, malformed or not, ends
			// the stream (RFC 6120 §8.1.2.1, §4.9.3.9).
			per: map[target]want{toC2SListener: streamErr(stream.InvalidFrom)}},
		{name: "malformed to", data: iqTo("a@b@c", ""), want: jidMalformed},
		{name: "to with an empty localpart", data: iqTo("@{to}", ""), want: jidMalformed},
		{name: "to of 3,000 bytes", data: iqTo(strings.Repeat("a", 3000)+"@{to}", ""), want: jidMalformed},
		{name: "to with a space in the localpart", data: iqTo("a b@{to}", ""), want: jidMalformed},
		{name: "component stanza without to", data: "<iq type='get' id='nt'>" + pingEl + "</iq>", want: badRequest,
			skip: map[target]string{toC2SListener: "a client's stanza without to is for its account", toComponent: "a server's stanza without to is for the component"}},
	}
}

// TestCatalogue sends every case to the router's XEP-0114 listener, its
// client listener, and (from a fake server) to a component, and checks the
// reaction, that a well-behaved connection still round-trips, that the
// input was cut off in bounded memory, and prints the table.
func TestCatalogue(t *testing.T) {
	cases := catalogue()
	if len(cases) < 60 {
		t.Fatalf("catalogue has %d cases, want at least 60", len(cases))
	}
	heap0 := heapInuse()
	e := newEnv(t, len(cases))
	// Sample the heap while the cases run: no input may make a peer buffer
	// it (the 100 MB text node above all).
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()

	type job struct {
		i  int
		tg target
	}
	results := make([][3]*result, len(cases))
	var mu sync.Mutex
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				c := &cases[j.i]
				if _, skip := c.skip[j.tg]; skip {
					continue
				}
				var r result
				if j.tg == toComponent {
					r = runComponent(j.i, c)
				} else {
					r = e.runRouter(j.tg, j.i, c)
				}
				mu.Lock()
				results[j.i][j.tg] = &r
				mu.Unlock()
			}
		}()
	}
	// Slow cases first, so that they overlap with the rest.
	for _, slow := range []bool{true, false} {
		for i := range cases {
			if cases[i].slow == slow {
				for _, tg := range targets {
					jobs <- job{i, tg}
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	close(stopSampling)
	<-sampled

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%-3s %-40s | %-28s | %-28s | %-28s\n", "#", "case", toComponentListener, toC2SListener, toComponent)
	pass, run, bugs := 0, 0, 0
	for i := range cases {
		c := &cases[i]
		fmt.Fprintf(&tbl, "%-3d %-40.40s", i+1, c.name)
		for _, tg := range targets {
			r := results[i][tg]
			cell := ""
			switch {
			case r == nil:
				cell = "n/a"
			default:
				run++
				ok := true
				w := c.expect(tg)
				bug, known := c.bug[tg]
				switch {
				case r.got != w && known:
					t.Logf("known bug: %s → %s: got %v (%s), want %v: %s", c.name, tg, r.got, r.detail, w, bug)
				case r.got != w:
					ok = false
					t.Errorf("%s → %s: got %v (%s), want %v", c.name, tg, r.got, r.detail, w)
				case known:
					t.Logf("%s → %s: known bug %q seems fixed: remove it from the catalogue", c.name, tg, bug)
				}
				if r.healthy != nil {
					ok = false
					t.Errorf("%s → %s: the well-behaved connection failed afterwards: %v", c.name, tg, r.healthy)
				}
				if c.maxWritten > 0 && r.written > c.maxWritten {
					ok = false
					t.Errorf("%s → %s: the peer took %d bytes before cutting off, want ≤ %d", c.name, tg, r.written, c.maxWritten)
				}
				cell = r.got.String()
				if c.maxWritten > 0 {
					cell += fmt.Sprintf(" (%.1f MB)", float64(r.written)/1e6)
				}
				switch {
				case !ok:
					cell = "FAIL " + cell
				case known && r.got != w:
					cell = "BUG " + cell
					bugs++
				default:
					pass++
				}
			}
			fmt.Fprintf(&tbl, " | %-28.28s", cell)
		}
		tbl.WriteByte('\n')
	}
	heap1 := heapInuse()
	fmt.Fprintf(&tbl, "%d cases, %d runs: %d as expected, %d known bugs (BUG: reaction shown, liveness checked); HeapInuse before %.1f MB, peak %.1f MB, after %.1f MB\n",
		len(cases), run, pass, bugs, float64(heap0)/1e6, float64(peak.Load())/1e6, float64(heap1)/1e6)
	t.Log(tbl.String())
	if p := peak.Load(); p > heap0+maxPeakGrowth {
		t.Errorf("HeapInuse peaked at %d bytes while the cases ran (%d before): some input was buffered", p, heap0)
	}
	if heap1 > heap0+32<<20 {
		t.Errorf("HeapInuse grew from %d to %d bytes over the catalogue", heap0, heap1)
	}
}
