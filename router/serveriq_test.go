package router

import (
	"testing"

	"xmppkit.dev/stanza"
)

// TestServerIQChecks checks the router's answers to IQs addressed to its own
// domain (RFC 6120 §8.2.3): a malformed request gets bad-request (without
// id when it had none), results and errors are not answered, and the
// stream lives on.
func TestServerIQChecks(t *testing.T) {
	_, addr := newTestRouter(t, Config{Domains: []string{"localhost"}})
	a := connectRaw(t, addr, "a.localhost")
	const ping = "<ping xmlns='urn:xmpp:ping'/>"
	tests := []struct {
		name, send string
		id         string // of the reply; "-" for no reply
		typ, cond  string
	}{
		{"ping", "<iq to='localhost' id='p' type='get'>" + ping + "</iq>", "p", "result", ""},
		{"two payloads", "<iq to='localhost' id='two' type='get'>" + ping + "<query xmlns='jabber:iq:version'/></iq>", "two", "error", "bad-request"},
		{"get without payload", "<iq to='localhost' id='none' type='get'/>", "none", "error", "bad-request"},
		{"set without payload", "<iq to='localhost' id='nones' type='set'/>", "nones", "error", "bad-request"},
		{"no type", "<iq to='localhost' id='nt'>" + ping + "</iq>", "nt", "error", "bad-request"},
		{"unknown type", "<iq to='localhost' id='ut' type='fetch'>" + ping + "</iq>", "ut", "error", "bad-request"},
		{"no id", "<iq to='localhost' type='get'>" + ping + "</iq>", "", "error", "bad-request"},
		{"unknown payload", "<iq to='localhost' id='u' type='get'><q xmlns='urn:x'/></iq>", "u", "error", "service-unavailable"},
		{"result never asked for", "<iq to='localhost' id='r' type='result'/>", "-", "", ""},
		{"result with two payloads", "<iq to='localhost' id='r2' type='result'><a xmlns='urn:x'/><b xmlns='urn:x'/></iq>", "-", "", ""},
		{"error never asked for", "<iq to='localhost' id='e' type='error'><error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", "-", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.send(tc.send)
			a.send("<iq to='localhost' id='probe' type='get'>" + ping + "</iq>")
			st := a.recv()
			if tc.id != "-" {
				if st.ID != tc.id || st.Type != tc.typ || errCond(st) != tc.cond || st.From != mustJID("localhost") {
					t.Errorf("got %s, want type %s id %q %s", st, tc.typ, tc.id, tc.cond)
				}
				st = a.recv()
			}
			if st.ID != "probe" || st.Type != stanza.TypeResult {
				t.Errorf("got %s, want the probe's result", st)
			}
		})
	}
}
