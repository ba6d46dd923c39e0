package delegation_test

import (
	"context"
	"testing"

	"xmppkit.dev/delegation"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

type discard struct{}

func (discard) Send(context.Context, *stanza.Stanza) error { return nil }
func (discard) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, stanza.ErrServiceUnavailable
}

func benchMux() *mux.ServeMux {
	m := mux.New()
	m.HandleIQFunc(stanza.TypeSet, nsMAM, "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.Element{Space: nsMAM, Local: "fin"}))
	})
	(&delegation.Manager{Logger: quiet}).Register(m)
	return m
}

// BenchmarkPlainIQ is the baseline: the same query sent to the component
// directly, decoded, routed and answered.
func BenchmarkPlainIQ(b *testing.B) {
	raw := []byte(`<iq type='set' from='alice@localhost/ra' to='priv.localhost' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq>`)
	benchServe(b, raw)
}

// BenchmarkDelegatedIQ is the query as the server delegates it: the
// envelope unwrapped, the inner iq decoded and served, the answer wrapped.
func BenchmarkDelegatedIQ(b *testing.B) {
	raw := []byte(delegated(delegation.NS2, "localhost",
		`<iq type='set' from='alice@localhost/ra' xmlns='jabber:client' xml:lang='en' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq>`))
	benchServe(b, raw)
}

func benchServe(b *testing.B, raw []byte) {
	m := benchMux()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := stanza.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		m.HandleStanza(ctx, discard{}, st)
	}
}
