package privilege_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

var (
	comp  = jid.MustParse("priv.localhost")
	other = jid.MustParse("other.example")
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is an Entity mounted on a mux, fed stanzas as the component would.
type env struct {
	p   *privilege.Entity
	m   *mux.ServeMux
	rec *muxtest.Recorder
}

func newEnv(t *testing.T, p *privilege.Entity) *env {
	t.Helper()
	if p == nil {
		p = &privilege.Entity{}
	}
	if p.Logger == nil {
		p.Logger = quiet
	}
	e := &env{p: p, m: mux.New(), rec: &muxtest.Recorder{}}
	p.Register(e.m)
	return e
}

// deliver hands st to the mux as received by the component.
func (e *env) deliver(t *testing.T, raw string) {
	t.Helper()
	st, err := stanza.Decode([]byte(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if err := muxtest.Serve(context.Background(), e.m, e.rec, st); err != nil {
		t.Fatal(err)
	}
}

func (e *env) advertise(t *testing.T, perms string) {
	t.Helper()
	e.deliver(t, `<message from='localhost' to='priv.localhost'><privilege xmlns='urn:xmpp:privilege:2'>`+perms+`</privilege></message>`)
}

const allV2 = `<perm access='roster' type='both'/><perm access='message' type='outgoing'/><perm access='presence' type='roster'/>` +
	`<perm access='iq'><namespace ns='jabber:iq:private' type='both'/></perm>`

func TestAdvertisementTrust(t *testing.T) {
	for _, c := range []struct {
		name    string
		servers []jid.JID
		from    string
		to      string
		believe bool
	}{
		{name: "the parent domain", from: "localhost", to: "priv.localhost", believe: true},
		{name: "a user", from: "alice@localhost", to: "priv.localhost"},
		{name: "a user's resource", from: "alice@localhost/x", to: "priv.localhost"},
		{name: "the server with a resource", from: "localhost/x", to: "priv.localhost"},
		{name: "another domain", from: "other.example", to: "priv.localhost"},
		{name: "a sibling component", from: "pubsub.localhost", to: "priv.localhost"},
		{name: "no parent", from: "localhost", to: "localhost"},
		{name: "no from", from: "", to: "priv.localhost"},
		{name: "listed server", servers: []jid.JID{other}, from: "other.example", to: "priv.localhost", believe: true},
		{name: "parent not listed", servers: []jid.JID{other}, from: "localhost", to: "priv.localhost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var changes []privilege.Grants
			e := newEnv(t, &privilege.Entity{Servers: c.servers, OnChange: func(g privilege.Grants) { changes = append(changes, g) }})
			msg := stanza.NewMessage("", jid.MustParse(c.to), "")
			if c.from != "" {
				msg.From = jid.MustParse(c.from)
			}
			msg.SetPayloadElements(stanza.MustElement(`<privilege xmlns='urn:xmpp:privilege:2'>` + allV2 + `</privilege>`))
			e.deliver(t, msg.String())
			from := msg.From.Bare()
			if from.IsZero() {
				from = jid.MustParse("localhost")
			}
			g := e.p.Grants(from.DomainJID())
			if g.Any() != c.believe || (len(changes) == 1) != c.believe || len(e.p.All()) == 0 == c.believe {
				t.Fatalf("believed = %v (grants %v, changes %d), want %v", g.Any(), g, len(changes), c.believe)
			}
			if len(e.rec.Sent()) != 0 {
				t.Fatalf("an advertisement was answered: %v", e.rec.Sent())
			}
		})
	}
}

func TestChangesAndReset(t *testing.T) {
	var changes []string
	e := newEnv(t, &privilege.Entity{OnChange: func(g privilege.Grants) { changes = append(changes, g.String()) }})
	ch := e.p.Changed()
	done := make(chan privilege.Grants)
	go func() {
		g, _ := e.p.Wait(context.Background(), server)
		done <- g
	}()
	e.advertise(t, `<perm access='roster' type='get'/>`)
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Changed not closed by the advertisement")
	}
	if g := <-done; g.Roster != privilege.Get {
		t.Fatalf("Wait = %v", g)
	}
	e.advertise(t, `<perm access='roster' type='get'/>`) // the same again: no change
	e.advertise(t, `<perm access='roster' type='both'/>`)
	e.p.Reset()
	e.p.Reset() // nothing left: no change
	want := []string{
		"localhost (urn:xmpp:privilege:2): roster=get push",
		"localhost (urn:xmpp:privilege:2): roster=both push",
		"localhost (): nothing",
	}
	if !slices.Equal(changes, want) {
		t.Fatalf("changes:\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	if g := e.p.Grants(server); g.Version != "" || g.Any() || !g.Server.Equal(server) {
		t.Fatalf("after Reset: %v", g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.p.Wait(ctx, server); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after Reset = %v", err)
	}
}

func TestNotGrantedLocally(t *testing.T) {
	e := newEnv(t, nil)
	e.advertise(t, `<perm access='presence' type='managed_entity'/>`)
	ctx := context.Background()
	msg := stanza.NewMessage(stanza.TypeChat, bob, "x")
	msg.From = alice
	checks := map[string]error{}
	_, checks["roster get"] = e.p.Roster(ctx, e.rec, alice)
	checks["roster set"] = e.p.SetRosterItem(ctx, e.rec, alice, privilege.RosterItem{JID: bob})
	checks["message outgoing"] = e.p.SendMessage(ctx, e.rec, msg)
	_, checks["iq get jabber:iq:private"] = e.p.SendIQ(ctx, e.rec, alice, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "jabber:iq:private", Local: "query"}))
	_, checks["presence"] = e.p.Online(jid.MustParse("x@other.example"))
	for need, err := range checks {
		var ng *privilege.NotGrantedError
		if !errors.Is(err, privilege.ErrNotGranted) || !errors.As(err, &ng) || ng.Need != need || ng.Refused != nil {
			t.Errorf("%s: %v", need, err)
		}
	}
	if n := len(e.rec.Sent()); n != 0 {
		t.Fatalf("%d stanzas sent without the privilege", n)
	}
	if _, err := e.p.Online(alice); err != nil {
		t.Errorf("Online for a user of the server with managed_entity: %v", err)
	}
}

func TestBadAddresses(t *testing.T) {
	e := newEnv(t, nil)
	e.advertise(t, allV2)
	ctx := context.Background()
	if _, err := e.p.Roster(ctx, e.rec, server); !errors.Is(err, privilege.ErrBadJID) {
		t.Errorf("Roster of a domain: %v", err)
	}
	if err := e.p.SetRosterItem(ctx, e.rec, alice, privilege.RosterItem{}); !errors.Is(err, privilege.ErrBadJID) {
		t.Errorf("SetRosterItem without jid: %v", err)
	}
	msg := stanza.NewMessage(stanza.TypeChat, bob, "x")
	msg.From = jid.MustParse("alice@localhost/phone")
	if err := e.p.SendMessage(ctx, e.rec, msg); !errors.Is(err, privilege.ErrBadJID) {
		t.Errorf("SendMessage from a full JID: %v", err)
	}
	if _, err := e.p.SendIQ(ctx, e.rec, alice, stanza.NewIQ(stanza.TypeResult, jid.JID{})); err == nil {
		t.Error("SendIQ of a result: no error")
	}
	if len(e.rec.Sent()) != 0 {
		t.Fatalf("sent: %v", e.rec.Sent())
	}
}

func TestRoster(t *testing.T) {
	e := newEnv(t, nil)
	e.advertise(t, allV2)
	e.rec.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		if iq.Type == stanza.TypeSet {
			return iq.Result(), nil
		}
		return iq.Result(stanza.MustElement(`<query xmlns='jabber:iq:roster' ver='v7'><item jid='bob@localhost' name='Bob' subscription='both'><group>A</group><group>B</group></item>` +
			`<item jid='carol@localhost' ask='subscribe'/><item jid='a@b@c'/></query>`)), nil
	}
	r, err := e.p.Roster(context.Background(), e.rec, jid.MustParse("alice@localhost/phone"))
	if err != nil {
		t.Fatal(err)
	}
	want := privilege.Roster{Ver: "v7", Items: []privilege.RosterItem{
		{JID: bob, Name: "Bob", Subscription: "both", Groups: []string{"A", "B"}},
		{JID: carol, Ask: "subscribe"},
	}}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("Roster = %+v\nwant %+v", r, want)
	}
	if got := e.rec.Last().String(); !strings.Contains(got, "to='alice@localhost'") || !strings.Contains(got, "<query xmlns='jabber:iq:roster'/>") {
		t.Fatalf("sent %s", got)
	}
	err = e.p.SetRosterItem(context.Background(), e.rec, alice, privilege.RosterItem{JID: carol, Name: "C & D", Groups: []string{"<w>"}})
	if err != nil {
		t.Fatal(err)
	}
	want2 := `<query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='C &amp; D'><group>&lt;w&gt;</group></item></query>`
	if got := e.rec.Last().Payload(); got != want2 {
		t.Fatalf("roster set payload %s\nwant %s", got, want2)
	}
}

