package stanza

import "testing"

func TestReplyBody(t *testing.T) {
	in, err := Decode([]byte(`<message from='alice@example.org/phone' to='echo@svc.example' type='chat' id='m1'><body>hi</body></message>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"you said: hi", "<b xmlns='urn:evil'>x</b>", "1 < 2 && 3 > 2", "quote ' \" ]]>"} {
		r := in.ReplyBody(text)
		if r.From.String() != "echo@svc.example" || r.To.String() != "alice@example.org/phone" || r.ID != "m1" || r.Type != TypeChat {
			t.Fatalf("reply header %s", r)
		}
		back, err := Decode([]byte(r.String()))
		if err != nil {
			t.Fatalf("%q: reply does not decode: %v", text, err)
		}
		if got := back.Body(); got != text || len(back.Children()) != 1 {
			t.Fatalf("%q: body came back as %q (%d children)", text, got, len(back.Children()))
		}
	}
}
