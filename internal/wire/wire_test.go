package wire

import "testing"

func TestInner(t *testing.T) {
	tests := []struct {
		raw, inner string
		ok         bool
	}{
		{`<a>x</a>`, "x", true},
		{`<a b='>'>y<c/></a>`, "y<c/>", true},
		{`<a b="'/>">z</a>`, "z", true},
		{`<a/>`, "", false},
		{`<a b='x'/>`, "", false},
		{`<a>`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := Inner(tt.raw)
		if got != tt.inner || ok != tt.ok {
			t.Errorf("Inner(%q) = %q %v, want %q %v", tt.raw, got, ok, tt.inner, tt.ok)
		}
		gotb, okb := Inner([]byte(tt.raw))
		if string(gotb) != tt.inner || okb != tt.ok {
			t.Errorf("Inner([]byte(%q)) = %q %v", tt.raw, gotb, okb)
		}
	}
}

func TestAppendCondition(t *testing.T) {
	got := string(AppendCondition(nil, "urn:x", "gone", "xmpp:a@b", "<t>", "en"))
	want := `<gone xmlns='urn:x'>xmpp:a@b</gone><text xmlns='urn:x' xml:lang='en'>&lt;t&gt;</text>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(AppendCondition(nil, "urn:x", "conflict", "", "", "")); got != `<conflict xmlns='urn:x'/>` {
		t.Errorf("got %s", got)
	}
}