func TestRefusal(t *testing.T) {
	e := newEnv(t, nil)
	e.advertise(t, allV2)
	e.rec.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		if iq.Type == stanza.TypeGet {
			return iq.ErrorReply(stanza.NewError(stanza.Forbidden, "Query to another users is forbidden")), nil
		}
		return iq.ErrorReply(stanza.NewError(stanza.InternalServerError, "Module failed to handle the query")), nil
	}
	_, err := e.p.Roster(context.Background(), e.rec, alice)
	var ng *privilege.NotGrantedError
	if !errors.As(err, &ng) || ng.Refused == nil || !errors.Is(err, stanza.ErrForbidden) || !strings.Contains(err.Error(), "refused by localhost") {
		t.Fatalf("a forbidden answer: %v", err)
	}
	err = e.p.SetRosterItem(context.Background(), e.rec, alice, privilege.RosterItem{JID: bob})
	if errors.Is(err, privilege.ErrNotGranted) || !errors.Is(err, stanza.ErrInternalServerError) {
		t.Fatalf("an internal-server-error answer: %v", err)
	}
}

func TestSendMessage(t *testing.T) {
	for _, ns := range []string{privilege.NS1, privilege.NS2} {
		e := newEnv(t, nil)
		e.deliver(t, `<message from='localhost' to='priv.localhost'><privilege xmlns='`+ns+`'><perm access='message' type='outgoing'/></privilege></message>`)
		msg := stanza.NewMessage(stanza.TypeHeadline, bob, "")
		msg.ID = "n1"
		msg.From = alice
		msg.SetPayloadElements(stanza.MustElement(`<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'/></event>`))
		if err := e.p.SendMessage(context.Background(), e.rec, msg); err != nil {
			t.Fatal(err)
		}
		env := e.rec.Last()
		want := `<privilege xmlns='` + ns + `'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' id='n1' type='headline'>` +
			`<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'/></event></message></forwarded></privilege>`
		if env.Kind != stanza.Message || !env.To.Equal(server) || env.Type != "" || env.Payload() != want {
			t.Fatalf("%s: sent %s", ns, env)
		}
		// From the server itself.
		msg.From = server
		if err := e.p.SendMessage(context.Background(), e.rec, msg); err != nil {
			t.Fatal(err)
		}
		// OnBehalf: the user's bare JID goes through the privilege, the
		// component's own address and other servers as they are.
		s := e.p.OnBehalf(e.rec)
		for _, c := range []struct {
			from    jid.JID
			wrapped bool
		}{{alice, true}, {comp, false}, {jid.MustParse("x@other.example"), false}, {jid.MustParse("alice@localhost/r"), false}} {
			m := stanza.NewMessage(stanza.TypeChat, bob, "hi")
			m.From = c.from
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			_, wrapped := e.rec.Last().Child(ns, "privilege")
			if wrapped != c.wrapped {
				t.Errorf("OnBehalf from %s: wrapped = %v", c.from, wrapped)
			}
		}
	}
}

