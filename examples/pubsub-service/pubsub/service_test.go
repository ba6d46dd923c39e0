package pubsub

import (
	"strings"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

func TestCreate(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	got := alice.ok("set", NS, e("create", "node", "news"))
	mustContain(t, got, "<create node='news'/>")
	alice.fail("set", NS, stanza.Conflict, "", e("create", "node", "news"))

	// Instant node: the service picks the id and returns it (§8.1.2).
	got = alice.ok("set", NS, e("create"))
	if !strings.Contains(got, "<create node='") {
		t.Fatalf("instant node: %s", got)
	}
	// Create and configure (§8.1.3); bad option values are refused.
	alice.ok("set", NS, e("create", "node", "conf"), e("configure").form(cfg("pubsub#title", "Conf", "pubsub#max_items", "2", "pubsub#persist_items", "true")))
	got = alice.ok("get", NSOwner, e("configure", "node", "conf"))
	if formValue(t, got, "pubsub#title") != "Conf" || formValue(t, got, "pubsub#max_items") != "2" {
		t.Fatalf("create with configure: %s", got)
	}
	se := alice.fail("set", NS, stanza.NotAcceptable, "", e("create", "node", "bad"), e("configure").form(cfg("pubsub#max_items", "lots")))
	mustContain(t, se.Text, "pubsub#max_items")
	// Without XEP-0356 privileges there is no presence or roster access.
	se = alice.fail("set", NS, stanza.NotAcceptable, "", e("create", "node", "bad"), e("configure").form(cfg("pubsub#access_model", "roster")))
	mustContain(t, se.Text, "XEP-0356")
	alice.fail("get", NSOwner, stanza.ItemNotFound, "", e("configure", "node", "bad"))
}

func TestConfigure(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))

	f := alice.ok("get", NSOwner, e("configure", "node", "n"))
	mustContain(t, f, `type="form"`, FormNodeConfig, "pubsub#title", "pubsub#max_items", "pubsub#persist_items",
		"pubsub#deliver_payloads", "pubsub#notify_retract", "pubsub#notify_delete", "pubsub#access_model", "pubsub#publish_model",
		"pubsub#send_last_published_item", "pubsub#item_expire", "pubsub#itemreply", "pubsub#notify_sub")
	// The access models offered say why presence and roster are missing.
	am := formIn(t, f).Field("pubsub#access_model")
	var offered []string
	for _, o := range am.Options {
		offered = append(offered, o.Value)
	}
	if strings.Join(offered, " ") != "open authorize whitelist" || !strings.Contains(am.Desc, "XEP-0356") {
		t.Fatalf("access models %v, desc %q", offered, am.Desc)
	}
	bob.fail("get", NSOwner, stanza.Forbidden, "", e("configure", "node", "n"))
	bob.fail("set", NSOwner, stanza.Forbidden, "", e("configure", "node", "n").form(cfg()))

	// A partial form merges: the title changes, nothing else does.
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#title", "T1")))
	mustContain(t, bob.event(), "<configuration node='n'>", "<value>T1</value>")
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#deliver_payloads", "0")))
	mustContain(t, bob.event(), "<configuration node='n'/>")
	f = alice.ok("get", NSOwner, e("configure", "node", "n"))
	mustContain(t, f, "<value>T1</value>")
	if formValue(t, f, "pubsub#deliver_payloads") != "0" || formValue(t, f, "pubsub#notify_retract") != "1" {
		t.Fatalf("merge lost options: %s", f)
	}
	// Booleans as true/false; unknown options are refused.
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#notify_config", "false")))
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#title", "T2")))
	bob.none()
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#frobnicate", "1")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#notify_delete", "yes")))
	alice.ok("set", NSOwner, e("configure", "node", "n").form(&form.Form{Type: form.TypeCancel}))

	def := alice.ok("get", NSOwner, e("default"))
	mustContain(t, def, "<default>", FormNodeConfig)
}

