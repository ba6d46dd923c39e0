package jid

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"unsafe"
)

type parseCase struct {
	in     string
	want   string // canonical form; "" when an error is expected
	local  string
	domain string
	res    string
	part   string // expected Error.Part
	err    error  // expected reason
}

var (
	max   = strings.Repeat("a", 1023)
	over  = strings.Repeat("a", 1024)
	label = strings.Repeat("b", 63)
	// 1023 bytes of labels: 16*(63+1) = 1024, minus the final dot.
	maxDomain = strings.TrimSuffix(strings.Repeat(label+".", 16), ".")
)

var parseCases = []parseCase{
	// RFC 7622 §3.5 examples of valid JIDs.
	{in: "juliet@example.com", want: "juliet@example.com", local: "juliet", domain: "example.com"},
	{in: "juliet@example.com/foo", want: "juliet@example.com/foo", local: "juliet", domain: "example.com", res: "foo"},
	{in: "juliet@example.com/foo bar", want: "juliet@example.com/foo bar", local: "juliet", domain: "example.com", res: "foo bar"},
	{in: "juliet@example.com/foo@bar", want: "juliet@example.com/foo@bar", local: "juliet", domain: "example.com", res: "foo@bar"},
	{in: `foo\20bar@example.com`, want: `foo\20bar@example.com`, local: `foo\20bar`, domain: "example.com"},
	{in: "fussball@example.com", want: "fussball@example.com", local: "fussball", domain: "example.com"},
	{in: "fußball@example.com", want: "fußball@example.com", local: "fußball", domain: "example.com"},
	{in: "π@example.com", want: "π@example.com", local: "π", domain: "example.com"},
	{in: "Σ@example.com/foo", want: "σ@example.com/foo", local: "σ", domain: "example.com", res: "foo"},
	{in: "σ@example.com/foo", want: "σ@example.com/foo", local: "σ", domain: "example.com", res: "foo"},
	{in: "ς@example.com/foo", want: "ς@example.com/foo", local: "ς", domain: "example.com", res: "foo"},
	{in: "king@example.com/♚", want: "king@example.com/♚", local: "king", domain: "example.com", res: "♚"},
	{in: "example.com", want: "example.com", domain: "example.com"},
	{in: "example.com/foobar", want: "example.com/foobar", domain: "example.com", res: "foobar"},
	{in: "a.example.com/b@example.net", want: "a.example.com/b@example.net", domain: "a.example.com", res: "b@example.net"},

	// Splitting order (RFC 7622 §3.1): first '/', then '@' before it.
	{in: "a/b/c", want: "a/b/c", domain: "a", res: "b/c"},
	{in: "a@b/c/d@e", want: "a@b/c/d@e", local: "a", domain: "b", res: "c/d@e"},
	{in: "a/@b", want: "a/@b", domain: "a", res: "@b"},
	{in: "a@b/@", want: "a@b/@", local: "a", domain: "b", res: "@"},
	{in: "a@b/ ", want: "a@b/ ", local: "a", domain: "b", res: " "},

	// Case, width and normalization mapping.
	{in: "Juliet@Example.COM/Balcony", want: "juliet@example.com/Balcony", local: "juliet", domain: "example.com", res: "Balcony"},
	{in: "ＪＵＬＩＥＴ@ｅｘａｍｐｌｅ．ｃｏｍ/ｒ", want: "juliet@example.com/ｒ", local: "juliet", domain: "example.com", res: "ｒ"},
	{in: "\u212bngstr\u00f6m@example.com", want: "\u00e5ngstr\u00f6m@example.com", local: "\u00e5ngstr\u00f6m", domain: "example.com"},
	{in: "a@example.com/x\u00a0y", want: "a@example.com/x y", local: "a", domain: "example.com", res: "x y"},
	{in: "a@example.com/e\u0301", want: "a@example.com/\u00e9", local: "a", domain: "example.com", res: "\u00e9"},

	// Domainparts: trailing dot, IDNA, IP literals, length.
	{in: "juliet@example.com.", want: "juliet@example.com", local: "juliet", domain: "example.com"},
	{in: "example.com./r", want: "example.com/r", domain: "example.com", res: "r"},
	{in: "example.com\u3002", want: "example.com", domain: "example.com"},
	{in: "juliet@xn--bcher-kva.example", want: "juliet@bücher.example", local: "juliet", domain: "bücher.example"},
	{in: "juliet@bücher.example", want: "juliet@bücher.example", local: "juliet", domain: "bücher.example"},
	{in: "juliet@BÜCHER.example", want: "juliet@bücher.example", local: "juliet", domain: "bücher.example"},
	{in: "xn--fsqu00a.xn--0zwm56d", want: "例子.测试", domain: "例子.测试"},
	{in: "203.0.113.7", want: "203.0.113.7", domain: "203.0.113.7"},
	{in: "[::1]", want: "[::1]", domain: "[::1]"},
	{in: "u@[0:0:0:0:0:0:0:1]/r", want: "u@[::1]/r", local: "u", domain: "[::1]", res: "r"},
	{in: "[2001:DB8::1]", want: "[2001:db8::1]", domain: "[2001:db8::1]"},
	{in: "[::ffff:192.0.2.1]", want: "[::ffff:192.0.2.1]", domain: "[::ffff:192.0.2.1]"},
	{in: "x@" + maxDomain, want: "x@" + maxDomain, local: "x", domain: maxDomain},
	{in: "a1-b.c", want: "a1-b.c", domain: "a1-b.c"},
	{in: max + "@" + max + "/" + max, want: max + "@" + max + "/" + max, local: max, domain: max, res: max},

	// Errors: empty parts.
	{in: "", part: PartDomain, err: ErrEmptyDomain},
	{in: "@example.com", part: PartLocal, err: ErrEmptyLocal},
	{in: "@", part: PartLocal, err: ErrEmptyLocal},
	{in: "juliet@", part: PartDomain, err: ErrEmptyDomain},
	{in: "juliet@/r", part: PartDomain, err: ErrEmptyDomain},
	{in: "example.com/", part: PartResource, err: ErrEmptyResource},
	{in: "/res", part: PartDomain, err: ErrEmptyDomain},
	{in: ".", part: PartDomain, err: ErrEmptyDomain},

	// Errors: lengths after preparation.
	{in: over + "@example.com", part: PartLocal, err: ErrTooLong},
	{in: "example.com/" + over, part: PartResource, err: ErrTooLong},
	{in: over, part: PartDomain, err: ErrTooLong},
	{in: "x@" + maxDomain + "b", part: PartDomain, err: ErrTooLong},
	{in: strings.Repeat("Ａ", 1024) + "@x", part: PartLocal, err: ErrTooLong},

	// Errors: localpart.
	{in: `"juliet"@example.com`, part: PartLocal, err: ErrForbiddenChar},
	{in: "foo bar@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a&b@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a'b@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a:b@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "<ab>@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a＠b@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a／b@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "\u2163@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "a\tb@example.com", part: PartLocal, err: ErrForbiddenChar},
	{in: "\u05d0a@example.com", part: PartLocal, err: ErrBidi},
	{in: "\xff@example.com", part: PartLocal, err: ErrInvalidUTF8},

	// Errors: domainpart.
	{in: "a@b@c", part: PartDomain, err: ErrInvalidDomain},
	{in: "juliet@example..com", part: PartDomain, err: ErrInvalidDomain},
	{in: "juliet@.example.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "juliet@example.com..", part: PartDomain, err: ErrInvalidDomain},
	{in: "-foo.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "foo-.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "ab--cd.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "xn--abc-.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "xn--a.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "foo_bar.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "exa mple.com", part: PartDomain, err: ErrInvalidDomain},
	{in: "[::1", part: PartDomain, err: ErrInvalidDomain},
	{in: "[203.0.113.7]", part: PartDomain, err: ErrInvalidDomain},
	{in: "[fe80::1%eth0]", part: PartDomain, err: ErrInvalidDomain},
	{in: "[::1]x", part: PartDomain, err: ErrInvalidDomain},
	{in: "\u05d0a.com", part: PartDomain, err: ErrInvalidDomain},
	// Found by FuzzParse: U+2136 maps to Hebrew bet, so the mapped label
	// breaks the bidi rule although the input passed the checks.
	{in: "\u2136\u00c5", part: PartDomain, err: ErrInvalidDomain},
	{in: "a\xffb.com", part: PartDomain, err: ErrInvalidUTF8},

	// Errors: resourcepart.
	{in: "a@example.com/\u0007", part: PartResource, err: ErrForbiddenChar},
	{in: "a@example.com/\xff", part: PartResource, err: ErrInvalidUTF8},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		name := c.in
		if len(name) > 40 {
			name = name[:40]
		}
		j, err := Parse(c.in)
		if c.err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("Parse(%q) = %q, %v; want *Error", name, j, err)
				continue
			}
			if e.Part != c.part || !errors.Is(err, c.err) {
				t.Errorf("Parse(%q): got part %q error %v; want part %q reason %v", name, e.Part, err, c.part, c.err)
			}
			if !j.IsZero() {
				t.Errorf("Parse(%q) returned non-zero JID with error", name)
			}
			if !strings.Contains(err.Error(), c.part) || !strings.Contains(err.Error(), c.err.Error()) {
				t.Errorf("message %q does not name the part and reason", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): unexpected error %v", name, err)
			continue
		}
		if j.String() != c.want || j.Local() != c.local || j.Domain() != c.domain || j.Resource() != c.res {
			t.Errorf("Parse(%q) = %q (%q, %q, %q); want %q (%q, %q, %q)", name,
				j, j.Local(), j.Domain(), j.Resource(), c.want, c.local, c.domain, c.res)
		}
		// The reference (no shortcut) gives the same JID.
		ref, err := parseSlow(c.in, true)
		if err != nil || ref != j {
			t.Errorf("reference parse of %q = %q, %v; want %q", name, ref, err, j)
		}
		// Canonical form is stable.
		if again := MustParse(j.String()); again != j {
			t.Errorf("Parse(String()) of %q = %q", name, again)
		}
		// New from the parts gives the same JID.
		if n, err := New(c.local, c.domain, c.res); err != nil || n != j {
			t.Errorf("New(%q, %q, %q) = %q, %v; want %q", c.local, c.domain, c.res, n, err, j)
		}
		// ParseBytes agrees.
		if b, err := ParseBytes([]byte(c.in)); err != nil || b != j {
			t.Errorf("ParseBytes(%q) = %q, %v", name, b, err)
		}
	}
}

