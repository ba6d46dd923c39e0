package pubsub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// authMessage receives the approval request for a pending subscription
// (XEP-0060 §8.6) and returns the message and its form.
func (c *client) authMessage() (*stanza.Stanza, *form.Form) {
	c.t.Helper()
	for {
		st := c.recv()
		if st.Kind != stanza.Message {
			continue
		}
		x, ok := st.Child(form.NS, "x")
		if !ok {
			c.t.Fatalf("not an approval request: %s", st)
		}
		f, err := form.Parse([]byte(x.XML()))
		if err != nil {
			c.t.Fatal(err)
		}
		return st, f
	}
}

// answer submits an approval form back (§8.6), with the request's id.
func (c *client) answer(req *stanza.Stanza, f *form.Form, allow bool) {
	c.t.Helper()
	sub := &form.Form{Type: form.TypeSubmit, Fields: []form.Field{
		{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}},
		{Var: "pubsub#node", Values: f.Values("pubsub#node")},
		{Var: "pubsub#subscriber_jid", Values: f.Values("pubsub#subscriber_jid")},
		{Var: "pubsub#allow", Values: []string{form.FormatBool(allow)}},
	}}
	m := stanza.NewMessage("", svcJID, "")
	m.ID = req.ID
	m.SetPayloadElements(formEl(sub))
	c.MustSend(m)
}