// TestConfigFields: every field of XEP-0060 §16.4.4 is accepted, stored
// and given back; collections are feature-not-implemented, not
// not-acceptable; x- fields are kept.
func TestConfigFields(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"))
	set := []string{
		"pubsub#title", "T", "pubsub#description", "D", "pubsub#type", "urn:t", "pubsub#language", "fr",
		"pubsub#max_items", "max", "pubsub#max_payload_size", "1000", "pubsub#item_expire", "3600",
		"pubsub#persist_items", "1", "pubsub#deliver_notifications", "1", "pubsub#deliver_payloads", "1",
		"pubsub#notify_config", "0", "pubsub#notify_delete", "1", "pubsub#notify_retract", "0", "pubsub#notify_sub", "1",
		"pubsub#presence_based_delivery", "1", "pubsub#purge_offline", "1", "pubsub#subscribe", "1", "pubsub#tempsub", "1",
		"pubsub#access_model", "authorize", "pubsub#publish_model", "subscribers", "pubsub#notification_type", "normal",
		"pubsub#send_last_published_item", "on_sub", "pubsub#itemreply", "publisher", "pubsub#contact", "bob@localhost",
		"pubsub#node_type", "leaf", "pubsub#body_xslt", "http://x/b.xsl", "pubsub#dataform_xslt", "http://x/d.xsl",
		"pubsub#children_association_policy", "owners", "pubsub#children_max", "3", "pubsub#collection", "",
		"x-example#flag", "1",
	}
	f := cfg(set...)
	f.Fields = append(f.Fields, form.Field{Var: "pubsub#roster_groups_allowed", Values: []string{"Friends", "Family"}})
	alice.ok("set", NSOwner, e("configure", "node", "n").form(f))
	back := formIn(t, alice.ok("get", NSOwner, e("configure", "node", "n")))
	for i := 0; i+1 < len(set); i += 2 {
		if strings.HasPrefix(set[i], "pubsub#children") || set[i] == "pubsub#collection" || strings.HasPrefix(set[i], "x-") {
			continue
		}
		got, _ := back.Get(set[i])
		want := set[i+1]
		if b, err := form.ParseBool(want); err == nil && len(want) == 1 && back.Field(set[i]).Type == form.Boolean {
			want = form.FormatBool(b)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", set[i], got, want)
		}
	}
	if g := back.Values("pubsub#roster_groups_allowed"); strings.Join(g, ",") != "Friends,Family" {
		t.Errorf("roster groups %v", g)
	}
	alice.fail("set", NSOwner, stanza.FeatureNotImplemented, "unsupported", e("configure", "node", "n").form(cfg("pubsub#node_type", "collection")))
	alice.fail("set", NSOwner, stanza.FeatureNotImplemented, "unsupported", e("configure", "node", "n").form(cfg("pubsub#collection", "parent")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#max_items", "5000")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#max_payload_size", "9999999")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#send_last_published_item", "sometimes")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(cfg("pubsub#contact", "not a jid@")))
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("configure", "node", "n").form(&form.Form{Type: form.TypeSubmit,
		Fields: []form.Field{{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{"urn:other"}}}}))
}

func TestPublishAndRetrieve(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	sub := bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	mustContain(t, sub, "subscription='subscribed'", "subid='", "jid='bob@localhost/b'")

	// The payload survives byte for byte: prefixes, odd quoting, xml:lang,
	// entities, whitespace.
	payload := stanza.MustElement(`<entry xmlns="http://www.w3.org/2005/Atom" xmlns:x='urn:x' xml:lang="fr"><title  x:a = "1&amp;2">Bonjour &lt;monde&gt; &#x263A;</title>` + "\n  <x:e/></entry>")
	res := alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "one").with(payload)))
	mustContain(t, res, "<publish node='n'><item id='one'/></publish>")
	mustContain(t, bob.event(), "<items node='n'><item id='one'>"+payload.XML()+"</item></items>")

	// Without an id the service assigns one and returns it (§7.1.2).
	res = alice.ok("set", NS, e("publish", "node", "n").kids(e("item").with(v("2"))))
	id := attrOf(t, res[strings.Index(res, "<item"):], "id")
	mustContain(t, bob.event(), "<item id='"+id+"'><v xmlns='urn:v'>2</v></item>")
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "three").with(v("3"))))
	bob.event()

	all := bob.ok("get", NS, e("items", "node", "n"))
	if strings.Index(all, "'one'") > strings.Index(all, "'three'") || !strings.Contains(all, payload.XML()) || strings.Contains(all, "<set") {
		t.Fatalf("items: %s", all)
	}
	last := bob.ok("get", NS, e("items", "node", "n", "max_items", "2"))
	if strings.Contains(last, "'one'") || !strings.Contains(last, "'"+id+"'") || !strings.Contains(last, "'three'") {
		t.Fatalf("max_items=2: %s", last)
	}
	byID := bob.ok("get", NS, e("items", "node", "n").kids(e("item", "id", "one"), e("item", "id", "missing")))
	if !strings.Contains(byID, payload.XML()) || strings.Contains(byID, "three") {
		t.Fatalf("by id: %s", byID)
	}
	// Republishing an id replaces the item and makes it the newest.
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "one").with(v("1b"))))
	bob.event()
	mustContain(t, bob.ok("get", NS, e("items", "node", "n", "max_items", "1")), "<item id='one'><v xmlns='urn:v'>1b</v></item>")

	// Errors (§7.1.3, §6.5.9).
	bob.fail("set", NS, stanza.Forbidden, "", e("publish", "node", "n").kids(e("item").with(v(""))))
	alice.fail("set", NS, stanza.ItemNotFound, "", e("publish", "node", "nope").kids(e("item").with(v(""))))
	alice.fail("set", NS, stanza.BadRequest, "nodeid-required", e("publish").kids(e("item").with(v(""))))
	alice.fail("set", NS, stanza.BadRequest, "invalid-payload", e("publish", "node", "n").kids(e("item").with(v("a"), v("b"))))
	alice.fail("set", NS, stanza.BadRequest, "payload-required", e("publish", "node", "n").kids(e("item", "id", "x")))
	alice.fail("set", NS, stanza.BadRequest, "item-required", e("publish", "node", "n"))
	alice.fail("set", NS, stanza.BadRequest, "invalid-payload", e("publish", "node", "n").kids(e("item", "id", "x"), e("item", "id", "y")))
	bob.fail("get", NS, stanza.ItemNotFound, "", e("items", "node", "nope"))
	bob.fail("get", NS, stanza.BadRequest, "", e("items", "node", "n", "max_items", "-1"))
	bob.none()
}

