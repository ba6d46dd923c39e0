package privilege_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

const (
	privDomain  = "priv.localhost"  // granted roster, message, presence (and iq on Prosody)
	plainDomain = "plain.localhost" // granted nothing
)

var (
	server = jid.MustParse(servertest.LocalDomain)
	alice  = jid.MustParse("alice@localhost")
	bob    = jid.MustParse("bob@localhost")
	carol  = jid.MustParse("carol@localhost")
)

const priv2Domain = "priv2.localhost" // granted roster get only

func components() []servertest.Component {
	var cs []servertest.Component
	for _, d := range []string{privDomain, plainDomain, priv2Domain} {
		cs = append(cs, servertest.Component{Domain: d, Secret: servertest.Secret})
	}
	return cs
}

// TestIntegration checks every privilege end to end against Prosody 0.12
// with prosody-modules, ejabberd 23.01 and the embedded router (granting
// by router.Config.Privileges), with users as real c2s clients, and prints
// per server what worked and what the server answered.
func TestIntegration(t *testing.T) {
	grants := servertest.Privileges{Component: privDomain, Roster: "both", Message: "outgoing", Presence: "roster"}
	grants2 := servertest.Privileges{Component: priv2Domain, Roster: "both"}
	t.Run("prosody", func(t *testing.T) {
		g := grants
		g.IQ = map[string]string{"jabber:iq:private": "both"}
		srv := servertest.Prosody(t, servertest.ProsodyOptions{
			Components: components(), Modules: []string{"private"}, Privileges: []servertest.Privileges{g, grants2},
		})
		res := &itest.Results{}
		defer res.Print(t, "prosody")
		cases(t, srv, "prosody", res)
	})
	t.Run("ejabberd", func(t *testing.T) {
		srv := servertest.Ejabberd(t, servertest.EjabberdOptions{
			Components: components(), Privileges: []servertest.Privileges{grants, grants2},
		})
		res := &itest.Results{}
		defer res.Print(t, "ejabberd")
		cases(t, srv, "ejabberd", res)
	})
	t.Run("router", func(t *testing.T) {
		srv := itest.Router(t, router.Config{Privileges: []router.Privileges{
			{Component: privDomain, Roster: "both", Message: "outgoing", Presence: "roster", IQ: map[string]string{"urn:xmpp:ping": "get"}},
			{Component: priv2Domain, Roster: "both"},
		}}, privDomain, plainDomain, priv2Domain)
		res := &itest.Results{}
		defer res.Print(t, "router")
		cases(t, srv, "router", res)
	})
}

// pushes records the roster pushes an Entity received.
type pushes struct {
	mu   sync.Mutex
	seen []string
}

func (ps *pushes) add(_ context.Context, user jid.JID, it privilege.RosterItem) {
	ps.mu.Lock()
	ps.seen = append(ps.seen, user.String()+">"+it.JID.String()+":"+it.Subscription)
	ps.mu.Unlock()
}

func (ps *pushes) list() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.seen)
}

// setup runs a component for domain with a privilege.Entity mounted and
// reset on every link change; resets counts the changes to empty grants.
func setup(t *testing.T, srv *servertest.Server, domain string, logs *itest.LogRecords) (*privilege.Entity, *component.Component, *atomic.Int32) {
	var log *slog.Logger
	if logs != nil {
		log = slog.New(logs)
	}
	resets := &atomic.Int32{}
	p := &privilege.Entity{Logger: log, OnChange: func(g privilege.Grants) {
		if g.Version == "" {
			resets.Add(1)
		}
	}}
	m := mux.New()
	p.Register(m)
	c := itest.Component(t, srv, domain, m, log, func(component.LinkEvent) { p.Reset() })
	return p, c, resets
}