func TestSendIQ(t *testing.T) {
	e := newEnv(t, nil)
	e.advertise(t, allV2)
	var inner *stanza.Stanza
	e.rec.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		el, _ := iq.Child(privilege.NS2, "privileged_iq")
		var err error
		inner, err = stanza.Decode([]byte(strings.TrimSuffix(strings.TrimPrefix(el.XML(), `<privileged_iq xmlns='urn:xmpp:privilege:2'>`), `</privileged_iq>`)))
		if err != nil {
			t.Fatal(err)
		}
		ans := inner.Result(stanza.MustElement(`<query xmlns='jabber:iq:private'><note xmlns='urn:n'>hello</note></query>`))
		ans.NS = stanza.NSClient
		return iq.Result(stanza.MustElement(`<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>` + ans.String() + `</forwarded></privilege>`)), nil
	}
	req := stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.MustElement(`<query xmlns='jabber:iq:private'><note xmlns='urn:n'/></query>`))
	ans, err := e.p.SendIQ(context.Background(), e.rec, alice, req)
	if err != nil {
		t.Fatal(err)
	}
	env := e.rec.Last()
	if env.Type != stanza.TypeGet || !env.To.Equal(alice) || !inner.From.Equal(alice) || !inner.To.IsZero() || inner.ID != req.ID || inner.Type != stanza.TypeGet {
		t.Fatalf("sent %s with inner %s", env, inner)
	}
	if !strings.Contains(ans.Payload(), "hello") || ans.ID != req.ID {
		t.Fatalf("answer %s", ans)
	}
	if !req.From.IsZero() {
		t.Fatal("SendIQ changed the caller's iq")
	}
	// NS1 has no iq permission, whatever a server says.
	e.deliver(t, `<message from='localhost' to='priv.localhost'><privilege xmlns='urn:xmpp:privilege:1'><perm access='iq'><namespace ns='jabber:iq:private' type='both'/></perm></privilege></message>`)
	if _, err := e.p.SendIQ(context.Background(), e.rec, alice, req); !errors.Is(err, privilege.ErrNotGranted) {
		t.Fatalf("SendIQ under NS1: %v", err)
	}
}