func TestPublishOptions(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"))
	po := func(pairs ...string) []*node {
		return []*node{e("publish", "node", "n").kids(e("item", "id", "i").with(v(""))), e("publish-options").form(PublishOptions(pairs...))}
	}
	alice.ok("set", NS, po("pubsub#access_model", "open", "pubsub#persist_items", "true")...)
	alice.ok("set", NS, po("pubsub#max_items", "256", "pubsub#deliver_payloads", "1")...)
	alice.fail("set", NS, stanza.Conflict, "precondition-not-met", po("pubsub#access_model", "whitelist")...)
	alice.fail("set", NS, stanza.Conflict, "precondition-not-met", po("pubsub#persist_items", "false")...)
	alice.fail("set", NS, stanza.Conflict, "precondition-not-met", po("pubsub#unknown", "x")...)
	alice.fail("set", NS, stanza.Conflict, "precondition-not-met", po("pubsub#max_items", "max")...)
	// max_items=max matches a node configured with max (XEP-0223 nodes).
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#max_items", "max")))
	alice.ok("set", NS, po("pubsub#max_items", "max")...)
	alice.ok("set", NS, po("pubsub#max_items", "1000")...) // the service's limit
}

func TestRetract(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	for _, id := range []string{"a", "b", "c"} {
		alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", id).with(v(""))))
		bob.event()
	}
	alice.ok("set", NS, e("retract", "node", "n", "notify", "true").kids(e("item", "id", "a")))
	mustContain(t, bob.event(), "<items node='n'><retract id='a'/></items>")
	alice.ok("set", NS, e("retract", "node", "n", "notify", "0").kids(e("item", "id", "b")))
	bob.none()
	items := bob.ok("get", NS, e("items", "node", "n"))
	if strings.Contains(items, "'a'") || strings.Contains(items, "'b'") || !strings.Contains(items, "'c'") {
		t.Fatalf("after retract: %s", items)
	}
	alice.fail("set", NS, stanza.ItemNotFound, "", e("retract", "node", "n").kids(e("item", "id", "a")))
	alice.fail("set", NS, stanza.BadRequest, "item-required", e("retract", "node", "n"))
	alice.fail("set", NS, stanza.BadRequest, "nodeid-required", e("retract").kids(e("item", "id", "c")))
	bob.fail("set", NS, stanza.Forbidden, "", e("retract", "node", "n").kids(e("item", "id", "c")))
	// Without notify the node's notify_retract (default on) applies.
	alice.ok("set", NS, e("retract", "node", "n").kids(e("item", "id", "c")))
	mustContain(t, bob.event(), "<retract id='c'/>")
}

