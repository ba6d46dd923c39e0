package harness

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestElemReader(t *testing.T) {
	in := "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:component:accept' to='x'>" +
		"<handshake>abc</handshake> \n<message to=\"a\" from='b'><body>hi</body></message>" +
		"<presence/><iq id='1'><query xmlns='q'><iq/></query></iq></stream:stream>"
	want := []struct {
		kind int
		raw  string
	}{
		{pieceHeader, "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:component:accept' to='x'>"},
		{pieceElement, "<handshake>abc</handshake>"},
		{pieceElement, `<message to="a" from='b'><body>hi</body></message>`},
		{pieceElement, "<presence/>"},
		{pieceElement, "<iq id='1'><query xmlns='q'><iq/></query></iq>"},
		{pieceClose, "</stream:stream>"},
	}
	// One byte at a time, so that every piece arrives in fragments.
	rd := newElemReaderSize(iotest.OneByteReader(strings.NewReader(in)), 16)
	for i, w := range want {
		k, raw, err := rd.next()
		if err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if k != w.kind || string(raw) != w.raw {
			t.Errorf("piece %d: got %d %q, want %d %q", i, k, raw, w.kind, w.raw)
		}
	}
	if _, _, err := rd.next(); err != io.EOF {
		t.Errorf("after the close: %v, want EOF", err)
	}
}

func TestElemReaderErrors(t *testing.T) {
	for _, in := range []string{"text<a/>", "<a>unterminated", "<a b='1></a>"} {
		rd := newElemReader(strings.NewReader(in))
		if _, _, err := rd.next(); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestAttrAndSwap(t *testing.T) {
	el := []byte(`<message from='u@x/r' to="echo.example" id='m1' type='chat'><body>b</body></message>`)
	for name, want := range map[string]string{"from": "u@x/r", "to": "echo.example", "id": "m1", "type": "chat"} {
		if got, ok := attr(el, name); !ok || string(got) != want {
			t.Errorf("attr %s = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := attr(el, "lang"); ok {
		t.Error("attr lang found")
	}
	got := string(appendSwapped([]byte("x"), el))
	want := `x<message to='u@x/r' from="echo.example" id='m1' type='chat'><body>b</body></message>`
	if got != want {
		t.Errorf("appendSwapped:\n got %s\nwant %s", got, want)
	}
	if b, ok := innerText(el, "body"); !ok || string(b) != "b" {
		t.Errorf("innerText = %q, %v", b, ok)
	}
}

func TestVerifierRejects(t *testing.T) {
	good := AppendMessage(nil, 3, "a.example", "b.example")
	for name, mutate := range map[string]func(string) string{
		"ok":        func(s string) string { return s },
		"body":      func(s string) string { return strings.Replace(s, "lorem", "LOREM", 1) },
		"from":      func(s string) string { return strings.Replace(s, "user03", "user04", 1) },
		"to":        func(s string) string { return strings.Replace(s, "b.example", "c.example", 1) },
		"type":      func(s string) string { return strings.Replace(s, "chat", "normal", 1) },
		"id":        func(s string) string { return strings.Replace(s, "m00000003", "m00000009", 1) },
		"namespace": func(s string) string { return strings.Replace(s, "<message ", "<message xmlns='jabber:client' ", 1) },
	} {
		v := newForwardVerifier(5, "a.example", "b.example")
		err := v.check([]byte(mutate(string(good))))
		if (err == nil) != (name == "ok") {
			t.Errorf("%s: err = %v", name, err)
		}
		if name == "ok" {
			if err := v.check(good); err == nil {
				t.Error("duplicate accepted")
			}
		}
	}
}

func TestMessageSize(t *testing.T) {
	m := AppendMessage(nil, 12345, userDomain, EchoDomain)
	if len(m) < 140 || len(m) > 160 {
		t.Errorf("message is %d bytes: %s", len(m), m)
	}
}

// FuzzElemReader checks that the reader and the attribute helpers never
// panic and that every element they return is a prefix-free piece of the
// input.
func FuzzElemReader(f *testing.F) {
	f.Add([]byte("<stream:stream to='a'><message from='x' to='y'><body>z</body></message></stream:stream>"))
	f.Add([]byte("<?xml version='1.0'?><a b=\"c\"/><d e='>'></d>"))
	f.Add([]byte("<a b='1' c=2></a><x"))
	f.Add([]byte("<a/ ><b =''></b>"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := newElemReaderSize(bytes.NewReader(in), 8)
		total := 0
		for i := 0; i < 64; i++ {
			_, raw, err := rd.next()
			if err != nil {
				break
			}
			total += len(raw)
			if total > len(in) || !bytes.Contains(in, raw) {
				t.Fatalf("piece %q not in input", raw)
			}
			attr(raw, "to")
			innerText(raw, "body")
			appendSwapped(nil, raw)
		}
	})
}
