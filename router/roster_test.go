package router

import (
	"errors"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// subscribe makes from subscribe to to's presence and to approve it
// (RFC 6121 §3.1), waiting for the subscribed to reach from.
func subscribe(t *testing.T, r *Router, from, to *Client) {
	t.Helper()
	ctx := ctxT(t)
	if err := from.Send(ctx, stanza.NewPresence(stanza.TypeSubscribe, to.JID().Bare())); err != nil {
		t.Fatal(err)
	}
	if err := to.Send(ctx, stanza.NewPresence(stanza.TypeSubscribed, from.JID().Bare())); err != nil {
		t.Fatal(err)
	}
	if s := r.subscription(to.JID().Bare(), from.JID().Bare()); !s.from() {
		t.Fatalf("%v's subscription to %v: %s", to.JID().Bare(), from.JID().Bare(), s)
	}
	if s := r.subscription(from.JID().Bare(), to.JID().Bare()); !s.to() {
		t.Fatalf("%v's subscription to %v: %s", from.JID().Bare(), to.JID().Bare(), s)
	}
}

// TestAccountIQGate (issue 18 item 13): disco#info to a nonexistent or
// offline account's bare JID was answered with an account identity. The
// router answers on an account's behalf (RFC 6121 §8.5.2.1.3) only to the
// account itself and to the contacts subscribed to its presence (as
// Prosody's mod_disco); anyone else, and any query to an account that does
// not exist (RFC 6121 §8.5.1), gets service-unavailable, the same answer,
// so that existence does not leak.
func TestAccountIQGate(t *testing.T) {
	r, _ := newTestRouter(t, Config{Users: map[string]string{"carol@localhost": "pw"}})
	alice := connect(t, r, "alice@localhost/a")
	bob := connect(t, r, "bob@localhost/b")
	ctx := ctxT(t)
	unavailable := func(who *Client, to string) {
		t.Helper()
		_, err := disco.GetInfo(ctx, who, jid.MustParse(to), "")
		if !errors.Is(err, stanza.ErrServiceUnavailable) {
			t.Errorf("%v: disco#info to %s: %v, want service-unavailable", who.JID(), to, err)
		}
		if _, err := who.SendIQ(ctx, pingIQ(to)); !errors.Is(err, stanza.ErrServiceUnavailable) {
			t.Errorf("%v: ping to %s: %v, want service-unavailable", who.JID(), to, err)
		}
	}
	unavailable(bob, "nobody@localhost")   // no such account
	unavailable(bob, "carol@localhost")    // exists (Config.Users), offline, bob is a stranger
	unavailable(bob, "alice@localhost")    // online, bob is a stranger
	unavailable(alice, "nobody@localhost") // no such account, whoever asks
	// The account itself.
	if info, err := disco.GetInfo(ctx, alice, jid.MustParse("alice@localhost"), ""); err != nil || len(info.Identities) != 1 || info.Identities[0].Category != "account" {
		t.Errorf("alice's own account: %+v, %v", info, err)
	}
	// A subscribed contact, online or not.
	subscribe(t, r, bob, alice)
	if info, err := disco.GetInfo(ctx, bob, jid.MustParse("alice@localhost"), ""); err != nil || len(info.Identities) != 1 {
		t.Errorf("subscribed bob: %+v, %v", info, err)
	}
	alice.Close()
	if _, err := bob.SendIQ(ctx, pingIQ("alice@localhost")); err != nil {
		t.Errorf("subscribed bob pings offline alice's account: %v", err)
	}
}

func pingIQ(to string) *stanza.Stanza {
	return stanza.NewIQ(stanza.TypeGet, jid.MustParse(to), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})
}

// rosterGet asks c's roster (RFC 6121 §2.2), which makes c interested in
// pushes.
func rosterGet(t *testing.T, c *Client) []RosterItem {
	t.Helper()
	res, err := c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: nsRoster, Local: "query"}))
	if err != nil {
		t.Fatalf("%v: roster get: %v", c.JID(), err)
	}
	return parseItems(t, res)
}