func TestSubscriptions(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c")
	alice.ok("set", NS, e("create", "node", "n"))
	alice.ok("set", NS, e("create", "node", "m"))
	// Someone else's JID: bad-request + invalid-jid (§6.1.3.1).
	bob.fail("set", NS, stanza.BadRequest, "invalid-jid", e("subscribe", "node", "n", "jid", "carol@localhost"))
	bob.fail("set", NS, stanza.BadRequest, "jid-required", e("subscribe", "node", "n"))
	bob.fail("set", NS, stanza.ItemNotFound, "", e("subscribe", "node", "x", "jid", "bob@localhost"))
	bob.fail("set", NS, stanza.UnexpectedRequest, "not-subscribed", e("unsubscribe", "node", "n", "jid", "bob@localhost/b"))
	first := bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	if again := bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b")); first != again {
		t.Fatalf("resubscribing made another subscription:\n%s\n%s", first, again)
	}
	bob.ok("set", NS, e("subscribe", "node", "m", "jid", "bob@localhost/b"))
	// A second subscription with options (§6.1.6): notifications then carry
	// both subids in SHIM headers; unsubscribing needs a subid.
	opts := &form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeOptions}},
		{Var: "pubsub#deliver", Values: []string{"1"}}}}
	second := bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"), e("options").form(opts))
	if second == first {
		t.Fatal("subscribe with options did not add a subscription")
	}
	if mine := bob.ok("get", NS, e("subscriptions")); strings.Count(mine, "<subscription ") != 3 {
		t.Fatalf("own subscriptions: %s", mine)
	}
	if mine := bob.ok("get", NS, e("subscriptions", "node", "m")); strings.Count(mine, "<subscription ") != 1 {
		t.Fatalf("own subscriptions at m: %s", mine)
	}
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "i").with(v(""))))
	st := bob.recv()
	if h, ok := st.Child(NSSHIM, "headers"); !ok || strings.Count(h.XML(), "SubID") != 2 {
		t.Fatalf("no SubID headers for two subscriptions: %s", st)
	}
	bob.none()
	bob.fail("set", NS, stanza.BadRequest, "subid-required", e("unsubscribe", "node", "n", "jid", "bob@localhost/b"))
	bob.fail("set", NS, stanza.NotAcceptable, "invalid-subid", e("unsubscribe", "node", "n", "jid", "bob@localhost/b", "subid", "nope"))
	// Someone else's subscription, even with its subid: invalid-jid.
	subid := attrOf(t, first, "subid")
	carol.fail("set", NS, stanza.BadRequest, "invalid-jid", e("unsubscribe", "node", "n", "jid", "bob@localhost/b", "subid", subid))
	carol.fail("set", NS, stanza.Forbidden, "", e("options", "node", "n", "jid", "bob@localhost/b", "subid", subid).form(opts))
	bob.ok("set", NS, e("unsubscribe", "node", "n", "jid", "bob@localhost/b", "subid", subid))
	bob.ok("set", NS, e("unsubscribe", "node", "n", "jid", "bob@localhost/b"))
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "j").with(v(""))))
	bob.none()

	mustContain(t, alice.ok("get", NS, e("affiliations")), "<affiliation node='m' affiliation='owner'/>", "<affiliation node='n' affiliation='owner'/>")

	// After a subscribed node is deleted, the subscriptions request still
	// works and lists no subscription there (Prosody fails this).
	alice.ok("set", NSOwner, e("delete", "node", "m"))
	mustContain(t, bob.event(), "<delete node='m'/>")
	if mine := bob.ok("get", NS, e("subscriptions")); strings.Contains(mine, "node='m'") {
		t.Fatalf("subscription of a deleted node: %s", mine)
	}
}