func cases(t *testing.T, srv *servertest.Server, kind string, res *itest.Results) {
	prosody, onRouter := kind == "prosody", kind == "router"
	logs := &itest.LogRecords{}
	p, c, resets := setup(t, srv, privDomain, logs)
	var ps pushes
	p.OnRosterPush = ps.add
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	res.Record(t, "advertisement", func(t *testing.T) string {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		g, err := p.Wait(wctx, server)
		if err != nil {
			t.Fatalf("no advertisement: %v", err)
		}
		want := privilege.Grants{Server: server, Version: privilege.NS1, Roster: privilege.Both,
			Message: true, Presence: privilege.RosterContacts}
		switch kind {
		case "prosody":
			want.Version, want.RosterPush = privilege.NS2, true
			want.IQ = map[string]privilege.Access{"jabber:iq:private": privilege.Both}
		case "router":
			want.Version, want.RosterPush = privilege.NS2, true
			want.IQ = map[string]privilege.Access{"urn:xmpp:ping": privilege.Get}
		}
		if !g.Equal(want) {
			t.Fatalf("grants = %v, want %v", g, want)
		}
		// A second component with other grants gets only its own.
		p2, _, _ := setup(t, srv, priv2Domain, nil)
		g2, err := p2.Wait(wctx, server)
		if err != nil {
			t.Fatalf("no advertisement for %s: %v", priv2Domain, err)
		}
		if g2.Roster != privilege.Both || g2.Message || g2.Presence != privilege.NoPresence || g2.IQ != nil {
			t.Fatalf("%s grants = %v", priv2Domain, g2)
		}
		return g.String() + "; " + priv2Domain + ": " + g2.String()
	})

	aliceC := itest.Login(t, srv, "alice", "ra")
	res.Record(t, "roster-get", func(t *testing.T) string {
		add := stanza.NewBuilder(privilege.NSRoster, "query").Child("", "item").
			Attr("jid", bob.String()).Attr("name", "Bob").TextElement("group", "Friends").Element()
		if _, err := aliceC.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, jid.JID{}, add)); err != nil {
			t.Fatalf("alice adds bob to her roster: %v", err)
		}
		// alice asks for her roster: her session becomes an interested
		// resource and gets the pushes (RFC 6121 §2.1.6).
		if _, err := aliceC.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: privilege.NSRoster, Local: "query"})); err != nil {
			t.Fatalf("alice gets her roster: %v", err)
		}
		r, err := p.Roster(ctx, c, alice)
		if err != nil {
			t.Fatalf("Roster(alice): %v", err)
		}
		i := slices.IndexFunc(r.Items, func(it privilege.RosterItem) bool { return it.JID.Equal(bob) })
		if i < 0 || r.Items[i].Name != "Bob" || !slices.Equal(r.Items[i].Groups, []string{"Friends"}) {
			t.Fatalf("Roster(alice) = %+v, want bob named Bob in Friends", r)
		}
		return fmt.Sprintf("alice's roster read on her behalf: %d item(s), bob %q %v subscription=%s",
			len(r.Items), r.Items[i].Name, r.Items[i].Groups, r.Items[i].Subscription)
	})

	res.Record(t, "roster-set", func(t *testing.T) string {
		err := p.SetRosterItem(ctx, c, alice, privilege.RosterItem{JID: carol, Name: "Carol", Groups: []string{"Work"}})
		if kind == "ejabberd" {
			// ejabberd 23.01: mod_roster looks the component's host up as a
			// vhost ({module_not_loaded,mod_roster,<<"priv.localhost">>}).
			if !errors.Is(err, stanza.ErrInternalServerError) || errors.Is(err, privilege.ErrNotGranted) {
				t.Fatalf("SetRosterItem on ejabberd = %v, want its internal-server-error (a known ejabberd bug)", err)
			}
			return fmt.Sprintf("ejabberd 23.01 bug: %v", err)
		}
		if err != nil {
			t.Fatalf("SetRosterItem: %v", err)
		}
		push := itest.Expect(t, aliceC, 5*time.Second, "the roster push for carol", func(st *stanza.Stanza) bool {
			return st.Kind == stanza.IQ && st.Type == stanza.TypeSet && strings.Contains(st.Payload(), "carol@localhost")
		})
		aliceC.Send(ctx, push.Result())
		r, err := p.Roster(ctx, c, alice)
		if err != nil {
			t.Fatalf("Roster(alice): %v", err)
		}
		if !slices.ContainsFunc(r.Items, func(it privilege.RosterItem) bool { return it.JID.Equal(carol) && it.Name == "Carol" }) {
			t.Fatalf("carol not in alice's roster after the set: %+v", r)
		}
		return "carol added to alice's roster on her behalf; alice got the roster push"
	})

	bobC := itest.Login(t, srv, "bob", "rb")
	itest.Available(t, bobC)
	res.Record(t, "message-on-behalf", func(t *testing.T) string {
		msg := stanza.NewMessage(stanza.TypeChat, bob, "hi from alice's service")
		msg.From = alice
		if err := p.SendMessage(ctx, c, msg); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		got := itest.Expect(t, bobC, 5*time.Second, "the message on alice's behalf", func(st *stanza.Stanza) bool {
			return st.Kind == stanza.Message && st.Body() != ""
		})
		if !got.From.Equal(alice) || got.Body() != "hi from alice's service" || got.Type != stanza.TypeChat {
			t.Fatalf("bob got %s", got)
		}
		return "bob got " + got.String()
	})

	res.Record(t, "presence", func(t *testing.T) string {
		carolC := itest.Login(t, srv, "carol", "rc")
		itest.Available(t, carolC)
		full := carolC.JID()
		itest.Eventually(t, 5*time.Second, "carol online", func() bool {
			on, err := p.Online(carol)
			return err == nil && slices.Contains(on, full)
		})
		if err := carolC.Send(ctx, stanza.NewPresence(stanza.TypeUnavailable, jid.JID{})); err != nil {
			t.Fatal(err)
		}
		itest.Eventually(t, 5*time.Second, "carol unavailable", func() bool {
			on, err := p.Online(carol)
			return err == nil && len(on) == 0
		})
		// Available again, then gone without an unavailable presence.
		itest.Available(t, carolC)
		itest.Eventually(t, 5*time.Second, "carol online again", func() bool {
			on, _ := p.Online(carol)
			return len(on) == 1
		})
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		carolC.Close(cctx)
		if kind == "ejabberd" {
			// ejabberd 23.01 forwards only the presences a user sends
			// (its user_send_packet hook): the unavailable presence it
			// broadcasts when a stream closes does not reach the
			// component, which keeps the resource as online.
			time.Sleep(time.Second)
			if on, _ := p.Online(carol); len(on) != 1 {
				t.Fatalf("ejabberd forwarded the unavailable presence of a closed stream after all: online %v", on)
			}
			return fmt.Sprintf("%s available, unavailable, available; closing her stream without unavailable presence is not forwarded (still online after 1s)", full)
		}
		itest.Eventually(t, 5*time.Second, "carol offline after closing her stream", func() bool {
			on, _ := p.Online(carol)
			return len(on) == 0
		})
		return fmt.Sprintf("%s available, unavailable, available, and unavailable when her stream closed", full)
	})

	res.Record(t, "privileged-iq", func(t *testing.T) string {
		if onRouter {
			// The router serves no private storage; it answers pings for
			// its accounts (XEP-0199 to the bare JID).
			ans, err := p.SendIQ(ctx, c, alice, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
			if err != nil || ans.Type != stanza.TypeResult {
				t.Fatalf("privileged ping as alice: %v %v", ans, err)
			}
			_, err = p.SendIQ(ctx, c, alice, stanza.NewIQ(stanza.TypeSet, jid.JID{}, stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
			if !errors.Is(err, privilege.ErrNotGranted) {
				t.Fatalf("privileged ping set (get only granted) = %v", err)
			}
			return "a ping run as alice answered " + ans.String() + "; set (only get granted) refused locally"
		}
		note := stanza.NewBuilder("jabber:iq:private", "query").Child("urn:xmppkit:test", "note").Text("hello").Element()
		_, err := p.SendIQ(ctx, c, alice, stanza.NewIQ(stanza.TypeSet, jid.JID{}, note))
		if kind == "ejabberd" {
			var ng *privilege.NotGrantedError
			if !errors.As(err, &ng) || ng.Refused != nil {
				t.Fatalf("SendIQ on ejabberd = %v, want not granted locally", err)
			}
			return "ejabberd 23.01 has no iq permission: refused locally (" + err.Error() + ")"
		}
		if err != nil {
			t.Fatalf("SendIQ set private: %v", err)
		}
		get := stanza.NewBuilder("jabber:iq:private", "query").Child("urn:xmppkit:test", "note").Element()
		ans, err := p.SendIQ(ctx, c, alice, stanza.NewIQ(stanza.TypeGet, jid.JID{}, get))
		if err != nil {
			t.Fatalf("SendIQ get private: %v", err)
		}
		if !strings.Contains(ans.Payload(), "hello") {
			t.Fatalf("private storage answered %s", ans)
		}
		_, err = p.SendIQ(ctx, c, alice, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "jabber:iq:version", Local: "query"}))
		if !errors.Is(err, privilege.ErrNotGranted) {
			t.Fatalf("SendIQ for a namespace not granted = %v", err)
		}
		return "stored and read alice's private XML on her behalf; a namespace not granted is refused locally"
	})

	qlogs := &itest.LogRecords{}
	q, qc, _ := setup(t, srv, plainDomain, qlogs)
	res.Record(t, "not-granted", func(t *testing.T) string {
		// The server sends nothing to a component it grants nothing.
		wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		if g, err := q.Wait(wctx, server); err == nil {
			t.Fatalf("plain.localhost got an advertisement: %v", g)
		}
		_, errRoster := q.Roster(ctx, qc, alice)
		msg := stanza.NewMessage(stanza.TypeChat, bob, "x")
		msg.From = alice
		errMsg := q.SendMessage(ctx, qc, msg)
		_, errOnline := q.Online(alice)
		for _, err := range []error{errRoster, errMsg, errOnline} {
			var ng *privilege.NotGrantedError
			if !errors.As(err, &ng) || ng.Refused != nil {
				t.Fatalf("without grants: %v, want a local NotGrantedError", err)
			}
		}
		// What the server answers when asked anyway.
		_, err := qc.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: privilege.NSRoster, Local: "query"}))
		var se *stanza.Error
		if !errors.As(err, &se) {
			t.Fatalf("roster get without the privilege: %v, want a stanza error", err)
		}
		return fmt.Sprintf("no advertisement; Roster, SendMessage, Online fail locally with ErrNotGranted; a raw roster get is answered %s %s %q",
			se.Type, se.Condition, se.Text)
	})

	res.Record(t, "forged-advertisement", func(t *testing.T) string {
		// alice claims every permission in a message to the component.
		forged := stanza.NewMessage("", jid.MustParse(plainDomain), "")
		forged.SetPayloadElements(stanza.MustElement(`<privilege xmlns='urn:xmpp:privilege:2'>` +
			`<perm access='roster' type='both'/><perm access='message' type='outgoing'/>` +
			`<perm access='presence' type='roster'/></privilege>`))
		if err := aliceC.Send(ctx, forged); err != nil {
			t.Fatal(err)
		}
		var logged string
		itest.Eventually(t, 5*time.Second, "the forged advertisement logged", func() bool {
			var ok bool
			logged, ok = qlogs.Find("not from the server")
			return ok
		})
		if g := q.Grants(server); g.Any() || g.Version != "" {
			t.Fatalf("forged advertisement believed: %v", g)
		}
		if len(q.All()) != 0 {
			t.Fatalf("grants after a forged advertisement: %v", q.All())
		}
		if _, err := q.Roster(ctx, qc, alice); !errors.Is(err, privilege.ErrNotGranted) {
			t.Fatalf("Roster after a forged advertisement = %v", err)
		}
		return "ignored, nothing granted; logged: " + logged
	})

	res.Record(t, "roster-pushes", func(t *testing.T) string {
		got := ps.list()
		if !onRouter {
			// Neither Prosody's mod_privilege (its README says so) nor
			// ejabberd 23.01 (XEP-0356 v0.2) sends them.
			if len(got) != 0 {
				t.Fatalf("%s sent roster pushes after all: %v", kind, got)
			}
			return "none sent to the component (alice's roster changed twice)"
		}
		itest.Eventually(t, 5*time.Second, "the push for carol", func() bool {
			return slices.Contains(ps.list(), "alice@localhost>carol@localhost:none")
		})
		got = ps.list()
		if !slices.Contains(got, "alice@localhost>bob@localhost:none") {
			t.Fatalf("pushes %v, want alice's bob and carol", got)
		}
		return fmt.Sprintf("the component got %d pushes: %v", len(got), got)
	})

	res.Record(t, "reconnect", func(t *testing.T) string {
		if onRouter {
			return "not run: the router is not restarted here (see TestInProcess)"
		}
		before := p.Grants(server)
		n0, r0 := resets.Load(), c.Stats().Reconnects
		t0 := time.Now()
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		itest.Eventually(t, 30*time.Second, "the grants forgotten with the link", func() bool { return resets.Load() > n0 })
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		g, err := p.Wait(wctx, server)
		if err != nil {
			t.Fatalf("no advertisement after the reconnect: %v", err)
		}
		took := time.Since(t0)
		if !g.Equal(before) || c.Stats().Reconnects == r0 {
			t.Fatalf("after the reconnect: grants %v (were %v), reconnects %d", g, before, c.Stats().Reconnects)
		}
		if _, err := p.Roster(ctx, c, alice); err != nil {
			t.Fatalf("Roster after the reconnect: %v", err)
		}
		return fmt.Sprintf("server restarted: grants forgotten at link down, advertised again and usable %v after the restart began", took.Round(time.Millisecond))
	})

	res.Record(t, "forced-iq", func(t *testing.T) string {
		// A privileged IQ the server did not grant, sent past the Entity
		// (which refuses it locally): what does the server do?
		before := c.Stats().Reconnects
		answer := forcedPrivilegedIQ(t, ctx, c)
		if !prosody {
			return kind + " answered " + answer
		}
		// Prosody's mod_privilege writes the result of session.send, the
		// text "true", after its error reply: character data between
		// top-level elements, which ends the stream (bad-format).
		itest.Eventually(t, 10*time.Second, "the link to drop and come back", func() bool {
			return c.Stats().Reconnects > before && c.Stats().State == component.StateConnected
		})
		return "Prosody answered " + answer + ", then wrote \"true\" on the stream (a mod_privilege bug): the component ended the link with bad-format and reconnected"
	})
}

// forcedPrivilegedIQ sends a privileged IQ for a namespace not granted
// (jabber:iq:version) past the Entity, and returns what the server
// answered.
func forcedPrivilegedIQ(t *testing.T, ctx context.Context, c *component.Component) string {
	inner := stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "jabber:iq:version", Local: "query"})
	inner.NS = stanza.NSClient
	env := stanza.NewBuilder(privilege.NS2, "privileged_iq").Append(stanza.MustElement(inner.String())).Element()
	_, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, env))
	var se *stanza.Error
	if !errors.As(err, &se) {
		t.Fatalf("privileged iq not granted: %v, want a stanza error", err)
	}
	return fmt.Sprintf("%s %s %q", se.Type, se.Condition, se.Text)
}