func TestUnwrapIQAnswer(t *testing.T) {
	wrap := func(inner string) *stanza.Stanza {
		st, err := stanza.Decode([]byte(`<iq type='result' id='o' from='alice@localhost'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>` + inner + `</forwarded></privilege></iq>`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Prosody's answer, as on the wire.
	ans, err := privilege.UnwrapIQAnswer(wrap(`<iq to='alice@localhost' id='in1' xmlns='jabber:client' type='result'/>`), "in1")
	if err != nil || ans.ID != "in1" {
		t.Fatalf("%v %v", ans, err)
	}
	_, err = privilege.UnwrapIQAnswer(wrap(`<iq id='in1' xmlns='jabber:client' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`), "in1")
	if !errors.Is(err, stanza.ErrItemNotFound) {
		t.Fatalf("error answer: %v", err)
	}
	for name, st := range map[string]*stanza.Stanza{
		"other id":      wrap(`<iq id='x' xmlns='jabber:client' type='result'/>`),
		"a get":         wrap(`<iq id='in1' xmlns='jabber:client' type='get'><q xmlns='u'/></iq>`),
		"a message":     wrap(`<message id='in1' xmlns='jabber:client'/>`),
		"no privilege":  stanza.NewIQ(stanza.TypeResult, alice),
		"no forwarded":  wrap(``),
		"bad forwarded": wrap(`<iq xmlns='jabber:client' type='result'/>`),
	} {
		if ans, err := privilege.UnwrapIQAnswer(st, "in1"); err == nil || ans != nil {
			t.Errorf("%s: %v, %v", name, ans, err)
		}
	}
}

func TestRosterPush(t *testing.T) {
	var pushes []string
	e := newEnv(t, &privilege.Entity{OnRosterPush: func(_ context.Context, user jid.JID, it privilege.RosterItem) {
		pushes = append(pushes, user.String()+":"+it.JID.String()+":"+it.Subscription)
	}})
	push := `<iq type='set' id='p1' from='alice@localhost' to='priv.localhost'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>`
	e.deliver(t, push) // nothing granted yet
	if last := e.rec.Last(); last == nil || last.Type != stanza.TypeError || !errors.Is(last.Err(), stanza.ErrServiceUnavailable) {
		t.Fatalf("push without the privilege answered %v", last)
	}
	e.advertise(t, `<perm access='roster' type='get' push='false'/>`)
	e.deliver(t, push)
	if last := e.rec.Last(); last.Type != stanza.TypeError {
		t.Fatalf("push with push='false' answered %v", last)
	}
	e.advertise(t, `<perm access='roster' type='get'/>`)
	e.deliver(t, push)
	if last := e.rec.Last(); last.Type != stanza.TypeResult || last.ID != "p1" || !last.To.Equal(alice) {
		t.Fatalf("push answered %v", last)
	}
	e.deliver(t, `<iq type='set' id='p2' from='alice@localhost/phone' to='priv.localhost'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>`)
	e.deliver(t, `<iq type='set' id='p3' from='x@other.example' to='priv.localhost'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>`)
	e.deliver(t, `<iq type='set' id='p4' from='alice@localhost' to='priv.localhost'><query xmlns='jabber:iq:roster'><item jid='a@b@c'/></query></iq>`)
	sent := e.rec.Sent()
	for i, want := range []stanza.Condition{stanza.ServiceUnavailable, stanza.ServiceUnavailable, stanza.BadRequest} {
		got := sent[len(sent)-3+i]
		if got.Type != stanza.TypeError || got.Err().Condition != want {
			t.Errorf("answer %s, want %s", got, want)
		}
	}
	if !slices.Equal(pushes, []string{"alice@localhost:bob@localhost:remove"}) {
		t.Fatalf("pushes %v", pushes)
	}
}

func TestPresenceTracking(t *testing.T) {
	var passed int
	e := newEnv(t, &privilege.Entity{MaxPresences: 3, Presence: mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		passed++
		return nil
	})})
	pres := func(from, typ string) string {
		p := stanza.NewPresence(typ, comp)
		p.From = jid.MustParse(from)
		return p.String()
	}
	e.deliver(t, pres("alice@localhost/a", "")) // nothing granted: not recorded
	e.advertise(t, `<perm access='presence' type='managed_entity'/>`)
	if on, err := e.p.Online(alice); err != nil || len(on) != 0 {
		t.Fatalf("Online before any presence: %v %v", on, err)
	}
	for _, p := range []string{pres("alice@localhost/a", ""), pres("alice@localhost/b", ""), pres("alice@localhost/a", ""),
		pres("bob@localhost/x", ""), pres("x@other.example/y", ""), pres("alice@localhost", "")} {
		e.deliver(t, p)
	}
	on, err := e.p.Online(alice)
	if err != nil || fmt.Sprint(on) != "[alice@localhost/a alice@localhost/b]" {
		t.Fatalf("Online(alice) = %v %v", on, err)
	}
	if _, err := e.p.Online(jid.MustParse("x@other.example")); !errors.Is(err, privilege.ErrNotGranted) {
		t.Fatalf("Online of a contact elsewhere with managed_entity: %v", err)
	}
	// The table is full (3): carol is passed on, not recorded.
	e.deliver(t, pres("carol@localhost/c", ""))
	if on, _ := e.p.Online(carol); len(on) != 0 {
		t.Fatalf("recorded past MaxPresences: %v", on)
	}
	e.deliver(t, pres("alice@localhost/a", stanza.TypeUnavailable))
	e.deliver(t, pres("carol@localhost/c", ""))
	if on, _ := e.p.Online(carol); len(on) != 1 {
		t.Fatalf("carol after alice/a left: %v", on)
	}
	// roster covers contacts of other servers.
	e.advertise(t, `<perm access='presence' type='roster'/>`)
	e.deliver(t, pres("alice@localhost/b", stanza.TypeUnavailable))
	e.deliver(t, pres("x@other.example/y", ""))
	if on, err := e.p.Online(jid.MustParse("x@other.example")); err != nil || len(on) != 1 {
		t.Fatalf("Online of a contact with roster: %v %v", on, err)
	}
	// Fewer grants forget what they no longer cover.
	e.advertise(t, `<perm access='presence' type='managed_entity'/>`)
	if _, err := e.p.Online(jid.MustParse("x@other.example")); !errors.Is(err, privilege.ErrNotGranted) {
		t.Fatal("contact still covered")
	}
	e.advertise(t, `<perm access='presence' type='roster'/>`)
	if on, _ := e.p.Online(jid.MustParse("x@other.example")); len(on) != 0 {
		t.Fatalf("a contact's presence survived the narrower grant: %v", on)
	}
	e.p.Reset()
	if _, err := e.p.Online(carol); !errors.Is(err, privilege.ErrNotGranted) {
		t.Fatalf("Online after Reset: %v", err)
	}
	if passed != 12 {
		t.Fatalf("%d presences passed on to Presence, want 12", passed)
	}
	if _, err := e.p.Online(jid.JID{}); !errors.Is(err, privilege.ErrBadJID) {
		t.Fatal("Online of the zero JID")
	}
}