func TestWhitelistAndAffiliations(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c")
	alice.ok("set", NS, e("create", "node", "w"), e("configure").form(cfg("pubsub#access_model", "whitelist")))
	// An outsider: not-allowed + closed-node (§6.1.3.4) for subscribe and items.
	bob.fail("set", NS, stanza.NotAllowed, "closed-node", e("subscribe", "node", "w", "jid", "bob@localhost"))
	bob.fail("get", NS, stanza.NotAllowed, "closed-node", e("items", "node", "w"))
	bob.fail("get", NSOwner, stanza.Forbidden, "", e("affiliations", "node", "w"))
	alice.ok("set", NSOwner, e("affiliations", "node", "w").kids(e("affiliation", "jid", "bob@localhost", "affiliation", "member"),
		e("affiliation", "jid", "carol@localhost", "affiliation", "publisher")))
	mustContain(t, alice.ok("get", NSOwner, e("affiliations", "node", "w")), "xmlns='"+NSOwner+"'", "<affiliation jid='alice@localhost' affiliation='owner'/>",
		"<affiliation jid='bob@localhost' affiliation='member'/>", "<affiliation jid='carol@localhost' affiliation='publisher'/>")
	bob.ok("set", NS, e("subscribe", "node", "w", "jid", "bob@localhost/b"))
	bob.fail("set", NS, stanza.Forbidden, "", e("publish", "node", "w").kids(e("item").with(v(""))))
	carol.ok("set", NS, e("publish", "node", "w").kids(e("item", "id", "c1").with(v(""))))
	mustContain(t, bob.event(), "<item id='c1'>")
	carol.ok("set", NS, e("retract", "node", "w").kids(e("item", "id", "c1")))
	bob.event()
	mustContain(t, bob.ok("get", NS, e("affiliations", "node", "w")), "<affiliation node='w' affiliation='member'/>")

	// Outcast: the subscription goes (the subscriber is told), and
	// subscribing is forbidden.
	alice.ok("set", NSOwner, e("affiliations", "node", "w").kids(e("affiliation", "jid", "bob@localhost", "affiliation", "outcast")))
	mustContain(t, bob.event(), "<subscription node='w' jid='bob@localhost/b' subid='", "subscription='none'/>")
	if subs := alice.ok("get", NSOwner, e("subscriptions", "node", "w")); strings.Contains(subs, "bob@") {
		t.Fatalf("outcast keeps a subscription: %s", subs)
	}
	bob.fail("set", NS, stanza.Forbidden, "", e("subscribe", "node", "w", "jid", "bob@localhost"))
	bob.fail("get", NS, stanza.Forbidden, "", e("items", "node", "w"))
	// The last owner cannot go.
	alice.fail("set", NSOwner, stanza.NotAcceptable, "", e("affiliations", "node", "w").kids(e("affiliation", "jid", "alice@localhost", "affiliation", "none")))
	alice.fail("set", NSOwner, stanza.BadRequest, "", e("affiliations", "node", "w").kids(e("affiliation", "jid", "x@localhost", "affiliation", "king")))

	// Open publish model: anyone but outcasts.
	alice.ok("set", NSOwner, e("configure", "node", "w").form(cfg("pubsub#publish_model", "open", "pubsub#access_model", "open")))
	env.client("dave@localhost/d").ok("set", NS, e("publish", "node", "w").kids(e("item").with(v(""))))
	bob.fail("set", NS, stanza.Forbidden, "", e("publish", "node", "w").kids(e("item").with(v(""))))
}

// TestPublishOnly: the publish-only affiliation (XEP-0060 §4.1) publishes
// and retracts its own items, and neither subscribes nor retrieves.
func TestPublishOnly(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c")
	alice.ok("set", NS, e("create", "node", "n"))
	alice.ok("set", NSOwner, e("affiliations", "node", "n").kids(e("affiliation", "jid", "bob@localhost", "affiliation", "publish-only")))
	carol.ok("set", NS, e("subscribe", "node", "n", "jid", "carol@localhost/c"))
	bob.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "b1").with(v("bob"))))
	mustContain(t, carol.event(), "<item id='b1'>")
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "a1").with(v("alice"))))
	carol.event()
	bob.fail("set", NS, stanza.Forbidden, "", e("retract", "node", "n").kids(e("item", "id", "a1")))
	bob.ok("set", NS, e("retract", "node", "n").kids(e("item", "id", "b1")))
	carol.event()
	bob.fail("get", NS, stanza.Forbidden, "", e("items", "node", "n"))
	bob.fail("set", NS, stanza.Forbidden, "", e("subscribe", "node", "n", "jid", "bob@localhost"))
	mustContain(t, bob.ok("get", NS, e("affiliations")), "<affiliation node='n' affiliation='publish-only'/>")
	// Made publish-only, a subscriber loses its subscription.
	alice.ok("set", NSOwner, e("affiliations", "node", "n").kids(e("affiliation", "jid", "carol@localhost", "affiliation", "publish-only")))
	mustContain(t, carol.event(), "subscription='none'")
}

