package stanza

import (
	"errors"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`<message type='chat' to='a@b/c' id='1'><body>hi &amp; bye</body></message>`,
		`<iq type='get' id='1' to='x.y'><q xmlns='urn:q'/></iq>`,
		`<iq type='set' id='1' xmlns:p='urn:p'><p:q a="&lt;"/></iq>`,
		`<presence xml:lang='en' from='x@y'><status>z</status></presence>`,
		`<iq type='error' id='e'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:a@b</gone></error></iq>`,
		`<message xmlns='jabber:server' foo='&#x41;'/>`,
		`<message to='a@b@c'/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s1, err := Decode(b)
		var se *Error
		if err != nil && !errors.As(err, &se) {
			if s1 != nil {
				t.Fatalf("stanza returned with a non-stanza error %v", err)
			}
			return
		}
		if se != nil && se.Condition == JIDMalformed {
			return // an address was dropped: re-encoding differs by design
		}
		out := s1.AppendXML(nil)
		s2, err2 := Decode(out)
		if err2 != nil && (se == nil || !errors.Is(err2, se)) {
			t.Fatalf("re-decode of %s: %v (first: %v)", out, err2, err)
		}
		checkSame(t, s1, s2)
		_ = s1.Err()
		_ = s1.Body()
	})
}

// FuzzParseError: ParseError never panics, and an error it reads (without an
// application condition, which may depend on outer prefixes) encodes and
// reads back equal.
func FuzzParseError(f *testing.F) {
	f.Add(`<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
	f.Add(`<error type='modify' by='a@b'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:x@y</gone><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>t &amp; u</text><x xmlns='urn:app'/></error>`)
	f.Add(`<error/>`)
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := ParseError(raw)
		if err != nil || e.App != "" {
			return
		}
		e2, err := ParseError(string(e.AppendXML(nil)))
		if err != nil {
			t.Fatalf("re-parse of %s: %v", e.AppendXML(nil), err)
		}
		if e.Type == "" {
			e.Type = e.typ()
		}
		if *e2 != *e {
			t.Fatalf("round trip\n%#v\n%#v", *e, *e2)
		}
	})
}
