package mux_test

import (
	"context"
	"testing"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

type nopSender struct{}

func (nopSender) Send(context.Context, *stanza.Stanza) error { return nil }
func (nopSender) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, stanza.ErrServiceUnavailable
}

func benchMux() *mux.ServeMux {
	m := mux.New()
	nop := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	for _, ns := range []string{"urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items"} {
		m.HandleIQ(stanza.TypeGet, ns, "", nop)
	}
	m.HandleMessage(stanza.TypeChat, "", nop)
	m.HandleMessage(mux.AnyType, "http://jabber.org/protocol/chatstates", nop)
	m.HandlePresence(mux.AnyType, nop)
	return m
}

// BenchmarkDispatch measures routing a stanza to its handler (no reply).
func BenchmarkDispatch(b *testing.B) {
	m := benchMux()
	for _, tc := range []struct{ name, raw string }{
		{"iq", `<iq type='get' id='1' from='a@x/r' to='svc.x'><ping xmlns='urn:xmpp:ping'/></iq>`},
		{"message", `<message type='chat' from='a@x/r' to='svc.x'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`},
		{"presence", `<presence from='a@x/r' to='svc.x'/>`},
	} {
		st, err := stanza.Decode([]byte(tc.raw))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if err := m.HandleStanza(ctx, nopSender{}, st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnhandledIQ measures the service-unavailable path, including
// building the error reply.
func BenchmarkUnhandledIQ(b *testing.B) {
	m := benchMux()
	st, err := stanza.Decode([]byte(`<iq type='get' id='1' from='a@x/r' to='svc.x'><query xmlns='jabber:iq:last'/></iq>`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if err := m.HandleStanza(ctx, nopSender{}, st); err != nil {
			b.Fatal(err)
		}
	}
}