func parseItems(t *testing.T, st *stanza.Stanza) []RosterItem {
	t.Helper()
	var q struct {
		Items []struct {
			JID          string   `xml:"jid,attr"`
			Name         string   `xml:"name,attr"`
			Subscription string   `xml:"subscription,attr"`
			Ask          string   `xml:"ask,attr"`
			Approved     string   `xml:"approved,attr"`
			Groups       []string `xml:"group"`
		} `xml:"item"`
	}
	if err := st.UnmarshalChild(nsRoster, "query", &q); err != nil {
		t.Fatalf("roster payload of %v: %v", st, err)
	}
	var out []RosterItem
	for _, it := range q.Items {
		out = append(out, RosterItem{JID: jid.MustParse(it.JID), Name: it.Name, Subscription: Subscription(it.Subscription),
			Ask: it.Ask == "subscribe", Approved: it.Approved == "true", Groups: it.Groups})
	}
	return out
}

// rosterSet sends a roster set with the item XML and returns the error.
func rosterSet(t *testing.T, c *Client, item string) error {
	t.Helper()
	_, err := c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeSet, jid.JID{}, stanza.MustElement("<query xmlns='jabber:iq:roster'>"+item+"</query>")))
	return err
}

// expectPush returns the next roster push for c (RFC 6121 §2.1.6).
func expectPush(t *testing.T, c *Client) RosterItem {
	t.Helper()
	st := recvKind(t, c, stanza.IQ)
	if st.Type != stanza.TypeSet || (!st.From.IsZero() && st.From != c.JID().Bare()) {
		t.Fatalf("%v: push %v", c.JID(), st)
	}
	items := parseItems(t, st)
	if len(items) != 1 {
		t.Fatalf("%v: push with %d items", c.JID(), len(items))
	}
	return items[0]
}

// expectPresence returns the next presence for c and checks its type and
// from.
func expectPresence(t *testing.T, c *Client, typ, from string) *stanza.Stanza {
	t.Helper()
	st := recvKind(t, c, stanza.Presence)
	if st.Type != typ || st.From.String() != from {
		t.Fatalf("%v got %v, want presence type %q from %s", c.JID(), st, typ, from)
	}
	return st
}

func send(t *testing.T, c *Client, st *stanza.Stanza) {
	t.Helper()
	if err := c.Send(ctxT(t), st); err != nil {
		t.Fatal(err)
	}
}

func presence(typ, to string) *stanza.Stanza {
	var j jid.JID
	if to != "" {
		j = jid.MustParse(to)
	}
	return stanza.NewPresence(typ, j)
}

