package jid

import "testing"

// The XEP-0106 §5.1 table: user input, escaped localpart.
var xep0106Examples = []struct{ in, esc string }{
	{"space cadet", `space\20cadet`},
	{`call me "ishmael"`, `call\20me\20\22ishmael\22`},
	{"at&t guy", `at\26t\20guy`},
	{"d'artagnan", `d\27artagnan`},
	{"/.fanboy", `\2f.fanboy`},
	{"::foo::", `\3a\3afoo\3a\3a`},
	{"<foo>", `\3cfoo\3e`},
	{"user@host", `user\40host`},
	{`c:\net`, `c\3a\5cnet`},
	{`c:\\net`, `c\3a\5c\5cnet`},
	{`c:\cool stuff`, `c\3a\5ccool\20stuff`},
	{`c:\5commas`, `c\3a\5c5commas`},
	// §4.2: the Wireless Village example.
	{`\3and\2is\5cool`, `\5c3and\2is\5c5cool`},
	// §4.1 rule 7: a sequence that looks escaped gets its backslash escaped.
	{`\27`, `\5c27`},
	{`\5c`, `\5c5c`},
}

func TestEscapeXEP0106(t *testing.T) {
	for _, c := range xep0106Examples {
		if got := Escape(c.in); got != c.esc {
			t.Errorf("Escape(%q) = %q; want %q", c.in, got, c.esc)
		}
		if got := Unescape(c.esc); got != c.in {
			t.Errorf("Unescape(%q) = %q; want %q", c.esc, got, c.in)
		}
		// Escaped localparts are valid JID localparts.
		if _, err := New(c.esc, "example.com", ""); err != nil {
			t.Errorf("New(%q) failed: %v", c.esc, err)
		}
	}
}

func TestEscapeExceptions(t *testing.T) {
	// §4.3: partial and unknown sequences are not modified either way.
	for _, s := range []string{`\2plus\2is\4`, `foo\bar`, `foob\41r`, `a\2F`, `\`, `x\5`, `\5C`, "plain", ""} {
		if got := Escape(s); got != s {
			t.Errorf("Escape(%q) = %q; want unchanged", s, got)
		}
		if got := Unescape(s); got != s {
			t.Errorf("Unescape(%q) = %q; want unchanged", s, got)
		}
	}
	// §3.2 and §4.1 rule 6: \20 never begins or ends an escaped localpart.
	for in, want := range map[string]string{
		" lead":       "lead",
		"trail  ":     "trail",
		"  both one ": `both\20one`,
		"   ":         "",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`\20lead`:    `\20lead`,
		`trail\20`:   `trail\20`,
		`a\20b`:      "a b",
		`\20`:        `\20`,
		`\20\20x`:    `\20 x`,
		`x\40y\5c`:   `x@y\`,
		`\5c20x`:     `\20x`,
		`d\27Art\2F`: `d'Art\2F`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q; want %q", in, got, want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, c := range xep0106Examples {
		f.Add(c.in)
		f.Add(c.esc)
	}
	f.Add(`\2plus\2is\4`)
	f.Add(` a\20 `)
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		want := trimSpaces(s)
		if got := Unescape(e); got != want {
			t.Fatalf("Unescape(Escape(%q)) = %q (escaped %q); want %q", s, got, e, want)
		}
		for i := 0; i < len(e); i++ {
			switch e[i] {
			case ' ', '"', '&', '\'', '/', ':', '<', '>', '@':
				t.Fatalf("Escape(%q) = %q keeps %q", s, e, e[i])
			}
		}
		if len(e) >= 3 && (e[:3] == `\20` || e[len(e)-3:] == `\20`) {
			t.Fatalf("Escape(%q) = %q begins or ends with \\20", s, e)
		}
		_ = Unescape(s) // never panics
	})
}

func trimSpaces(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}