// TestAuthorize: the authorize access model (XEP-0060 §4.5, §8.6, §8.7):
// a subscription becomes pending, every owner gets the approval form,
// submitting it approves or denies, the subscriber is told, and pending
// subscriptions are listed again and decided through ad-hoc commands.
func TestAuthorize(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol, dave := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c"), env.client("dave@localhost/d")
	alice.Available(0)
	bob.Available(0)
	alice.ok("set", NS, e("create", "node", "club"), e("configure").form(cfg("pubsub#access_model", "authorize")))
	alice.ok("set", NS, e("publish", "node", "club").kids(e("item", "id", "secret").with(v("s"))))

	res := bob.ok("set", NS, e("subscribe", "node", "club", "jid", "bob@localhost"))
	mustContain(t, res, "subscription='pending'")
	// Asking again returns the one pending request.
	if again := bob.ok("set", NS, e("subscribe", "node", "club", "jid", "bob@localhost")); again != res {
		t.Fatalf("second request: %s", again)
	}
	// Pending: no items, no notifications.
	bob.fail("get", NS, stanza.NotAuthorized, "not-subscribed", e("items", "node", "club"))
	req, f := alice.authMessage()
	if f.FormType() != FormSubscribeAuth || f.Type != form.TypeForm {
		t.Fatalf("approval form %+v", f)
	}
	if n, _ := f.Get("pubsub#node"); n != "club" {
		t.Fatalf("node %q", n)
	}
	if j, _ := f.Get("pubsub#subscriber_jid"); j != "bob@localhost" {
		t.Fatalf("subscriber %q", j)
	}
	mustContain(t, alice.ok("get", NS, e("subscriptions", "node", "club")), "<subscriptions node='club'/>")
	mustContain(t, bob.ok("get", NS, e("subscriptions")), "subscription='pending'")
	mustNotContain(t, alice.ok("get", NSOwner, e("subscriptions", "node", "club")), "bob@")

	// Someone who does not own the node cannot decide: forbidden, and the
	// request stays pending.
	carol.answer(req, f, true)
	errMsg := carol.recv()
	if errMsg.Type != stanza.TypeError || errMsg.Err().Condition != stanza.Forbidden {
		t.Fatalf("a stranger's approval: %s", errMsg)
	}
	bob.fail("get", NS, stanza.NotAuthorized, "not-subscribed", e("items", "node", "club"))
	// A malformed answer: bad-request.
	bad := stanza.NewMessage("", svcJID, "")
	bad.SetPayloadElements(formEl(&form.Form{Type: form.TypeSubmit, Fields: []form.Field{
		{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}}, {Var: "pubsub#allow", Values: []string{"perhaps"}}}}))
	alice.MustSend(bad)
	if st := alice.recv(); st.Type != stanza.TypeError || st.Err().Condition != stanza.BadRequest {
		t.Fatalf("malformed approval: %s", st)
	}
	// A cancelled form leaves it pending.
	cancel := stanza.NewMessage("", svcJID, "")
	cancel.SetPayloadElements(formEl(&form.Form{Type: form.TypeCancel, Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}}}}))
	alice.MustSend(cancel)
	alice.none()

	// The owner approves: bob is told, then gets the last item.
	alice.answer(req, f, true)
	mustContain(t, bob.event(), "<subscription node='club' jid='bob@localhost'", "subscription='subscribed'/>")
	mustContain(t, bob.event(), "<item id='secret'>")
	mustContain(t, bob.ok("get", NS, e("items", "node", "club")), "<item id='secret'>")
	// The decision cannot be made twice.
	alice.answer(req, f, false)
	if st := alice.recv(); st.Type != stanza.TypeError || st.Err().Condition != stanza.ItemNotFound {
		t.Fatalf("deciding again: %s", st)
	}

	// carol asks, the owner denies.
	carol.ok("set", NS, e("subscribe", "node", "club", "jid", "carol@localhost/c"))
	req, f = alice.authMessage()
	alice.answer(req, f, false)
	mustContain(t, carol.event(), "subscription='none'")
	if subs := carol.ok("get", NS, e("subscriptions")); strings.Contains(subs, "club") {
		t.Fatalf("a denied subscription stays: %s", subs)
	}

	// get-pending (§8.7): the owner picks a node and gets the forms again.
	dave.ok("set", NS, e("subscribe", "node", "club", "jid", "dave@localhost/d"))
	alice.authMessage()
	ctx := t.Context()
	st, err := command.Execute(ctx, alice, svcJID, CommandGetPending)
	if err != nil {
		t.Fatal(err)
	}
	opts := st.Form.Field("pubsub#node").Options
	if len(opts) != 1 || opts[0].Value != "club" {
		t.Fatalf("get-pending nodes %+v", opts)
	}
	st, err = st.Complete(ctx, alice, &form.Form{Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}}, {Var: "pubsub#node", Values: []string{"club"}}}})
	if err != nil || !st.Ended() {
		t.Fatalf("get-pending: %v %+v", err, st)
	}
	if _, f := alice.authMessage(); f.Values("pubsub#subscriber_jid")[0] != "dave@localhost/d" {
		t.Fatalf("get-pending sent %+v", f)
	}
	// Not an owner: forbidden.
	if _, err := command.Execute(ctx, carol, svcJID, CommandGetPending); !strings.Contains(fmt.Sprint(err), "forbidden") {
		t.Fatalf("get-pending by a stranger: %v", err)
	}

	// manage-pending: approve in the command itself.
	st, err = command.Execute(ctx, alice, svcJID, CommandManagePending)
	if err != nil {
		t.Fatal(err)
	}
	st, err = st.Next(ctx, alice, &form.Form{Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}}, {Var: "pubsub#node", Values: []string{"club"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if o := st.Form.Field("approve").Options; len(o) != 1 || o[0].Value != "dave@localhost/d" {
		t.Fatalf("pending listed %+v", o)
	}
	if _, err := st.Complete(ctx, alice, &form.Form{Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}},
		{Var: "approve", Values: []string{"dave@localhost/d"}}, {Var: "deny", Values: []string{"dave@localhost/d"}}}}); command.Specific(err) != "bad-payload" {
		t.Fatalf("approve and deny at once: %v", err)
	}
	st, err = st.Complete(ctx, alice, &form.Form{Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}}, {Var: "approve", Values: []string{"dave@localhost/d"}}}})
	if err != nil || !st.Ended() {
		t.Fatalf("manage-pending: %v", err)
	}
	mustContain(t, dave.event(), "subscription='subscribed'")

	// Made publisher, a pending subscriber is approved (§8.7 note).
	env.client("eve@localhost/e").ok("set", NS, e("subscribe", "node", "club", "jid", "eve@localhost/e"))
	alice.authMessage()
	alice.ok("set", NSOwner, e("affiliations", "node", "club").kids(e("affiliation", "jid", "eve@localhost", "affiliation", "publisher")))
	if subs := alice.ok("get", NSOwner, e("subscriptions", "node", "club")); !strings.Contains(subs, "eve@localhost/e") {
		t.Fatalf("publisher not approved: %s", subs)
	}
}