// TestItemReplyAndNotifySub: pubsub#itemreply puts the publisher (or the
// owner) on items; pubsub#notify_sub tells owners of subscriptions.
func TestItemReplyAndNotifySub(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c")
	alice.Available(0) // owners are told at their bare JID
	alice.ok("set", NS, e("create", "node", "n"), e("configure").form(cfg("pubsub#itemreply", "publisher", "pubsub#notify_sub", "1", "pubsub#publish_model", "open")))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	mustContain(t, alice.event(), "<subscription node='n' jid='bob@localhost/b' subid='", "subscription='subscribed'/>")
	carol.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "c").with(v("c"))))
	mustContain(t, bob.event(), "<item id='c' publisher='carol@localhost'>")
	mustContain(t, bob.ok("get", NS, e("items", "node", "n")), "<item id='c' publisher='carol@localhost'>")
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#itemreply", "owner", "pubsub#notify_config", "0")))
	carol.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "d").with(v("d"))))
	mustContain(t, bob.event(), "<item id='d' publisher='alice@localhost'>")
	bob.ok("set", NS, e("unsubscribe", "node", "n", "jid", "bob@localhost/b"))
	mustContain(t, alice.event(), "subscription='none'")
	alice.ok("set", NSOwner, e("configure", "node", "n").form(cfg("pubsub#itemreply", "none")))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	alice.event()
	mustContain(t, bob.event(), "<item id='d'>") // the last item, on_sub_and_presence by default
}

func TestManageSubscriptions(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	alice.ok("set", NSOwner, e("subscriptions", "node", "n").kids(e("subscription", "jid", "bob@localhost/b", "subscription", "subscribed")))
	mustContain(t, bob.event(), "subscription='subscribed'")
	mustContain(t, alice.ok("get", NSOwner, e("subscriptions", "node", "n")), "xmlns='"+NSOwner+"'", "<subscription jid='bob@localhost/b' subid='")
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "1").with(v(""))))
	bob.event()
	alice.ok("set", NSOwner, e("subscriptions", "node", "n").kids(e("subscription", "jid", "bob@localhost/b", "subscription", "none")))
	mustContain(t, bob.event(), "subscription='none'")
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "2").with(v(""))))
	bob.none()
	alice.fail("set", NSOwner, stanza.BadRequest, "", e("subscriptions", "node", "n").kids(e("subscription", "jid", "bob@localhost", "subscription", "pending")))
	alice.fail("set", NSOwner, stanza.JIDMalformed, "", e("subscriptions", "node", "n").kids(e("subscription", "jid", "@@", "subscription", "none")))
	bob.fail("get", NSOwner, stanza.Forbidden, "", e("subscriptions", "node", "n"))
}

func TestDeleteAndPurge(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "n"))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	for i := 0; i < 3; i++ {
		alice.ok("set", NS, e("publish", "node", "n").kids(e("item").with(v(""))))
		bob.event()
	}
	bob.fail("set", NSOwner, stanza.Forbidden, "", e("purge", "node", "n"))
	alice.ok("set", NSOwner, e("purge", "node", "n"))
	mustContain(t, bob.event(), "<purge node='n'/>")
	bob.none() // one purge notification, not one retract per item
	if items := bob.ok("get", NS, e("items", "node", "n")); strings.Contains(items, "<item ") {
		t.Fatalf("items after purge: %s", items)
	}
	bob.fail("set", NSOwner, stanza.Forbidden, "", e("delete", "node", "n"))
	alice.ok("set", NSOwner, e("delete", "node", "n").kids(e("redirect", "uri", "xmpp:pubsub.localhost?;node=other")))
	mustContain(t, bob.event(), "<delete node='n'><redirect uri='xmpp:pubsub.localhost?;node=other'/></delete>")
	alice.fail("set", NSOwner, stanza.ItemNotFound, "", e("delete", "node", "n"))
	alice.fail("set", NSOwner, stanza.ItemNotFound, "", e("purge", "node", "n"))
	alice.fail("set", NSOwner, stanza.BadRequest, "nodeid-required", e("delete"))
}