// TestRosterSubscriptionLifecycle walks RFC 6121 §2 and §3 between two
// local accounts with in-memory clients: roster get, set and pushes; a
// subscription requested, approved both ways (none, to, from, both, with
// ask); presence broadcast to subscribers and probes on initial presence;
// unsubscribe and removal.
func TestRosterSubscriptionLifecycle(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	// Every change reaches the watchers (for XEP-0356 roster pushes).
	var watched []string
	r.watchRoster(func(user jid.JID, item RosterItem, removed bool) {
		watched = append(watched, user.String()+" "+item.JID.String()+" "+string(item.Subscription))
	})
	alice := connect(t, r, "alice@localhost/a")
	other := connect(t, r, "alice@localhost/other") // never asks for the roster
	bob := connect(t, r, "bob@localhost/b")
	available(t, alice, "")
	available(t, bob, "")
	drain(other)
	if items := rosterGet(t, alice); len(items) != 0 {
		t.Fatalf("new roster %v", items)
	}
	rosterGet(t, bob)

	// §2.3: a roster set, pushed to the interested resource only.
	if err := rosterSet(t, alice, "<item jid='bob@localhost' name='Bob'><group>Friends</group></item>"); err != nil {
		t.Fatal(err)
	}
	if it := expectPush(t, alice); it.JID.String() != "bob@localhost" || it.Name != "Bob" || it.Subscription != SubscriptionNone || len(it.Groups) != 1 {
		t.Fatalf("push %+v", it)
	}
	expectNone(t, other)

	// §3.1: alice asks bob; pending out, bob gets the request from her bare JID.
	send(t, alice, presence(stanza.TypeSubscribe, "bob@localhost"))
	if it := expectPush(t, alice); !it.Ask || it.Subscription != SubscriptionNone {
		t.Fatalf("after subscribe: %+v", it)
	}
	expectPresence(t, bob, stanza.TypeSubscribe, "alice@localhost")
	// bob approves: his item from, hers to; she gets the approval and his presence.
	send(t, bob, presence(stanza.TypeSubscribed, "alice@localhost"))
	if it := expectPush(t, bob); it.Subscription != SubscriptionFrom {
		t.Fatalf("bob's item after approving: %+v", it)
	}
	if it := expectPush(t, alice); it.Subscription != SubscriptionTo || it.Ask {
		t.Fatalf("alice's item after approval: %+v", it)
	}
	expectPresence(t, alice, stanza.TypeSubscribed, "bob@localhost")
	expectPresence(t, alice, "", "bob@localhost/b")

	// bob's presence now reaches alice; hers does not reach bob (she has
	// no subscription from him).
	send(t, bob, presence("", ""))
	expectPresence(t, bob, "", "bob@localhost/b") // the echo
	expectPresence(t, alice, "", "bob@localhost/b")
	send(t, alice, presence("", ""))
	expectPresence(t, alice, "", "alice@localhost/a") // the echo
	expectNone(t, bob)

	// The other way round: both.
	send(t, bob, presence(stanza.TypeSubscribe, "alice@localhost"))
	expectPush(t, bob)
	expectPresence(t, alice, stanza.TypeSubscribe, "bob@localhost")
	send(t, alice, presence(stanza.TypeSubscribed, "bob@localhost"))
	if it := expectPush(t, alice); it.Subscription != SubscriptionBoth {
		t.Fatalf("alice after approving bob: %+v", it)
	}
	if it := expectPush(t, bob); it.Subscription != SubscriptionBoth {
		t.Fatalf("bob after alice's approval: %+v", it)
	}
	drain(bob)

	// §4.2: a new resource's initial presence probes the contacts; the
	// answer reaches that resource.
	phone := connect(t, r, "alice@localhost/phone")
	send(t, phone, presence("", ""))
	expectPresence(t, phone, "", "alice@localhost/phone")
	seen := map[string]bool{}
	for range 3 { // alice/a's presence, bob's answer to the probe, in either order
		p := recvKind(t, phone, stanza.Presence)
		seen[p.From.String()] = true
		if len(seen) == 2 {
			break
		}
	}
	if !seen["bob@localhost/b"] || !seen["alice@localhost/a"] {
		t.Fatalf("phone got presence from %v", seen)
	}
	expectPresence(t, bob, "", "alice@localhost/phone") // bob is subscribed to alice now
	drain(alice)
	drain(bob)

	// §3.3: alice unsubscribes from bob's presence.
	send(t, alice, presence(stanza.TypeUnsubscribe, "bob@localhost"))
	if it := expectPush(t, alice); it.Subscription != SubscriptionFrom {
		t.Fatalf("alice after unsubscribe: %+v", it)
	}
	if it := expectPush(t, bob); it.Subscription != SubscriptionTo {
		t.Fatalf("bob after alice unsubscribed: %+v", it)
	}
	expectPresence(t, bob, stanza.TypeUnsubscribe, "alice@localhost")

	// §2.5: alice removes bob: bob's subscription to her is cancelled too.
	drain(alice)
	if err := rosterSet(t, alice, "<item jid='bob@localhost' subscription='remove'/>"); err != nil {
		t.Fatal(err)
	}
	if it := expectPush(t, alice); it.Subscription != "remove" {
		t.Fatalf("removal push %+v", it)
	}
	if it := expectPush(t, bob); it.Subscription != SubscriptionNone {
		t.Fatalf("bob after the removal: %+v", it)
	}
	expectPresence(t, bob, stanza.TypeUnsubscribed, "alice@localhost")
	if items := r.Roster(jid.MustParse("alice@localhost")); len(items) != 0 {
		t.Errorf("alice's roster after the removal: %+v", items)
	}
	if len(watched) < 10 || watched[0] != "alice@localhost bob@localhost none" || watched[len(watched)-1] != "bob@localhost alice@localhost none" {
		t.Errorf("watched %q", watched)
	}
}