func TestParseBytesErrors(t *testing.T) {
	for _, c := range parseCases {
		if c.err == nil {
			continue
		}
		if _, err := ParseBytes([]byte(c.in)); !errors.Is(err, c.err) {
			t.Errorf("ParseBytes(%.40q) error %v; want %v", c.in, err, c.err)
		}
	}
}

// TestFastPathMatchesReference checks that every input the ASCII fast path
// accepts comes out of the full preparation unchanged, and that canonical
// ASCII inputs are not sent to the slow path.
func TestFastPathMatchesReference(t *testing.T) {
	const alphabet = "aZ09-._@/ \"&'<>:\\~!x\x7f\t"
	r := rand.New(rand.NewSource(7622))
	accepted := 0
	for range 30000 {
		n := 1 + r.Intn(12)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.Intn(len(alphabet))]
		}
		s := string(b)
		fast, ok := parseFast(s)
		ref, err := parseSlow(s, true)
		if got, gotErr := Parse(s); (gotErr == nil) != (err == nil) || got != ref {
			t.Fatalf("Parse(%q) = %q, %v; reference %q, %v", s, got, gotErr, ref, err)
		}
		if ok {
			accepted++
			fast.s = s
			if err != nil || ref != fast {
				t.Fatalf("fast path accepted %q as %+v; reference: %+v, %v", s, fast, ref, err)
			}
		} else if err == nil && ref.String() == s && isASCII(s) {
			t.Errorf("fast path rejected canonical ASCII %q", s)
		}
	}
	if accepted < 300 {
		t.Fatalf("only %d random inputs took the fast path; generator too weak", accepted)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestParseNoCopy(t *testing.T) {
	buf := `<message to="juliet@example.com/balcony" from="romeo@example.net/orchard">`
	sub := buf[13:39]
	j, err := Parse(sub)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(j.String()) != unsafe.StringData(sub) {
		t.Error("Parse copied a canonical substring")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(sub); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse of canonical ASCII allocates %v times", allocs)
	}
	// A canonical non-ASCII JID is not copied either.
	u := "x" + "juliet@bücher.example/r"
	j, err = Parse(u[1:])
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(j.String()) != unsafe.StringData(u[1:]) {
		t.Error("Parse copied a canonical non-ASCII string")
	}
	// Uppercase ASCII costs one allocation: the folded string.
	if allocs := testing.AllocsPerRun(100, func() { _, _ = Parse("Juliet@Example.COM./r") }); allocs != 1 {
		t.Errorf("Parse of uppercase ASCII allocates %v times; want 1", allocs)
	}
	b := []byte("juliet@example.com/r")
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ParseBytes(b) }); allocs != 1 {
		t.Errorf("ParseBytes allocates %v times; want 1", allocs)
	}
}