func TestTransientNode(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "t"), e("configure").form(cfg("pubsub#persist_items", "0", "pubsub#deliver_payloads", "0", "pubsub#notification_type", "normal")))
	bob.ok("set", NS, e("subscribe", "node", "t", "jid", "bob@localhost/b"))
	alice.fail("set", NS, stanza.BadRequest, "item-forbidden", e("publish", "node", "t").kids(e("item").with(v(""))))
	alice.ok("set", NS, e("publish", "node", "t").kids(e("item", "id", "x")))
	st := bob.recv()
	if st.Type != "" {
		t.Fatalf("normal notification has type %q", st.Type)
	}
	mustContain(t, st.Payload(), "<item id='x'/>")
	alice.fail("set", NSOwner, stanza.FeatureNotImplemented, "unsupported", e("purge", "node", "t"))
}

func TestUnsupportedAndMalformed(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.fail("get", NS, stanza.ItemNotFound, "", e("options", "node", "n", "jid", "alice@localhost"))
	alice.fail("set", NS, stanza.FeatureNotImplemented, "unsupported", e("frobnicate"))
	alice.fail("get", NS, stanza.BadRequest, "", e("publish", "node", "n"))
	alice.fail("set", NS, stanza.BadRequest, "")
	// A form that breaks XEP-0004 (a var twice).
	bad := &form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Var: "a"}, {Var: "a"}}}
	alice.fail("set", NSOwner, stanza.BadRequest, "", e("configure", "node", "n").form(bad))
}

func TestDisco(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"), e("configure").form(cfg("pubsub#title", "News")))
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "it").with(v(""))))
	ctx := t.Context()
	info, err := disco.GetInfo(ctx, alice, svcJID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{NS + "#publish", NS + "#create-nodes", NS + "#retrieve-items", NS + "#meta-data", NS + "#access-authorize",
		NS + "#get-pending", NS + "#publish-only-affiliation", NS + "#last-published", "http://jabber.org/protocol/rsm", "http://jabber.org/protocol/commands"} {
		if !info.HasFeature(f) {
			t.Errorf("disco#info lacks %s", f)
		}
	}
	for _, f := range []string{NS + "#collections", NS + "#auto-create", NS + "#access-presence", NS + "#access-roster"} {
		if info.HasFeature(f) {
			t.Errorf("advertises %s, which does not work here", f)
		}
	}
	items, err := disco.GetItems(ctx, alice, svcJID, "")
	if err != nil || len(items) != 1 || items[0].Node != "n" || items[0].Name != "News" {
		t.Fatalf("disco#items: %v %v", items, err)
	}
	ninfo, err := disco.GetInfo(ctx, alice, svcJID, "n")
	if err != nil || ninfo.Identities[0].Type != "leaf" || len(ninfo.Forms) != 1 || ninfo.Forms[0].FormType() != FormMetaData {
		t.Fatalf("node info: %+v %v", ninfo, err)
	}
	if c, _ := ninfo.Forms[0].Get("pubsub#creator"); c != "alice@localhost" {
		t.Fatalf("creator %q", c)
	}
	nitems, err := disco.GetItems(ctx, alice, svcJID, "n")
	if err != nil || len(nitems) != 1 || nitems[0].Name != "it" {
		t.Fatalf("node items: %v %v", nitems, err)
	}
	if _, err := disco.GetInfo(ctx, alice, svcJID, "missing"); err == nil {
		t.Fatal("disco#info of a missing node")
	}
}