// TestRosterErrors: the roster set errors of RFC 6121 §2.3.3, §2.5.3, and
// a roster is its account's own.
func TestRosterErrors(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	alice := connect(t, r, "alice@localhost/a")
	bob := connect(t, r, "bob@localhost/b")
	for _, tc := range []struct{ item, cond string }{
		{"<item jid='x@localhost'/><item jid='y@localhost'/>", "bad-request"},
		{"", "bad-request"},
		{"<item jid='a@@b'/>", "bad-request"},
		{"<item jid='x@localhost'><group>g</group><group>g</group></item>", "bad-request"},
		{"<item jid='x@localhost'><group></group></item>", "not-acceptable"},
		{"<item jid='alice@localhost'/>", "not-allowed"},
		{"<item jid='nobody@localhost' subscription='remove'/>", "item-not-found"},
	} {
		if err := rosterSet(t, alice, tc.item); condOf(err) != tc.cond {
			t.Errorf("roster set %s: %v, want %s", tc.item, err, tc.cond)
		}
	}
	_, err := bob.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost"), stanza.Element{Space: nsRoster, Local: "query"}))
	if condOf(err) != "forbidden" {
		t.Errorf("bob asks alice's roster: %v, want forbidden", err)
	}
	// The subscription attribute of a roster set is the server's: ignored.
	rosterGet(t, alice)
	if err := rosterSet(t, alice, "<item jid='x@localhost' subscription='both'/>"); err != nil {
		t.Fatal(err)
	}
	if it := expectPush(t, alice); it.Subscription != SubscriptionNone {
		t.Errorf("subscription set by the client: %+v", it)
	}
}

// TestSubscriptionPendingAndPreapproval: a request to an offline account
// waits and is delivered at its next initial presence (RFC 6121 §3.1.3);
// a pre-approval (§3.4) answers a later request at once; a request to an
// account that does not exist is answered unsubscribed.
func TestSubscriptionPendingAndPreapproval(t *testing.T) {
	r, _ := newTestRouter(t, Config{Users: map[string]string{"carol@localhost": "pw"}})
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	send(t, alice, presence(stanza.TypeSubscribe, "carol@localhost"))
	send(t, alice, presence(stanza.TypeSubscribe, "nobody@localhost"))
	expectPresence(t, alice, stanza.TypeUnsubscribed, "nobody@localhost")

	carol := connect(t, r, "carol@localhost/c")
	send(t, carol, presence("", ""))
	expectPresence(t, carol, "", "carol@localhost/c")
	expectPresence(t, carol, stanza.TypeSubscribe, "alice@localhost")
	// She may answer later; it is delivered once per session.
	send(t, carol, presence(stanza.TypeSubscribed, "alice@localhost"))
	expectPresence(t, alice, stanza.TypeSubscribed, "carol@localhost")
	if s := r.subscription(jid.MustParse("carol@localhost"), jid.MustParse("alice@localhost")); s != SubscriptionFrom {
		t.Errorf("carol's subscription state for alice: %s", s)
	}

	// Pre-approval: carol approves dave before he asks.
	send(t, carol, presence(stanza.TypeSubscribed, "dave@localhost"))
	if it, _ := r.rosterItem(jid.MustParse("carol@localhost"), jid.MustParse("dave@localhost")); !it.Approved || it.Subscription != SubscriptionNone {
		t.Fatalf("pre-approval: %+v", it)
	}
	dave := connect(t, r, "dave@localhost/d")
	available(t, dave, "")
	drain(carol)
	send(t, dave, presence(stanza.TypeSubscribe, "carol@localhost"))
	expectPresence(t, dave, stanza.TypeSubscribed, "carol@localhost")
	expectPresence(t, dave, "", "carol@localhost/c")
	if it, _ := r.rosterItem(jid.MustParse("carol@localhost"), jid.MustParse("dave@localhost")); it.Approved || it.Subscription != SubscriptionFrom {
		t.Errorf("after the pre-approved request: %+v", it)
	}
	expectNone(t, carol) // answered by the server, never shown to carol
}