func TestAccessors(t *testing.T) {
	j := MustParse("juliet@example.com/balcony")
	if got := j.Bare(); got.String() != "juliet@example.com" || got != MustParse("juliet@example.com") || !got.IsBare() {
		t.Errorf("Bare() = %q", got)
	}
	if got := j.DomainJID(); got != MustParse("example.com") || got.Local() != "" {
		t.Errorf("DomainJID() = %q", got)
	}
	if j.IsBare() || j.IsZero() {
		t.Error("full JID reported bare or zero")
	}
	if !j.Equal(MustParse("Juliet@EXAMPLE.com/balcony")) || j.Equal(MustParse("juliet@example.com/Balcony")) {
		t.Error("Equal does not follow canonical comparison")
	}
	r, err := j.WithResource("orchard")
	if err != nil || r.String() != "juliet@example.com/orchard" || r.Resource() != "orchard" || r.Local() != "juliet" {
		t.Errorf("WithResource = %q, %v", r, err)
	}
	if r, err := j.WithResource(""); err != nil || r != j.Bare() {
		t.Errorf("WithResource(\"\") = %q, %v", r, err)
	}
	if r, err := j.WithResource("x\u00a0y"); err != nil || r.Resource() != "x y" {
		t.Errorf("WithResource did not prepare: %q, %v", r, err)
	}
	if _, err := j.WithResource("\u0007"); !errors.Is(err, ErrForbiddenChar) {
		t.Errorf("WithResource(bell) error %v", err)
	}
	if _, err := (JID{}).WithResource("r"); !errors.Is(err, ErrEmptyDomain) {
		t.Errorf("WithResource on zero JID: %v", err)
	}

	var z JID
	if !z.IsZero() || z.IsBare() || z.String() != "" || z.Local() != "" || z.Domain() != "" || z.Resource() != "" || !z.Bare().IsZero() {
		t.Error("zero JID is not empty")
	}
	m := map[JID]int{MustParse("a@b"): 1}
	if m[MustParse("A@B.")] != 1 {
		t.Error("JID does not work as a map key")
	}
	if got := MustParse("a@b/c").GoString(); got != `jid.MustParse("a@b/c")` {
		t.Errorf("GoString = %s", got)
	}
}

