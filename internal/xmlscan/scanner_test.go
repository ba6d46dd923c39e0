package xmlscan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	nsStreams   = "http://etherx.jabber.org/streams"
	hdrProsody  = `<?xml version='1.0'?><stream:stream xml:lang='en' from='pubsub.localhost' id='1b3075a7-9071-4f5c-8d8a-2c4a3e3f0c11' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>`
	hdrEjabberd = `<?xml version='1.0'?><stream:stream id='16413661769077744109' xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams' from='pubsub.localhost' xmlns='jabber:component:accept'>`
	hdrClient   = `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='pubsub.localhost'>`
)

// summary renders tokens for comparison; adjacent whitespace is merged
// because its split depends on how the bytes arrived.
func summary(tokens []string, tok *Token) []string {
	if tok.Kind == KindWhitespace && len(tokens) > 0 && strings.HasPrefix(tokens[len(tokens)-1], "whitespace ") {
		last := tokens[len(tokens)-1]
		tokens[len(tokens)-1] = last[:len(last)-1] + string(tok.Raw) + "|"
		return tokens
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s|", tok.Kind, tok.Raw)
	if tok.Kind == KindHeader || tok.Kind == KindElement {
		fmt.Fprintf(&b, "{%s}%s:%s", tok.Start.Space, tok.Start.Prefix, tok.Start.Local)
		for _, a := range tok.Start.Attrs {
			fmt.Fprintf(&b, " {%s}%s:%s=%s", a.Space, a.Prefix, a.Local, a.Value)
		}
		for _, c := range tok.Children {
			fmt.Fprintf(&b, " [{%s}%s %s]", c.Space, c.Local, tok.Raw[c.Off:c.End])
		}
	}
	return append(tokens, b.String())
}

func scanAll(r io.Reader, opts Options) ([]string, error) {
	s := New(r, opts)
	var out []string
	for {
		tok, err := s.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = summary(out, tok)
	}
}

func TestStreamTokens(t *testing.T) {
	in := hdrProsody + " <message to='a@b/c' id=\"x\"><body>hi &amp; bye</body><x xmlns='urn:x'><y/></x></message>\n\t" +
		`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>` +
		`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>trailing garbage is never read`
	got, err := scanAll(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"header " + hdrProsody[len(`<?xml version='1.0'?>`):] + "|{" + nsStreams + "}stream:stream {" + NSXML + "}xml:lang=en {}:from=pubsub.localhost {}:id=1b3075a7-9071-4f5c-8d8a-2c4a3e3f0c11 {" + NSXMLNS + "}xmlns:stream=" + nsStreams + " {" + NSXMLNS + "}:xmlns=jabber:component:accept",
		"whitespace  |",
		"element <message to='a@b/c' id=\"x\"><body>hi &amp; bye</body><x xmlns='urn:x'><y/></x></message>|{jabber:component:accept}:message {}:to=a@b/c {}:id=x [{jabber:component:accept}body <body>hi &amp; bye</body>] [{urn:x}x <x xmlns='urn:x'><y/></x>]",
		"whitespace \n\t|",
		"element <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>|{" + nsStreams + "}stream:features [{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>]",
		"element <stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>|{" + nsStreams + "}stream:error [{urn:ietf:params:xml:ns:xmpp-streams}conflict <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>]",
		"close </stream:stream>|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// validStreams are accepted whole; each is also checked under partial reads.
var validStreams = []struct {
	name string
	in   string
	opts Options
	n    int // tokens expected (whitespace merged)
}{
	{"prosody", hdrProsody + "<handshake/></stream:stream>", Options{}, 3},
	{"ejabberd", hdrEjabberd + "<handshake/></stream:stream>", Options{}, 3},
	{"no declaration", hdrClient + "<handshake>aa</handshake></stream:stream>", Options{}, 3},
	{"declaration with encoding", `<?xml version="1.0" encoding="utf-8" standalone='yes'?>` + hdrClient + "</stream:stream>", Options{}, 2},
	{"bom and newline", "\xEF\xBB\xBF<?xml version='1.0'?>\n" + hdrClient + "\n</stream:stream >", Options{}, 3},
	{"whitespace before declaration", "\n <?xml version='1.0'?>" + hdrClient + "</stream:stream>", Options{}, 2},
	{"self-closed header", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`, Options{}, 2},
	{"other prefix", `<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'><message/></s:stream>`, Options{}, 3},
	{"keepalives", hdrClient + " \n \r\n\t <a/>   <b></b>  </stream:stream>", Options{}, 7},
	{"cdata and refs", hdrClient + "<m><body><![CDATA[<not a tag> & ]] ]>]]>&#65;&#x1F600;&lt;&gt;&quot;&apos;é😀 ></body></m></stream:stream>", Options{}, 3},
	{"attr quotes", hdrClient + `<m a="it's" b='say "hi"' c = 'x&amp;y' d="&#x3C;"/></stream:stream>`, Options{}, 3},
	{"prefixed children", hdrClient + `<iq xmlns:p='urn:p' p:x='1' x='2'><p:q><p:r/></p:q><q xmlns='urn:q'/></iq></stream:stream>`, Options{}, 3},
	{"xml prefix redeclared", hdrClient + `<m xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='de'/></stream:stream>`, Options{}, 3},
	{"default namespace undeclared", hdrClient + `<m xmlns=''><x/></m></stream:stream>`, Options{}, 3},
	{"escaped namespace", hdrClient + `<m xmlns='urn:a&amp;b'><x/></m></stream:stream>`, Options{}, 3},
	{"non-ascii names", hdrClient + `<café xmlns:ü='urn:u'><ü:naïve/></café></stream:stream>`, Options{}, 3},
	{"fragment", " <message xmlns='jabber:client'/><presence/> <iq><query xmlns='q'/></iq>\n", Options{Fragment: true, DefaultNS: "jabber:server"}, 0},
}

func TestValidStreams(t *testing.T) {
	for _, tc := range validStreams {
		t.Run(tc.name, func(t *testing.T) {
			want, err := scanAll(strings.NewReader(tc.in), tc.opts)
			if err != nil {
				t.Fatalf("whole: %v", err)
			}
			if tc.n > 0 && len(want) != tc.n {
				t.Fatalf("got %d tokens, want %d:\n%s", len(want), tc.n, strings.Join(want, "\n"))
			}
			for name, r := range map[string]io.Reader{
				"one byte": iotest.OneByteReader(strings.NewReader(tc.in)),
				"half":     iotest.HalfReader(strings.NewReader(tc.in)),
				"data+err": iotest.DataErrReader(strings.NewReader(tc.in)),
			} {
				got, err := scanAll(r, tc.opts)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("%s: got\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	in := hdrClient + `<iq xmlns:p='urn:p' p:x='1' x='2' xml:lang='en'><p:q/><q xmlns='urn:q'/><r/></iq>`
	s := New(strings.NewReader(in), Options{})
	if tok, err := s.Next(); err != nil || tok.Kind != KindHeader {
		t.Fatal(tok, err)
	}
	tok, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	st := &tok.Start
	if string(st.Space) != "jabber:component:accept" || string(st.Local) != "iq" {
		t.Errorf("element {%s}%s", st.Space, st.Local)
	}
	if v, ok := st.Attr("x"); !ok || string(v) != "2" {
		t.Errorf("Attr(x) = %q %v", v, ok)
	}
	if v, ok := st.AttrNS("urn:p", "x"); !ok || string(v) != "1" {
		t.Errorf("AttrNS(urn:p, x) = %q %v", v, ok)
	}
	if v, ok := st.AttrNS(NSXML, "lang"); !ok || string(v) != "en" {
		t.Errorf("AttrNS(xml, lang) = %q %v", v, ok)
	}
	if _, ok := st.Attr("lang"); ok {
		t.Error("Attr(lang) found the prefixed xml:lang")
	}
	if _, ok := st.Attr("missing"); ok {
		t.Error("Attr(missing) found")
	}
	wantKids := []string{"urn:p q", "urn:q q", "jabber:component:accept r"}
	if len(tok.Children) != len(wantKids) {
		t.Fatalf("children %d", len(tok.Children))
	}
	for i, c := range tok.Children {
		if got := string(c.Space) + " " + string(c.Local); got != wantKids[i] {
			t.Errorf("child %d = %s, want %s", i, got, wantKids[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { st.Attr("x"); st.AttrNS(NSXML, "lang") }); n != 0 {
		t.Errorf("Attr allocates %v", n)
	}
}

func TestErrors(t *testing.T) {
	const (
		nwf = CondNotWellFormed
		rx  = CondRestrictedXML
		enc = CondUnsupportedEncoding
		pv  = CondPolicyViolation
		bf  = CondBadFormat
	)
	tests := []struct {
		name, in string
		cond     string
	}{
		// Prolog and header.
		{"doctype", `<?xml version='1.0'?><!DOCTYPE stream>` + hdrClient, rx},
		{"comment before header", `<!-- hi -->` + hdrClient, rx},
		{"pi before header", `<?foo bar?>` + hdrClient, rx},
		{"empty pi", `<?>` + hdrClient, rx},
		{"xml pi without version", `<?xml ?>` + hdrClient, nwf},
		{"second declaration", `<?xml version='1.0'?><?xml version='1.0'?>` + hdrClient, rx},
		{"declaration after text", hdrClient + `<?xml version='1.0'?>`, rx},
		// A second header mid-stream is reported at its start tag, before
		// the stanzas after it (which it would otherwise swallow).
		{"second header", hdrClient + `<message/>` + hdrClient + `<message to='a@b'/>`, bf},
		{"second header, other prefix", hdrClient + `<s:stream xmlns:s='` + nsStreams + `'>`, bf},
		{"second header, default namespace", hdrClient + `<stream xmlns='` + nsStreams + `'>`, bf},
		{"encoding latin1", `<?xml version='1.0' encoding='ISO-8859-1'?>` + hdrClient, enc},
		{"utf16 bom", "\xFE\xFF\x00<", enc},
		{"utf16le bom", "\xFF\xFE<\x00", enc},
		{"xml 1.1", `<?xml version='1.1'?>` + hdrClient, rx},
		{"bad version", `<?xml version='2'?>` + hdrClient, nwf},
		{"no version", `<?xml encoding='UTF-8'?>` + hdrClient, nwf},
		{"decl order", `<?xml encoding='UTF-8' version='1.0'?>` + hdrClient, nwf},
		{"text before header", `hello` + hdrClient, nwf},
		{"end tag first", `</stream:stream>`, nwf},
		{"header undeclared prefix", `<stream:stream xmlns='jabber:client'>`, nwf},
		{"header duplicate attr", `<stream:stream xmlns:stream='` + nsStreams + `' to='a' to='b'>`, nwf},
		// Restricted XML inside the stream.
		{"comment", hdrClient + `<m><!-- x --></m>`, rx},
		{"comment top", hdrClient + `<!-- x -->`, rx},
		{"pi", hdrClient + `<m><?php x?></m>`, rx},
		{"pi top", hdrClient + `<?xml version='1.0'?>`, rx},
		{"doctype inside", hdrClient + `<m><!DOCTYPE x></m>`, rx},
		{"entity", hdrClient + `<m>&nbsp;</m>`, rx},
		{"entity in attr", hdrClient + `<m a='&foo;'/>`, rx},
		// Well-formedness.
		{"mismatched", hdrClient + `<m><a></b></m>`, nwf},
		{"mismatched prefix", hdrClient + `<m xmlns:p='u'><p:a></a></m>`, nwf},
		{"wrong close", hdrClient + `</stream:streams>`, nwf},
		{"close other name", hdrClient + `</stream>`, nwf},
		{"attr no quotes", hdrClient + `<m a=b/>`, nwf},
		{"attr no value", hdrClient + `<m a/>`, nwf},
		{"attr no space", hdrClient + `<m a='1'b='2'/>`, nwf},
		{"lt in attr", hdrClient + `<m a='<'/>`, nwf},
		{"duplicate attr", hdrClient + `<m a='1' a='2'/>`, nwf},
		{"duplicate xmlns", hdrClient + `<m xmlns='a' xmlns='b'/>`, nwf},
		{"duplicate after resolution", hdrClient + `<m xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>`, nwf},
		{"undeclared prefix", hdrClient + `<p:m/>`, nwf},
		{"undeclared attr prefix", hdrClient + `<m p:a='1'/>`, nwf},
		{"prefix out of scope", hdrClient + `<m><a xmlns:p='u'/><p:b/></m>`, nwf},
		{"two colons", hdrClient + `<a:b:c xmlns:a='u'/>`, nwf},
		{"empty local", hdrClient + `<a: xmlns:a='u'/>`, nwf},
		{"leading colon", hdrClient + `<:a/>`, nwf},
		{"digit local", hdrClient + `<a:1 xmlns:a='u'/>`, nwf},
		{"bad name start", hdrClient + `<1a/>`, nwf},
		{"bad name char", hdrClient + `<a$b/>`, nwf},
		{"non-name unicode", hdrClient + "<a\u00D7/>", nwf},
		{"undeclare prefix", hdrClient + `<m xmlns:p=''/>`, nwf},
		{"bind xmlns prefix", hdrClient + `<m xmlns:xmlns='u'/>`, nwf},
		{"rebind xml prefix", hdrClient + `<m xmlns:xml='urn:other'/>`, nwf},
		{"bind xml namespace", hdrClient + `<m xmlns:x='http://www.w3.org/XML/1998/namespace'/>`, nwf},
		{"default xmlns namespace", hdrClient + `<m xmlns='http://www.w3.org/2000/xmlns/'/>`, nwf},
		{"xmlns element prefix", hdrClient + `<xmlns:m/>`, nwf},
		{"nul", hdrClient + "<m>\x00</m>", nwf},
		{"control", hdrClient + "<m>\x01</m>", nwf},
		{"control in attr", hdrClient + "<m a='\x1f'/>", nwf},
		{"fffe", hdrClient + "<m>\uFFFE</m>", nwf},
		{"ffff in attr", hdrClient + "<m a='\uFFFF'/>", nwf},
		{"surrogate utf8", hdrClient + "<m>\xED\xA0\x80</m>", enc},
		{"invalid utf8", hdrClient + "<m>\xC3\x28</m>", enc},
		{"overlong utf8", hdrClient + "<m>\xC0\xAF</m>", enc},
		{"invalid utf8 attr", hdrClient + "<m a='\xFF'/>", enc},
		{"invalid utf8 name", hdrClient + "<m\xFF/>", enc},
		{"charref nul", hdrClient + `<m>&#0;</m>`, nwf},
		{"charref surrogate", hdrClient + `<m>&#xD800;</m>`, nwf},
		{"charref too big", hdrClient + `<m>&#x110000;</m>`, nwf},
		{"charref bad digit", hdrClient + `<m>&#12a;</m>`, nwf},
		{"charref empty", hdrClient + `<m>&#;</m>`, nwf},
		{"bare amp", hdrClient + `<m>a & b</m>`, nwf},
		{"amp no semicolon", hdrClient + `<m>&amp</m>`, nwf},
		{"cdata end in text", hdrClient + `<m>a]]>b</m>`, nwf},
		{"bad bang", hdrClient + `<m><!foo></m>`, nwf},
		{"slash without gt", hdrClient + `<m/ >`, nwf},
		{"text at top", hdrClient + `hello`, bf},
		{"ref at top", hdrClient + `&#32;`, bf},
		{"cdata at top", hdrClient + `<![CDATA[ ]]>`, bf},
		{"fragment text", "#" + `x`, nwf},
		{"fragment end tag", "#" + `</m>`, nwf},
		{"fragment undeclared", "#" + `<p:m/>`, nwf},
		// Limits.
		{"too deep", hdrClient + strings.Repeat("<a>", 65), pv},
		{"too many attrs", hdrClient + "<m" + strings.Repeat(" a='1'", 0) + manyAttrs(65) + "/>", pv},
		{"too large", hdrClient + "<m>" + strings.Repeat("x", DefaultMaxElement) + "</m>", pv},
		{"header too large", "<stream:stream" + strings.Repeat(" ", DefaultMaxHeader) + ">", pv},
		{"too large whitespace header", strings.Repeat(" ", DefaultMaxHeader+1) + hdrClient, pv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, opts := tc.in, Options{}
			if strings.HasPrefix(in, "#") {
				in, opts = in[1:], Options{Fragment: true, DefaultNS: "jabber:client"}
			}
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = strings.NewReader(in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				_, err := scanAll(r, opts)
				var xe *Error
				if !errors.As(err, &xe) {
					t.Fatalf("oneByte=%v: got %v, want %s", oneByte, err, tc.cond)
				}
				if xe.Condition != tc.cond {
					t.Fatalf("oneByte=%v: got %v, want %s", oneByte, xe, tc.cond)
				}
				if !strings.Contains(xe.Error(), tc.cond) {
					t.Fatalf("Error() = %q", xe.Error())
				}
			}
		})
	}
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d='%d'", i, i)
	}
	return b.String()
}

func TestEOF(t *testing.T) {
	tests := []struct {
		in   string
		frag bool
		want error
	}{
		{"", false, io.EOF},
		{"", true, io.EOF},
		{"  ", true, io.EOF},
		{"<?xml version='1.0'?>", false, io.ErrUnexpectedEOF},
		{hdrClient, false, io.ErrUnexpectedEOF},
		{hdrClient + "<m>", false, io.ErrUnexpectedEOF},
		{hdrClient + "<m a='", false, io.ErrUnexpectedEOF},
		{"<m><a>é", true, io.ErrUnexpectedEOF},
		{"<m/>\n", true, io.EOF},
	}
	for _, tc := range tests {
		_, err := scanAll(strings.NewReader(tc.in), Options{Fragment: tc.frag})
		if tc.want == io.EOF {
			if err != nil {
				t.Errorf("%q: %v, want clean EOF", tc.in, err)
			}
			continue
		}
		if err != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		}
	}
	// Errors are sticky.
	s := New(strings.NewReader(hdrClient+"<m>"), Options{})
	for i := 0; i < 3; i++ {
		_, err := s.Next()
		if i > 0 && err != io.ErrUnexpectedEOF {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// errOnce returns a transient error once, in the middle of the data.
type errOnce struct {
	r    io.Reader
	at   int
	n    int
	done bool
}

var errTransient = errors.New("transient")

func (e *errOnce) Read(p []byte) (int, error) {
	if !e.done && e.n >= e.at {
		e.done = true
		return 0, errTransient
	}
	if !e.done && len(p) > e.at-e.n {
		p = p[:e.at-e.n]
	}
	n, err := e.r.Read(p)
	e.n += n
	return n, err
}

func TestTransientReadError(t *testing.T) {
	in := hdrClient + "<message><body>hello</body></message></stream:stream>"
	s := New(&errOnce{r: strings.NewReader(in), at: len(hdrClient) + 12}, Options{})
	var kinds []Kind
	sawErr := false
	for {
		tok, err := s.Next()
		if err == errTransient {
			sawErr = true
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, tok.Kind)
	}
	if !sawErr || fmt.Sprint(kinds) != "[header element close]" {
		t.Fatalf("sawErr=%v kinds=%v", sawErr, kinds)
	}
}

// countingReader counts the bytes handed out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless yields an element that never ends.
type endless struct{ head string }

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestLimitStopsReading(t *testing.T) {
	const max = 4096
	cr := &countingReader{r: &endless{head: hdrClient + "<message><body>"}}
	s := New(cr, Options{Limits: Limits{MaxElement: max}})
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Next()
	var xe *Error
	if !errors.As(err, &xe) || xe.Condition != CondPolicyViolation {
		t.Fatalf("got %v", err)
	}
	if cr.n > len(hdrClient)+max+readChunk {
		t.Fatalf("read %d bytes for a %d-byte limit", cr.n, max)
	}
	if len(s.buf) > max+readChunk {
		t.Fatalf("buffer grew to %d", len(s.buf))
	}
	// Same for the header.
	cr = &countingReader{r: &endless{head: "<stream:stream a='"}}
	s = New(cr, Options{Limits: Limits{MaxHeader: 100}})
	if _, err := s.Next(); !errors.As(err, &xe) || xe.Condition != CondPolicyViolation {
		t.Fatalf("header: got %v", err)
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxElement: 64, MaxDepth: 3, MaxAttrs: 2, MaxHeader: 200}
	ok := []string{
		"<a><b><c/></b></a>",
		"<a x='1' y='2'/>",
		"<m>" + strings.Repeat("y", 64-7) + "</m>",
	}
	bad := []string{
		"<a><b><c><d/></c></b></a>",
		"<a x='1' y='2' z='3'/>",
		"<m>" + strings.Repeat("y", 64-6) + "</m>",
	}
	for _, in := range ok {
		if _, err := scanAll(strings.NewReader(in), Options{Fragment: true, Limits: lim}); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, in := range bad {
		_, err := scanAll(strings.NewReader(in), Options{Fragment: true, Limits: lim})
		var xe *Error
		if !errors.As(err, &xe) || xe.Condition != CondPolicyViolation {
			t.Errorf("%q: %v, want policy-violation", in, err)
		}
	}
}

func TestReset(t *testing.T) {
	first := hdrClient + "<auth>x</auth>"
	second := hdrEjabberd + "<message><body>after restart</body></message>"
	s := New(strings.NewReader(first+"<leftover/>"), Options{})
	for range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	// New transport: buffered "<leftover/>" is dropped.
	s.Reset(strings.NewReader(second))
	got := kindsOf(t, s)
	if got != "header element unexpected EOF" {
		t.Fatalf("after Reset(r): %s", got)
	}
	// Same transport: buffered bytes start the new stream.
	s = New(strings.NewReader(first+second), Options{})
	for range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	s.Reset(nil)
	if got := kindsOf(t, s); got != "header element unexpected EOF" {
		t.Fatalf("after Reset(nil): %s", got)
	}
	// Reset clears a sticky error.
	s = New(strings.NewReader("<bad"), Options{Fragment: true})
	if _, err := s.Next(); err == nil {
		t.Fatal("no error")
	}
	s.Reset(strings.NewReader("<good/>"))
	if tok, err := s.Next(); err != nil || string(tok.Raw) != "<good/>" {
		t.Fatal(tok, err)
	}
}

func kindsOf(t *testing.T, s *Scanner) string {
	var out []string
	for {
		tok, err := s.Next()
		if err != nil {
			return strings.Join(append(out, err.Error()), " ")
		}
		out = append(out, tok.Kind.String())
		if tok.Kind == KindElement && !bytes.Contains(tok.Raw, []byte("after restart")) {
			t.Fatalf("unexpected element %s", tok.Raw)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	data := streamData(t)
	r := bytes.NewReader(data)
	s := New(r, Options{})
	// Warm up: one full pass grows every slice to its working size.
	for {
		if _, err := s.Next(); err != nil {
			break
		}
	}
	n := 0
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(data)
		s.Reset(r)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
			n++
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pass of %d tokens", allocs, n/6)
	}
}

func TestDefaultNamespaceScopes(t *testing.T) {
	in := `<a xmlns='u1'><b xmlns='u2'><x/></b><c/><d xmlns='u3'/><e/></a><f/><g xmlns=''><h/></g><i/>`
	got, err := scanAll(strings.NewReader(in), Options{Fragment: true, DefaultNS: "dflt"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"{u1}:a [{u2}b <b xmlns='u2'><x/></b>] [{u1}c <c/>] [{u3}d <d xmlns='u3'/>] [{u1}e <e/>]",
		"{dflt}:f",
		"{}:g [{}h <h/>]",
		"{dflt}:i",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if g := got[i][strings.Index(got[i], "|")+1:]; stripAttrs(g) != want[i] {
			t.Errorf("token %d: got %s, want %s", i, stripAttrs(g), want[i])
		}
	}
}

// stripAttrs removes the " {space}prefix:local=value" attribute parts of a
// summary line, keeping the element name and children.
func stripAttrs(s string) string {
	parts := strings.Split(s, " ")
	out := parts[:1]
	for _, p := range parts[1:] {
		if strings.HasPrefix(p, "{") && strings.Contains(p, "=") {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, " ")
}

// chunks is a reader fed by the test: each Read hands out what was fed
// (as much as fits), and errWait when nothing is left, like a socket with a
// read deadline.
type chunks struct{ data []byte }

var errWait = errors.New("would wait")

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, errWait
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestIdleBuffer checks that a scanner waiting for input with nothing
// buffered holds only its inline buffer once the peer is quiet, and that
// tokens stay intact across the switches between buffers.
func TestIdleBuffer(t *testing.T) {
	in := &chunks{}
	s := New(in, Options{})
	expect := func(kind Kind, raw string) {
		t.Helper()
		tok, err := s.Next()
		if err != nil {
			t.Fatalf("want %v %.40q, got %v", kind, raw, err)
		}
		if tok.Kind != kind || raw != "" && string(tok.Raw) != raw {
			t.Fatalf("want %v %.40q, got %v %.40q", kind, raw, tok.Kind, tok.Raw)
		}
	}
	wait := func(bufLen int) {
		t.Helper()
		if _, err := s.Next(); err != errWait {
			t.Fatalf("want errWait, got %v", err)
		}
		if len(s.buf) != bufLen {
			t.Fatalf("waiting with a buffer of %d bytes, want %d", len(s.buf), bufLen)
		}
	}
	small := "<message to='a@b'><body>hi</body></message>"
	big := "<message to='a@b'><body>" + strings.Repeat("x", 5000) + "</body></message>"
	in.data = []byte(hdrClient + small)
	expect(KindHeader, hdrClient)
	expect(KindElement, small)
	wait(smallBuf)
	// An element longer than the inline buffer, fed in pieces: a partial
	// token moves to a large buffer.
	in.data = []byte(big[:500])
	wait(initialBuf)
	in.data = []byte(big[500:])
	expect(KindElement, big)
	// The last read was large: more is likely coming, the buffer stays.
	wait(initialBuf)
	in.data = []byte(" ")
	expect(KindWhitespace, " ")
	wait(smallBuf)
	in.data = []byte(small + big + small)
	expect(KindElement, small)
	expect(KindElement, big)
	expect(KindElement, small)
	in.data = []byte("</stream:stream>")
	expect(KindClose, "")
}