// TestRosterPersisted: with Config.RosterDir, rosters (items, states,
// pending requests) survive a restart of the router.
func TestRosterPersisted(t *testing.T) {
	dir := t.TempDir()
	users := map[string]string{"alice@localhost": "pw", "bob@localhost": "pw"}
	r1, err := New(Config{Users: users, RosterDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := r1.Connect(jid.MustParse("alice@localhost/a"))
	bob, _ := r1.Connect(jid.MustParse("bob@localhost/b"))
	send(t, alice, presence(stanza.TypeSubscribe, "bob@localhost"))
	send(t, bob, presence(stanza.TypeSubscribed, "alice@localhost"))
	rosterSet(t, alice, "<item jid='bob@localhost' name='Bob'><group>G</group></item>")
	send(t, alice, presence(stanza.TypeSubscribe, "gw.example"))
	send(t, bob, presence(stanza.TypeSubscribe, "alice@localhost"))
	want := r1.Roster(jid.MustParse("alice@localhost"))
	if err := r1.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Config{Users: users, RosterDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close(ctxT(t))
	got := r2.Roster(jid.MustParse("alice@localhost"))
	if len(got) != 2 || len(want) != 2 || got[0].JID != want[0].JID || got[0].Name != "Bob" || got[0].Subscription != SubscriptionTo ||
		got[0].Groups[0] != "G" || got[1].JID.String() != "gw.example" || !got[1].Ask {
		t.Fatalf("after restart %+v, before %+v", got, want)
	}
	if p := r2.pendingIn(jid.MustParse("alice@localhost")); len(p) != 1 || p[0].From.String() != "bob@localhost" {
		t.Errorf("pending requests after restart: %v", p)
	}
}

// TestServerPresence: the server's domain approves subscriptions and
// answers with its presence, as Prosody does.
func TestServerPresence(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	send(t, alice, presence(stanza.TypeSubscribe, "localhost"))
	expectPresence(t, alice, stanza.TypeSubscribed, "localhost")
	expectPresence(t, alice, "", "localhost")
	if s := r.subscription(jid.MustParse("alice@localhost"), jid.MustParse("localhost")); s != SubscriptionTo {
		t.Errorf("alice's subscription to the server: %s", s)
	}
}

// TestRosterBounds: Config.MaxRosterItems bounds a roster (a roster set
// beyond it gets resource-constraint, a subscription request to a new
// contact bounces with it) and a quarter of it the unanswered requests.
func TestRosterBounds(t *testing.T) {
	r, _ := newTestRouter(t, Config{MaxRosterItems: 4})
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	for i := range 4 {
		if err := rosterSet(t, alice, "<item jid='c"+string(rune('0'+i))+"@localhost'/>"); err != nil {
			t.Fatal(err)
		}
	}
	if err := rosterSet(t, alice, "<item jid='c9@localhost'/>"); condOf(err) != "resource-constraint" {
		t.Errorf("fifth item: %v", err)
	}
	if err := rosterSet(t, alice, "<item jid='c0@localhost' name='updated'/>"); err != nil {
		t.Errorf("updating an item of a full roster: %v", err)
	}
	send(t, alice, presence(stanza.TypeSubscribe, "c9@localhost"))
	if p := recvKind(t, alice, stanza.Presence); p.Type != stanza.TypeError || condOf(p.Err()) != "resource-constraint" {
		t.Errorf("subscribe with a full roster: %v", p)
	}
	// One unanswered request at most (4/4): the second is dropped.
	bob := connect(t, r, "bob@localhost/b")
	carol := connect(t, r, "carol@localhost/c")
	dave := connect(t, r, "dave@localhost/d")
	available(t, dave, "")
	send(t, bob, presence(stanza.TypeSubscribe, "dave@localhost"))
	send(t, carol, presence(stanza.TypeSubscribe, "dave@localhost"))
	if p := r.pendingIn(jid.MustParse("dave@localhost")); len(p) != 1 {
		t.Errorf("%d pending requests", len(p))
	}
}