func TestNew(t *testing.T) {
	j, err := New("Juliet", "Example.COM.", "r/with@odd")
	if err != nil || j.String() != "juliet@example.com/r/with@odd" || j.Resource() != "r/with@odd" {
		t.Fatalf("New = %q, %v", j, err)
	}
	if MustParse(j.String()) != j {
		t.Error("New result does not round-trip")
	}
	for _, c := range []struct {
		l, d, r string
		err     error
	}{
		{"a@b", "example.com", "", ErrForbiddenChar},
		{"a/b", "example.com", "", ErrForbiddenChar},
		{"a", "", "", ErrEmptyDomain},
		{"a", "exa/mple", "", ErrInvalidDomain},
		{"a", "b@c", "", ErrInvalidDomain},
		{"a", "b", over, ErrTooLong},
	} {
		if _, err := New(c.l, c.d, c.r); !errors.Is(err, c.err) {
			t.Errorf("New(%q, %q, %.10q) error %v; want %v", c.l, c.d, c.r, err, c.err)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "localpart") {
			t.Errorf("recover() = %v", r)
		}
	}()
	MustParse("@example.com")
}

func TestMarshal(t *testing.T) {
	type msg struct {
		XMLName xml.Name `xml:"message"`
		To      JID      `xml:"to,attr"`
		From    JID      `xml:"from,attr"`
	}
	m := msg{To: MustParse("Juliet@Example.com/r")}
	out, err := xml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `<message to="juliet@example.com/r"></message>` {
		t.Errorf("xml.Marshal = %s", out)
	}
	var back msg
	if err := xml.Unmarshal([]byte(`<message to="juliet@example.com/r" from=""/>`), &back); err != nil {
		t.Fatal(err)
	}
	if back.To != m.To || !back.From.IsZero() {
		t.Errorf("xml.Unmarshal = %+v", back)
	}
	err = xml.Unmarshal([]byte(`<message to="@x"/>`), &back)
	if !errors.Is(err, ErrEmptyLocal) {
		t.Errorf("xml.Unmarshal of bad JID: %v", err)
	}

	type doc struct {
		A JID `json:"a"`
		B JID `json:"b"`
	}
	jo, err := json.Marshal(doc{A: MustParse("a@b/c")})
	if err != nil || string(jo) != `{"a":"a@b/c","b":""}` {
		t.Errorf("json.Marshal = %s, %v", jo, err)
	}
	var d doc
	if err := json.Unmarshal(jo, &d); err != nil || d.A != MustParse("a@b/c") || !d.B.IsZero() {
		t.Errorf("json.Unmarshal = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"a":"a@b/"}`), &d); !errors.Is(err, ErrEmptyResource) {
		t.Errorf("json.Unmarshal of bad JID: %v", err)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse(`"x"@example.com`)
	want := `jid: invalid localpart: forbidden character (RFC 7622 §3.3.1 excludes '"' from localparts)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v; want %s", err, want)
	}
	_, err = Parse("a@example.com/")
	if err == nil || err.Error() != "jid: invalid resourcepart: empty resourcepart" {
		t.Errorf("error = %v", err)
	}
}