// TestSendLastPublished: send_last_published_item never, on_sub, and
// on_sub_and_presence (XEP-0060 §12.9), with a delay stamp.
func TestSendLastPublished(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	for _, mode := range []string{SendNever, SendOnSub, SendOnSubAndPresence} {
		alice.ok("set", NS, e("create", "node", mode), e("configure").form(cfg("pubsub#send_last_published_item", mode)))
		alice.ok("set", NS, e("publish", "node", mode).kids(e("item", "id", "old").with(v("1"))))
		alice.ok("set", NS, e("publish", "node", mode).kids(e("item", "id", "last").with(v("2"))))
	}
	bob := env.client("bob@localhost/b")
	bob.Available(0)
	bob.ok("set", NS, e("subscribe", "node", SendNever, "jid", "bob@localhost/b"))
	bob.none()
	bob.ok("set", NS, e("subscribe", "node", SendOnSub, "jid", "bob@localhost/b"))
	st := bob.recv()
	for st.Kind == stanza.Presence {
		st = bob.recv()
	}
	mustContain(t, st.String(), "<item id='last'>", "urn:xmpp:delay")
	bob.none()
	bob.ok("set", NS, e("subscribe", "node", SendOnSubAndPresence, "jid", "bob@localhost"))
	mustContain(t, bob.event(), "<item id='last'>")
	// Coming online (presence to the service), the subscriber gets it
	// again, at the resource that came online; on_sub nodes send nothing.
	p := stanza.NewPresence("", svcJID)
	bob.MustSend(p)
	mustContain(t, bob.event(), "<items node='on_sub_and_presence'><item id='last'>")
	bob.none()
}

