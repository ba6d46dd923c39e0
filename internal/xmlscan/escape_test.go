package xmlscan

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUnescape(t *testing.T) {
	tests := []struct {
		in, want string
		attr     bool
		cond     string
	}{
		{in: "plain", want: "plain"},
		{in: "&amp;&lt;&gt;&quot;&apos;", want: `&<>"'`},
		{in: "&#65;&#x42;&#X43;", cond: CondNotWellFormed}, // &#X is not a hex reference
		{in: "&#65;&#x42;&#x1F600;", want: "AB😀"},
		{in: "a\r\nb\rc", want: "a\nb\nc"},
		{in: "a\r\nb\tc\nd", want: "a b c d", attr: true},
		{in: "&#xD;&#x9;", want: "\r\t", attr: true},
		{in: "x<![CDATA[<&>\r\n]]>y", want: "x<&>\ny"},
		{in: "é😀", want: "é😀"},
		{in: "a&b", cond: CondNotWellFormed},
		{in: "a&amp", cond: CondNotWellFormed},
		{in: "&nbsp;", cond: CondRestrictedXML},
		{in: "&#0;", cond: CondNotWellFormed},
		{in: "&#xFFFE;", cond: CondNotWellFormed},
		{in: "a<b", cond: CondNotWellFormed},
		{in: "<![CDATA[x", cond: CondNotWellFormed},
		{in: "a]]>b", cond: CondNotWellFormed},
		{in: "<![CDATA[x]]>", attr: true, cond: CondNotWellFormed},
		{in: "\x01", cond: CondNotWellFormed},
		{in: "\xff", cond: CondUnsupportedEncoding},
		{in: "\xe2\x82", cond: CondUnsupportedEncoding},
		{in: "<![CDATA[a\rb\r\nc\tdé]]>", want: "a\nb\nc\tdé"},
		{in: "<![CDATA[\x00]]>", cond: CondNotWellFormed},
		{in: "<![CDATA[\xff]]>", cond: CondUnsupportedEncoding},
		{in: "<![CDATA[\xef\xbf\xbe]]>", cond: CondNotWellFormed},
		{in: "&é;", cond: CondRestrictedXML},
		{in: "&a:b;", cond: CondRestrictedXML},
		{in: "&1a;", cond: CondNotWellFormed},
		{in: "&" + strings.Repeat("a", 70) + ";", cond: CondNotWellFormed},
	}
	for _, tc := range tests {
		f := Unescape
		if tc.attr {
			f = UnescapeAttr
		}
		got, err := f([]byte("prefix:"), []byte(tc.in))
		if tc.cond != "" {
			var xe *Error
			if !errors.As(err, &xe) || xe.Condition != tc.cond {
				t.Errorf("%q: got %q, %v; want %s", tc.in, got, err, tc.cond)
			}
			continue
		}
		if err != nil || string(got) != "prefix:"+tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestEscape(t *testing.T) {
	if got := string(AppendEscapedText(nil, "a<b>&c\r\n\t\"'\x00\xff\uFFFE")); got != "a&lt;b&gt;&amp;c&#xD;\n\t\"'\uFFFD\uFFFD\uFFFD" {
		t.Errorf("text: %q", got)
	}
	if got := string(AppendEscapedAttr(nil, "a<b>&c\r\n\t\"'")); got != "a&lt;b&gt;&amp;c&#xD;&#xA;&#x9;&quot;&apos;" {
		t.Errorf("attr: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() {
		buf := make([]byte, 0, 64)
		AppendEscapedText(buf, "hello & goodbye")
	}); n != 0 {
		t.Errorf("AppendEscapedText allocates %v", n)
	}
}

// FuzzEscape checks that escaping then unescaping gives back the input
// (valid XML characters only; others become U+FFFD), for text and
// attribute values, and that Unescape never panics on arbitrary input.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a<b", "x&amp;y", "\r\n\t'\"", "é😀\uFFFE", "]]>", "<![CDATA[a]]>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Unescape(nil, []byte(s))
		_, _ = UnescapeAttr(nil, []byte(s))
		want := []rune{}
		for _, r := range s {
			if !isChar(r) || r == utf8.RuneError {
				r = utf8.RuneError
			}
			want = append(want, r)
		}
		for _, attr := range []bool{false, true} {
			esc, un := AppendEscapedText, Unescape
			if attr {
				esc, un = AppendEscapedAttr, UnescapeAttr
			}
			e := esc(nil, s)
			got, err := un(nil, e)
			if err != nil {
				t.Fatalf("attr=%v: %q escaped to %q: %v", attr, s, e, err)
			}
			if string(got) != string(want) {
				t.Fatalf("attr=%v: %q -> %q -> %q", attr, s, e, got)
			}
			// The escaped form must scan as an element's content/attribute.
			var doc []byte
			if attr {
				doc = append(append([]byte("<a b='"), e...), "' c=\""...)
				doc = append(append(doc, e...), "\"/>"...)
			} else {
				doc = append(append([]byte("<a>"), e...), "</a>"...)
			}
			if _, err := ourScan(doc, Options{Fragment: true}); err != nil {
				t.Fatalf("attr=%v: %q does not scan: %v", attr, doc, err)
			}
		}
	})
}
