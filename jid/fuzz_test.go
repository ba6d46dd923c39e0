package jid

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that what it accepts is
// canonical (String then Parse gives the same JID, New from the parts too),
// and that the ASCII fast path agrees with the full PRECIS/IDNA preparation.
func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		if len(c.in) < 200 {
			f.Add(c.in)
		}
	}
	f.Add("a@b.c/d")
	f.Add("ﬀ@ß.de/Ω")
	f.Add("[::]")
	f.Add("x@xn--nxasmq6b.com")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := Parse(s)
		ref, refErr := parseSlow(s, true)
		if (err == nil) != (refErr == nil) || j != ref {
			t.Fatalf("Parse(%q) = %q, %v; reference %q, %v", s, j, err, ref, refErr)
		}
		if fj, ok := parseFast(s); ok {
			fj.s = s
			if err != nil || fj != j {
				t.Fatalf("fast path accepted %q as %+v, Parse gave %+v, %v", s, fj, j, err)
			}
		}
		if err != nil {
			if !j.IsZero() {
				t.Fatalf("Parse(%q) returned %q with error %v", s, j, err)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q) error %T is not *Error", s, err)
			}
			return
		}
		out := j.String()
		if !utf8.ValidString(out) {
			t.Fatalf("Parse(%q) = %q, not UTF-8", s, out)
		}
		for _, p := range []string{j.Local(), j.Domain(), j.Resource()} {
			if len(p) > maxPart {
				t.Fatalf("Parse(%q): part of %d bytes", s, len(p))
			}
		}
		if j.Domain() == "" {
			t.Fatalf("Parse(%q): empty domain", s)
		}
		again, err := Parse(out)
		if err != nil || again != j {
			t.Fatalf("Parse(%q) = %q, but Parse(%q) = %q, %v", s, j, out, again, err)
		}
		if again.String() != out {
			t.Fatalf("canonical %q not kept as is", out)
		}
		n, err := New(j.Local(), j.Domain(), j.Resource())
		if err != nil || n != j {
			t.Fatalf("New(parts of %q) = %q, %v", out, n, err)
		}
		if b, err := ParseBytes([]byte(s)); err != nil || b != j {
			t.Fatalf("ParseBytes(%q) = %q, %v; Parse gave %q", s, b, err, j)
		}
		if bare := j.Bare(); bare.Resource() != "" || bare.Local() != j.Local() || bare.Domain() != j.Domain() || MustParse(bare.String()) != bare {
			t.Fatalf("Bare(%q) = %q", out, bare)
		}
	})
}