// TestItemExpire: items past pubsub#item_expire are not served and are
// removed.
func TestItemExpire(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := NewMemoryStore()
	env := newEnvOpts(t, Options{Store: store, Now: clock, ExpireEvery: 10 * time.Millisecond})
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"), e("configure").form(cfg("pubsub#item_expire", "60")))
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "early").with(v(""))))
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "late").with(v(""))))
	mu.Lock()
	now = now.Add(40 * time.Second) // early is 70 s old, late 40 s
	mu.Unlock()
	got := alice.ok("get", NS, e("items", "node", "n"))
	if strings.Contains(got, "early") || !strings.Contains(got, "late") {
		t.Fatalf("expired item served: %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var count int
		store.Read(t.Context(), func(tx Tx) error { count, _, _ = tx.ItemStats(Key{"", "n"}); return nil })
		if count == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d items still stored", count)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rsmItems asks for a page of items and returns the item ids and the set.
func (c *client) rsmItems(node string, q rsm.Query) ([]string, rsm.Result) {
	c.t.Helper()
	res, err := c.send(stanza.NewIQ("get", svcJID, itemsPage(node, q)))
	if err != nil {
		c.t.Fatal(err)
	}
	el, _ := res.PayloadElement()
	r, found, err := rsm.FindResult(el)
	if err != nil || !found {
		c.t.Fatalf("no set in %s: %v", res, err)
	}
	var got struct {
		Items struct {
			Item []struct {
				ID string `xml:"id,attr"`
			} `xml:"item"`
		} `xml:"items"`
	}
	el.Unmarshal(&got)
	var ids []string
	for _, it := range got.Items.Item {
		ids = append(ids, it.ID)
	}
	return ids, r
}

// itemsPage is an items request with an RSM set (XEP-0060 §6.5.4).
func itemsPage(node string, q rsm.Query) stanza.Element {
	return stanza.NewBuilder(NS, "pubsub").Child("", "items").Attr("node", node).End().Append(q.Element()).Element()
}

// TestItemsRSM: items paged with XEP-0059 (XEP-0060 §6.5.4), newest first.
func TestItemsRSM(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"))
	for i := 0; i < 12; i++ {
		alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", fmt.Sprintf("i%02d", i)).with(v(strconv.Itoa(i)))))
	}
	var all []string
	after := ""
	for {
		ids, r := alice.rsmItems("n", rsm.Next(5, after))
		if r.Count != 12 || !r.HasCount {
			t.Fatalf("count %+v", r)
		}
		all = append(all, ids...)
		if len(ids) < 5 {
			break
		}
		after = r.Last
	}
	if strings.Join(all, ",") != "i11,i10,i09,i08,i07,i06,i05,i04,i03,i02,i01,i00" {
		t.Fatalf("pages: %v", all)
	}
	ids, r := alice.rsmItems("n", rsm.Last(3))
	if strings.Join(ids, ",") != "i02,i01,i00" || r.First != "i02" || r.FirstIndex != 9 {
		t.Fatalf("last page %v %+v", ids, r)
	}
	ids, _ = alice.rsmItems("n", rsm.Prev(2, "i05"))
	if strings.Join(ids, ",") != "i07,i06" {
		t.Fatalf("page before i05: %v", ids)
	}
	if _, r := alice.rsmItems("n", rsm.CountOnly()); r.Count != 12 {
		t.Fatalf("count only: %+v", r)
	}
	_, err := alice.send(stanza.NewIQ("get", svcJID, itemsPage("n", rsm.Next(2, "nope"))))
	checkErr(t, "after an unknown item", err, stanza.ItemNotFound, "")
}

// TestDiscoPaging: disco#items of the service's nodes and of a node's
// items page with XEP-0059 instead of being cut.
func TestDiscoPaging(t *testing.T) {
	store := NewMemoryStore()
	env := newEnvOpts(t, Options{Store: store, Limits: Limits{MaxNodesPerUser: 5000}})
	alice := env.client("alice@localhost/a")
	// Fill the store directly: 1500 nodes.
	wait, err := store.Write(t.Context(), func(tx Tx) error {
		for i := 0; i < 1500; i++ {
			if err := tx.CreateNode(&Node{Key: Key{"", fmt.Sprintf("n%04d", i)}, Config: DefaultConfig(), Creator: "alice@localhost"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || wait() != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	page := func(q rsm.Query) ([]disco.Item, rsm.Result) {
		iq := stanza.NewIQ("get", svcJID, stanza.NewBuilder(disco.NSItems, "query").Append(q.Element()).Element())
		if q.IsZero() {
			iq = stanza.NewIQ("get", svcJID, stanza.Element{Space: disco.NSItems, Local: "query"})
		}
		res, err := alice.SendIQ(ctx, iq)
		if err != nil {
			t.Fatal(err)
		}
		el, _ := res.PayloadElement()
		_, items, err := disco.ParseItems([]byte(el.XML()))
		if err != nil {
			t.Fatal(err)
		}
		r, _, _ := rsm.FindResult(el)
		return items, r
	}
	items, r := page(rsm.Query{})
	if len(items) != disco.DefaultMaxItems || r.Count != 1500 || r.Last != "n0999" {
		t.Fatalf("unpaged request: %d items, %+v", len(items), r)
	}
	items, r = page(rsm.Next(100, r.Last))
	if len(items) != 100 || items[0].Node != "n1000" || r.First != "n1000" {
		t.Fatalf("second page: %d %+v", len(items), r)
	}
	items, _ = page(rsm.Last(2))
	if len(items) != 2 || items[1].Node != "n1499" {
		t.Fatalf("last page: %v", items)
	}
}

// TestAutoCreate: with Options.AutoCreate a publish creates the node,
// configured by its publish-options; the feature is advertised.
func TestAutoCreate(t *testing.T) {
	env := newEnvOpts(t, Options{AutoCreate: true})
	alice := env.client("alice@localhost/a")
	info, err := disco.GetInfo(t.Context(), alice, svcJID, "")
	if err != nil || !info.HasFeature(NS+"#auto-create") {
		t.Fatalf("auto-create not advertised: %v", err)
	}
	alice.ok("set", NS, e("publish", "node", "fresh").kids(e("item", "id", "1").with(v(""))),
		e("publish-options").form(PublishOptions("pubsub#access_model", "whitelist", "pubsub#max_items", "max")))
	got := alice.ok("get", NSOwner, e("configure", "node", "fresh"))
	if formValue(t, got, "pubsub#access_model") != "whitelist" || formValue(t, got, "pubsub#max_items") != "max" {
		t.Fatalf("auto-created node: %s", got)
	}
	// publish-options that cannot be a configuration: precondition-not-met,
	// nothing created.
	alice.fail("set", NS, stanza.Conflict, "precondition-not-met", e("publish", "node", "other").kids(e("item").with(v(""))),
		e("publish-options").form(PublishOptions("pubsub#access_model", "roster")))
	alice.fail("get", NSOwner, stanza.ItemNotFound, "", e("configure", "node", "other"))
}

// TestQuotas fills each limit: the XEP-0060 error with a text naming it,
// nothing stored.
func TestQuotas(t *testing.T) {
	store := NewMemoryStore()
	env := newEnvOpts(t, Options{Store: store, Limits: Limits{
		MaxNodesPerUser: 2, MaxItemsPerNode: 3, MaxNodeBytes: 1000, MaxItemBytes: 400,
		MaxStoreBytes: 8000, MaxSubscriptionsPerNode: 3, MaxSubscriptionsPerJID: 2,
	}})
	alice := env.client("alice@localhost/a")
	usage := func() Usage {
		var u Usage
		store.Read(t.Context(), func(tx Tx) error { u, _ = tx.Usage(); return nil })
		return u
	}
	alice.ok("set", NS, e("create", "node", "a"))
	alice.ok("set", NS, e("create", "node", "b"))
	se := alice.fail("set", NS, stanza.PolicyViolation, "", e("create", "node", "c"))
	mustContain(t, se.Text, "2 nodes")

	// Items per node: max_items above the limit is not acceptable; "max"
	// means the limit.
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "a").form(cfg("pubsub#max_items", "4")))
	alice.ok("set", NSOwner, e("configure", "node", "a").form(cfg("pubsub#max_items", "max")))
	for i := 0; i < 5; i++ {
		alice.ok("set", NS, e("publish", "node", "a").kids(e("item", "id", strconv.Itoa(i)).with(v("x"))))
	}
	if got := alice.ok("get", NS, e("items", "node", "a")); strings.Count(got, "<item ") != 3 {
		t.Fatalf("max_items=max kept %d items", strings.Count(got, "<item "))
	}

	// Item size: not-acceptable + payload-too-big.
	se = alice.fail("set", NS, stanza.NotAcceptable, "payload-too-big", e("publish", "node", "b").kids(e("item", "id", "big").with(v(strings.Repeat("x", 400)))))
	mustContain(t, se.Text, "400")
	// Node bytes: 3 items of 350 bytes do not fit in 1000.
	three := v(strings.Repeat("y", 350-len(v("").XML())))
	before := usage()
	alice.ok("set", NS, e("publish", "node", "b").kids(e("item", "id", "1").with(three)))
	alice.ok("set", NS, e("publish", "node", "b").kids(e("item", "id", "2").with(three)))
	se = alice.fail("set", NS, stanza.PolicyViolation, "", e("publish", "node", "b").kids(e("item", "id", "3").with(three)))
	mustContain(t, se.Text, "node b is full")
	// A replacement of the same size fits.
	alice.ok("set", NS, e("publish", "node", "b").kids(e("item", "id", "2").with(three)))
	if u := usage(); u.Items != before.Items+2 {
		t.Fatalf("items %d, want %d", u.Items, before.Items+2)
	}

	// Subscriptions per JID and per node.
	bob := env.client("bob@localhost/b")
	opts := e("options").form(&form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Var: "pubsub#deliver", Values: []string{"1"}}}})
	bob.ok("set", NS, e("subscribe", "node", "a", "jid", "bob@localhost/b"))
	bob.ok("set", NS, e("subscribe", "node", "a", "jid", "bob@localhost/b"), opts)
	bob.fail("set", NS, stanza.PolicyViolation, "too-many-subscriptions", e("subscribe", "node", "a", "jid", "bob@localhost/b"), opts)
	env.client("carol@localhost/c").ok("set", NS, e("subscribe", "node", "a", "jid", "carol@localhost/c"))
	se = env.client("dave@localhost/d").fail("set", NS, stanza.PolicyViolation, "", e("subscribe", "node", "a", "jid", "dave@localhost/d"))
	mustContain(t, se.Text, "3 subscriptions")

}

// TestStoreQuota fills the whole store: publishes, subscriptions and
// creations beyond MaxStoreBytes are refused, nothing stored.
func TestStoreQuota(t *testing.T) {
	store := NewMemoryStore()
	env := newEnvOpts(t, Options{Store: store, Limits: Limits{MaxStoreBytes: 8000, MaxItemsPerNode: 1000, MaxNodesPerUser: 100}})
	alice := env.client("alice@localhost/a")
	usage := func() Usage {
		var u Usage
		store.Read(t.Context(), func(tx Tx) error { u, _ = tx.Usage(); return nil })
		return u
	}
	alice.ok("set", NS, e("create", "node", "n"))
	var last error
	for i := 0; i < 50 && last == nil; i++ {
		_, last = alice.do("set", NS, e("publish", "node", "n").kids(e("item", "id", strconv.Itoa(i)).with(v(strings.Repeat("z", 300)))))
	}
	se := checkErr(t, "publish into a full store", last, stanza.ResourceConstraint, "")
	mustContain(t, se.Text, "the service is full")
	full := usage()
	if full.Bytes > 8000 {
		t.Fatalf("store holds %d bytes, over its limit", full.Bytes)
	}
	for _, try := range []func() error{
		func() error { _, err := alice.do("set", NS, e("create", "node", "more")); return err },
		func() error {
			_, err := env.client("someone-with-a-long-name@localhost/r").do("set", NS, e("subscribe", "node", "n", "jid", "someone-with-a-long-name@localhost/r"))
			return err
		},
	} {
		if err := try(); err == nil {
			// Small records may still fit: fill again until refused.
			continue
		}
	}
	if u := usage(); u.Bytes > 8000 {
		t.Fatalf("store holds %d bytes, over its limit", u.Bytes)
	}
	// Space freed is usable again.
	alice.ok("set", NS, e("retract", "node", "n").kids(e("item", "id", "0")))
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "again").with(v(strings.Repeat("z", 300)))))
}