func TestSubscriptionOptions(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob, carol := env.client("alice@localhost/a"), env.client("bob@localhost/b"), env.client("carol@localhost/c")
	alice.ok("set", NS, e("create", "node", "n"))
	def := bob.ok("get", NS, e("default"))
	mustContain(t, def, FormSubscribeOptions)
	if formValue(t, def, "pubsub#deliver") != "1" {
		t.Fatalf("default options: %s", def)
	}
	bob.fail("get", NS, stanza.UnexpectedRequest, "not-subscribed", e("options", "node", "n", "jid", "bob@localhost/b"))
	bob.ok("set", NS, e("subscribe", "node", "n", "jid", "bob@localhost/b"))
	got := bob.ok("get", NS, e("options", "node", "n", "jid", "bob@localhost/b"))
	mustContain(t, got, "<options node='n' jid='bob@localhost/b' subid='", "pubsub#digest", "pubsub#show-values")
	carol.fail("get", NS, stanza.Forbidden, "", e("options", "node", "n", "jid", "bob@localhost/b"))
	bob.fail("get", NS, stanza.BadRequest, "jid-required", e("options", "node", "n"))
	bob.fail("get", NS, stanza.NotAcceptable, "invalid-subid", e("options", "node", "n", "jid", "bob@localhost/b", "subid", "x"))
	opt := func(pairs ...string) *node {
		f := &form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeOptions}}}}
		for i := 0; i < len(pairs); i += 2 {
			f.Fields = append(f.Fields, form.Field{Var: pairs[i], Values: []string{pairs[i+1]}})
		}
		return e("options", "node", "n", "jid", "bob@localhost/b").form(f)
	}
	bob.fail("set", NS, stanza.BadRequest, "invalid-options", opt("pubsub#deliver", "maybe"))
	bob.fail("set", NS, stanza.BadRequest, "invalid-options", opt("pubsub#nonsense", "1"))
	bob.fail("set", NS, stanza.BadRequest, "invalid-options", opt("pubsub#show-values", "sleepy"))
	bob.ok("set", NS, opt("pubsub#deliver", "false", "pubsub#digest", "1", "pubsub#show-values", "away", "pubsub#expire", "presence"))
	got = bob.ok("get", NS, e("options", "node", "n", "jid", "bob@localhost/b"))
	if f := formIn(t, got); f.Values("pubsub#show-values")[0] != "away" {
		t.Fatalf("options kept: %s", got)
	}
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "1").with(v(""))))
	bob.none()
	bob.ok("set", NS, opt("pubsub#deliver", "true"))
	alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "2").with(v(""))))
	mustContain(t, bob.event(), "<item id='2'>")
}

// TestLargePayload: a 200 KiB payload (servers pass up to 256 KiB from
// clients) is stored, delivered and returned byte for byte.
func TestLargePayload(t *testing.T) {
	env := newEnv(t, nil)
	alice, bob := env.client("alice@localhost/a"), env.client("bob@localhost/b")
	alice.ok("set", NS, e("create", "node", "big"))
	bob.ok("set", NS, e("subscribe", "node", "big", "jid", "bob@localhost/b"))
	var b strings.Builder
	b.WriteString("<blob xmlns='urn:big' xml:lang='en'>")
	for b.Len() < 200<<10 {
		b.WriteString("<p n=\"1\">&lt;x&gt; \u00e9t\u00e9 &amp; more text</p>\n")
	}
	b.WriteString("</blob>")
	payload := stanza.MustElement(b.String())
	alice.ok("set", NS, e("publish", "node", "big").kids(e("item", "id", "b").with(payload)))
	mustContain(t, bob.event(), "<item id='b'>"+payload.XML()+"</item>")
	mustContain(t, bob.ok("get", NS, e("items", "node", "big")), "<item id='b'>"+payload.XML()+"</item>")
}

// TestItemsResultBounded: an items answer stays under MaxResultBytes by
// returning the newest items that fit, and says so with an RSM set that
// pages on to the rest (no silent cut).
func TestItemsResultBounded(t *testing.T) {
	env := newEnv(t, nil)
	alice := env.client("alice@localhost/a")
	alice.ok("set", NS, e("create", "node", "n"))
	big := v(strings.Repeat("x", 100<<10))
	for i := 0; i < 6; i++ {
		alice.ok("set", NS, e("publish", "node", "n").kids(e("item", "id", "i"+string(rune('0'+i))).with(big)))
	}
	got := alice.ok("get", NS, e("items", "node", "n"))
	if len(got) > MaxResultBytes+1024 || strings.Contains(got, "'i0'") || !strings.Contains(got, "'i5'") || strings.Count(got, "<item ") != 3 {
		t.Fatalf("answer of %d bytes with %d items", len(got), strings.Count(got, "<item "))
	}
	mustContain(t, got, "<count>6</count>", "<first index='0'>i5</first>", "<last>i3</last>")
}

func TestMayCreate(t *testing.T) {
	env := newEnvOpts(t, Options{MayCreate: func(from jid.JID) bool { return from.Local() == "alice" }})
	env.client("alice@localhost/a").ok("set", NS, e("create", "node", "n"))
	env.client("bob@localhost/b").fail("set", NS, stanza.Forbidden, "", e("create", "node", "m"))
}
