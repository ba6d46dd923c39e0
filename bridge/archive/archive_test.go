package archive

import (
	"context"
	"testing"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// TestViews: two users' views of one room are apart; history on join
// honours the request; a MAM query at another spelling of the room gets
// the messages from that spelling; the legacy id comes back.
func TestViews(t *testing.T) {
	a := &Archive{Store: &mam.Memory{}}
	canonical := jid.MustParse("#go%libera@irc.localhost")
	by := jid.MustParse("libera@irc.localhost")
	alice, bob := jid.MustParse("alice@example.com/phone"), jid.MustParse("bob@example.com/x")
	la := a.Log(alice, canonical, by)
	lb := a.Log(bob, canonical, by)
	t0 := time.Now().Add(-time.Minute)
	var first room.Entry
	for i, body := range []string{"one", "two", "three"} {
		e, err := la.Record(room.Entry{Time: t0.Add(time.Duration(i) * time.Second), Nick: "ann", Body: body, Legacy: "msg" + body})
		if err != nil || e.ID == "" {
			t.Fatalf("record: %v %+v", err, e)
		}
		if i == 0 {
			first = e
		}
	}
	lb.Record(room.Entry{Nick: "ben", Body: "only bob sees this"})
	req := room.ParseJoin(presenceWithHistory("2"))
	h := la.History(req.History)
	if len(h) != 2 || h[0].Body != "two" || h[1].Body != "three" || h[1].Legacy != "msgthree" || h[1].Nick != "ann" {
		t.Errorf("history: %+v", h)
	}
	if h := lb.History(req.History); len(h) != 1 || h[0].Body != "only bob sees this" {
		t.Errorf("bob's history: %+v", h)
	}
	if e, ok := a.Find(alice, canonical, by, first.ID); !ok || e.Body != "one" || e.Legacy != "msgone" {
		t.Errorf("find: %+v %v", e, ok)
	}
	if !a.Has(alice, canonical) || a.Has(jid.MustParse("carol@example.com"), canonical) {
		t.Error("Has")
	}
	// A MAM query at the short spelling.
	short := jid.MustParse("#go@irc.localhost")
	m := mux.New()
	m.HandleIQ("", mam.NS, "query", mux.HandlerFunc(func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return a.Serve(ctx, s, iq, canonical)
	}))
	peer := &muxtest.Loopback{Handler: m, From: alice}
	q := &mam.Query{QueryID: "q", Page: rsm.First(10)}
	el := q.Element()
	if _, err := peer.SendIQ(context.Background(), stanza.NewIQ(stanza.TypeSet, short, el)); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, st := range peer.Recorder.Sent() {
		r, ok := st.Child(mam.NS, "result")
		if !ok {
			continue
		}
		pr, err := mam.ParseResult(r.XML())
		if err != nil {
			t.Fatal(err)
		}
		if st.From != short || pr.Message.From.Bare() != short {
			t.Errorf("result from %s, forwarded from %s", st.From, pr.Message.From)
		}
		bodies = append(bodies, pr.Message.Body())
	}
	if len(bodies) != 3 || bodies[0] != "one" {
		t.Errorf("MAM: %q", bodies)
	}
}

func presenceWithHistory(max string) *stanza.Stanza {
	p := stanza.NewPresence("", jid.MustParse("#go@irc.localhost/alice"))
	p.SetPayloadElements(stanza.NewBuilder(room.NS, "x").Child("", "history").Attr("maxstanzas", max).End().Element())
	return p
}