// TestAdminCommands: the service's admins run list nodes, delete a node
// and purge a user (XEP-0133 style); nobody else sees them.
func TestAdminCommands(t *testing.T) {
	env := newEnvOpts(t, Options{Admins: []jid.JID{jid.MustParse("root@localhost")}})
	root, alice, bob := env.client("root@localhost/r"), env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "a1"))
	alice.ok("set", NS, e("create", "node", "a2"))
	bob.ok("set", NS, e("create", "node", "b1"))
	bob.ok("set", NS, e("subscribe", "node", "a1", "jid", "bob@localhost/b"))
	ctx := t.Context()
	list, err := command.List(ctx, alice, svcJID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range list {
		if strings.HasPrefix(it.Node, NSAdmin) {
			t.Fatalf("alice sees %s", it.Node)
		}
	}
	if _, err := command.Execute(ctx, alice, svcJID, CommandListNodes); err == nil {
		t.Fatal("alice ran an admin command")
	}
	submit := func(node string, pairs ...string) *command.Stage {
		st, err := command.Execute(ctx, root, svcJID, node)
		if err != nil {
			t.Fatal(err)
		}
		f := &form.Form{Fields: []form.Field{{Var: form.FormTypeVar, Values: []string{NSAdmin}}}}
		for i := 0; i < len(pairs); i += 2 {
			f.Fields = append(f.Fields, form.Field{Var: pairs[i], Values: []string{pairs[i+1]}})
		}
		st, err = st.Complete(ctx, root, f)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := submit(CommandListNodes, "max", "2")
	if len(st.Form.Items) != 2 || st.Form.Items[0][0].Values[0] != "a1" || !strings.Contains(st.Notes[0].Text, "after=a2") {
		t.Fatalf("list nodes: %+v %+v", st.Form.Items, st.Notes)
	}
	st = submit(CommandListNodes, "after", "a2")
	if len(st.Form.Items) != 1 || st.Form.Items[0][0].Values[0] != "b1" {
		t.Fatalf("list after a2: %+v", st.Form.Items)
	}
	// An admin owns every node.
	root.ok("get", NSOwner, e("configure", "node", "b1"))
	submit(CommandDeleteNode, "node", "a2")
	alice.fail("get", NSOwner, stanza.ItemNotFound, "", e("configure", "node", "a2"))
	st = submit(CommandPurgeUser, "accountjid", "bob@localhost")
	mustContain(t, st.Notes[0].Text, "1 nodes deleted, 1 subscriptions")
	bob.fail("get", NS, stanza.ItemNotFound, "", e("items", "node", "b1"))
	if subs := alice.ok("get", NSOwner, e("subscriptions", "node", "a1")); strings.Contains(subs, "bob") {
		t.Fatalf("purged user keeps a subscription: %s", subs)
	}
}

// TestArchive: XEP-0313 queries on a node (XEP-0442) page through its
// items, each as the notification it was.
func TestArchive(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	alice.ok("set", NS, e("create", "node", "wl"), e("configure").form(cfg("pubsub#access_model", "whitelist")))
	for i := 0; i < 5; i++ {
		alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", fmt.Sprint(i)).with(v(fmt.Sprint(i)))))
	}
	ctx := t.Context()
	query := func(c *client, q mam.Query) ([]*mam.Result, *mam.Fin, error) {
		res, err := c.SendIQ(ctx, stanza.NewIQ("set", svcJID, q.Element()))
		if err != nil {
			return nil, nil, err
		}
		var results []*mam.Result
		for {
			rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			m, err := c.Recv(rctx)
			cancel()
			if err != nil {
				break
			}
			r, ok := m.Child(mam.NS, "result")
			if !ok {
				continue
			}
			pr, err := mam.ParseResult(r.XML())
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, pr)
		}
		fe, _ := res.Child(mam.NS, "fin")
		fin, err := mam.ParseFin(fe)
		return results, fin, err
	}
	results, fin, err := query(bob, mam.Query{QueryID: "q", Node: "n", Page: rsm.First(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 || fin.Complete || fin.Result.Count != 5 {
		t.Fatalf("%d results, fin %+v", len(results), fin)
	}
	mustContain(t, results[0].Message.String(), "<item id='0'>", NSEvent)
	results, fin, err = query(bob, mam.Query{QueryID: "q", Node: "n", Page: rsm.Next(3, fin.Result.Last)})
	if err != nil || len(results) != 2 || !fin.Complete {
		t.Fatalf("second page: %d %v %v", len(results), fin, err)
	}
	_, _, err = query(bob, mam.Query{QueryID: "q", Node: "wl"})
	checkErr(t, "archive of a whitelist node", err, stanza.NotAllowed, "closed-node")
	_, _, err = query(bob, mam.Query{QueryID: "q", Node: "missing"})
	checkErr(t, "archive of a missing node", err, stanza.ItemNotFound, "")
	info, err := disco.GetInfo(ctx, bob, svcJID, "n")
	if err != nil || !info.HasFeature(mam.NS) {
		t.Fatalf("node does not advertise MAM: %v", err)
	}
}
