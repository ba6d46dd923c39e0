package pubsub

import (
	"strings"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

const submit = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormNodeConfig + "</value></field>"

func TestCreate(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice@localhost/a")
	got := alice.ok("set", NS, "<create node='news'/>")
	mustContain(t, got, "<create node='news'/>")
	alice.fail("set", NS, "<create node='news'/>", stanza.Conflict, "")

	// Instant node: the service picks the id and returns it (§8.1.2).
	got = alice.ok("set", NS, "<create/>")
	if !strings.Contains(got, "<create node='") {
		t.Fatalf("instant node: %s", got)
	}
	// Create and configure (§8.1.3); bad option values are refused.
	alice.ok("set", NS, "<create node='conf'/><configure>"+submit+
		"<field var='pubsub#title'><value>Conf</value></field><field var='pubsub#max_items'><value>2</value></field>"+
		"<field var='pubsub#persist_items'><value>true</value></field></x></configure>")
	got = alice.ok("get", NSOwner, "<configure node='conf'/>")
	if formValue(t, got, "pubsub#title") != "Conf" || formValue(t, got, "pubsub#max_items") != "2" {
		t.Fatalf("create with configure: %s", got)
	}
	alice.fail("set", NS, "<create node='bad'/><configure>"+submit+
		"<field var='pubsub#max_items'><value>lots</value></field></x></configure>", stanza.NotAcceptable, "")
	alice.fail("set", NS, "<create node='bad'/><configure>"+submit+
		"<field var='pubsub#access_model'><value>roster</value></field></x></configure>", stanza.NotAcceptable, "")
	alice.fail("get", NSOwner, "<configure node='bad'/>", stanza.ItemNotFound, "")
}

func TestConfigure(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/>")
	bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")

	form := alice.ok("get", NSOwner, "<configure node='n'/>")
	mustContain(t, form, "type=\"form\"", FormNodeConfig, "pubsub#title", "pubsub#max_items", "pubsub#persist_items",
		"pubsub#deliver_payloads", "pubsub#notify_retract", "pubsub#notify_delete", "pubsub#access_model", "pubsub#publish_model")
	bob.fail("get", NSOwner, "<configure node='n'/>", stanza.Forbidden, "")
	bob.fail("set", NSOwner, "<configure node='n'>"+submit+"</x></configure>", stanza.Forbidden, "")

	// A partial form merges: the title changes, nothing else does.
	alice.ok("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#title'><value>T1</value></field></x></configure>")
	ev := bob.event()
	mustContain(t, ev, "<configuration node='n'>", "<value>T1</value>")
	alice.ok("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#deliver_payloads'><value>0</value></field></x></configure>")
	ev = bob.event()
	mustContain(t, ev, "<configuration node='n'/>")
	form = alice.ok("get", NSOwner, "<configure node='n'/>")
	mustContain(t, form, "<value>T1</value>")
	if formValue(t, form, "pubsub#deliver_payloads") != "0" || formValue(t, form, "pubsub#notify_retract") != "1" {
		t.Fatalf("merge lost options: %s", form)
	}
	// Booleans as true/false; unknown options are refused.
	alice.ok("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#notify_config'><value>false</value></field></x></configure>")
	alice.ok("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#title'><value>T2</value></field></x></configure>")
	bob.none()
	alice.fail("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#frobnicate'><value>1</value></field></x></configure>", stanza.NotAcceptable, "")
	alice.fail("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#notify_delete'><value>yes</value></field></x></configure>", stanza.NotAcceptable, "")
	alice.ok("set", NSOwner, "<configure node='n'><x xmlns='jabber:x:data' type='cancel'/></configure>")

	def := alice.ok("get", NSOwner, "<default/>")
	mustContain(t, def, "<default>", FormNodeConfig)
}

func TestPublishAndRetrieve(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/>")
	sub := bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	mustContain(t, sub, "subscription='subscribed'", "subid='", "jid='bob@localhost/b'")

	// The payload survives byte for byte: prefixes, odd quoting, xml:lang,
	// entities, whitespace.
	payload := `<entry xmlns="http://www.w3.org/2005/Atom" xmlns:x='urn:x' xml:lang="fr"><title  x:a = "1&amp;2">Bonjour &lt;monde&gt; &#x263A;</title>` + "\n  <x:e/></entry>"
	res := alice.ok("set", NS, "<publish node='n'><item id='one'>"+payload+"</item></publish>")
	mustContain(t, res, "<publish node='n'><item id='one'/></publish>")
	ev := bob.event()
	mustContain(t, ev, "<items node='n'><item id='one'>"+payload+"</item></items>")

	// Without an id the service assigns one and returns it (§7.1.2).
	res = alice.ok("set", NS, "<publish node='n'><item><v xmlns='urn:v'>2</v></item></publish>")
	i := strings.Index(res, "<item id='")
	if i < 0 {
		t.Fatalf("no item id in %s", res)
	}
	id := res[i+10 : i+10+strings.IndexByte(res[i+10:], '\'')]
	mustContain(t, bob.event(), "<item id='"+id+"'><v xmlns='urn:v'>2</v></item>")
	alice.ok("set", NS, "<publish node='n'><item id='three'><v xmlns='urn:v'>3</v></item></publish>")
	bob.event()

	all := bob.ok("get", NS, "<items node='n'/>")
	if strings.Index(all, "'one'") > strings.Index(all, "'three'") || !strings.Contains(all, payload) {
		t.Fatalf("items: %s", all)
	}
	last := bob.ok("get", NS, "<items node='n' max_items='2'/>")
	if strings.Contains(last, "'one'") || !strings.Contains(last, "'"+id+"'") || !strings.Contains(last, "'three'") {
		t.Fatalf("max_items=2: %s", last)
	}
	byID := bob.ok("get", NS, "<items node='n'><item id='one'/><item id='missing'/></items>")
	if !strings.Contains(byID, payload) || strings.Contains(byID, "three") {
		t.Fatalf("by id: %s", byID)
	}
	// Republishing an id replaces the item and makes it the newest.
	alice.ok("set", NS, "<publish node='n'><item id='one'><v xmlns='urn:v'>1b</v></item></publish>")
	bob.event()
	last = bob.ok("get", NS, "<items node='n' max_items='1'/>")
	mustContain(t, last, "<item id='one'><v xmlns='urn:v'>1b</v></item>")

	// Errors (§7.1.3, §6.5.9).
	bob.fail("set", NS, "<publish node='n'><item><v xmlns='urn:v'/></item></publish>", stanza.Forbidden, "")
	alice.fail("set", NS, "<publish node='nope'><item><v xmlns='urn:v'/></item></publish>", stanza.ItemNotFound, "")
	alice.fail("set", NS, "<publish><item><v xmlns='urn:v'/></item></publish>", stanza.BadRequest, "nodeid-required")
	alice.fail("set", NS, "<publish node='n'><item><a xmlns='urn:v'/><b xmlns='urn:v'/></item></publish>", stanza.BadRequest, "invalid-payload")
	alice.fail("set", NS, "<publish node='n'><item>text</item></publish>", stanza.BadRequest, "invalid-payload")
	alice.fail("set", NS, "<publish node='n'><item id='x'/></publish>", stanza.BadRequest, "payload-required")
	alice.fail("set", NS, "<publish node='n'/>", stanza.BadRequest, "item-required")
	bob.fail("get", NS, "<items node='nope'/>", stanza.ItemNotFound, "")
	bob.fail("get", NS, "<items node='n' max_items='-1'/>", stanza.BadRequest, "")
	bob.none()
}

func TestPublishOptions(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice@localhost/a")
	alice.ok("set", NS, "<create node='n'/>")
	po := func(fields string) string {
		return "<publish node='n'><item id='i'><v xmlns='urn:v'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>" +
			"<field var='FORM_TYPE' type='hidden'><value>" + FormPublishOptions + "</value></field>" + fields + "</x></publish-options>"
	}
	alice.ok("set", NS, po("<field var='pubsub#access_model'><value>open</value></field><field var='pubsub#persist_items'><value>true</value></field>"))
	alice.ok("set", NS, po("<field var='pubsub#max_items'><value>256</value></field><field var='pubsub#deliver_payloads'><value>1</value></field>"))
	alice.fail("set", NS, po("<field var='pubsub#access_model'><value>whitelist</value></field>"), stanza.Conflict, "precondition-not-met")
	alice.fail("set", NS, po("<field var='pubsub#persist_items'><value>false</value></field>"), stanza.Conflict, "precondition-not-met")
	alice.fail("set", NS, po("<field var='pubsub#unknown'><value>x</value></field>"), stanza.Conflict, "precondition-not-met")
}

func TestRetract(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/>")
	bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	for _, id := range []string{"a", "b", "c"} {
		alice.ok("set", NS, "<publish node='n'><item id='"+id+"'><v xmlns='urn:v'/></item></publish>")
		bob.event()
	}
	alice.ok("set", NS, "<retract node='n' notify='true'><item id='a'/></retract>")
	mustContain(t, bob.event(), "<items node='n'><retract id='a'/></items>")
	alice.ok("set", NS, "<retract node='n' notify='0'><item id='b'/></retract>")
	bob.none()
	items := bob.ok("get", NS, "<items node='n'/>")
	if strings.Contains(items, "'a'") || strings.Contains(items, "'b'") || !strings.Contains(items, "'c'") {
		t.Fatalf("after retract: %s", items)
	}
	alice.fail("set", NS, "<retract node='n'><item id='a'/></retract>", stanza.ItemNotFound, "")
	alice.fail("set", NS, "<retract node='n'/>", stanza.BadRequest, "item-required")
	alice.fail("set", NS, "<retract><item id='c'/></retract>", stanza.BadRequest, "nodeid-required")
	bob.fail("set", NS, "<retract node='n'><item id='c'/></retract>", stanza.Forbidden, "")
	// Without notify the node's notify_retract (default on) applies.
	alice.ok("set", NS, "<retract node='n'><item id='c'/></retract>")
	mustContain(t, bob.event(), "<retract id='c'/>")
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, carol := e.client("alice@localhost/a"), e.client("bob@localhost/b"), e.client("carol@localhost/c")
	alice.ok("set", NS, "<create node='n'/>")
	alice.ok("set", NS, "<create node='m'/>")
	// Someone else's JID: bad-request + invalid-jid (§6.1.3.1).
	bob.fail("set", NS, "<subscribe node='n' jid='carol@localhost'/>", stanza.BadRequest, "invalid-jid")
	bob.fail("set", NS, "<subscribe node='n'/>", stanza.BadRequest, "invalid-jid")
	bob.fail("set", NS, "<subscribe node='x' jid='bob@localhost'/>", stanza.ItemNotFound, "")
	bob.fail("set", NS, "<unsubscribe node='n' jid='bob@localhost/b'/>", stanza.UnexpectedRequest, "not-subscribed")
	first := bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	again := bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	if first != again {
		t.Fatalf("resubscribing made another subscription:\n%s\n%s", first, again)
	}
	bob.ok("set", NS, "<subscribe node='m' jid='bob@localhost/b'/>")
	// A second subscription with options (§6.1.6): notifications then carry
	// both subids in SHIM headers; unsubscribing needs a subid.
	opts := "<options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormSubscribeOptions +
		"</value></field><field var='pubsub#deliver'><value>1</value></field></x></options>"
	second := bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>"+opts)
	if second == first {
		t.Fatal("subscribe with options did not add a subscription")
	}
	mine := bob.ok("get", NS, "<subscriptions/>")
	if strings.Count(mine, "<subscription ") != 3 {
		t.Fatalf("own subscriptions: %s", mine)
	}
	mine = bob.ok("get", NS, "<subscriptions node='m'/>")
	if strings.Count(mine, "<subscription ") != 1 {
		t.Fatalf("own subscriptions at m: %s", mine)
	}
	alice.ok("set", NS, "<publish node='n'><item id='i'><v xmlns='urn:v'/></item></publish>")
	st := bob.recv()
	if h, ok := st.Child(NSSHIM, "headers"); !ok || strings.Count(h.XML(), "SubID") != 2 {
		t.Fatalf("no SubID headers for two subscriptions: %s", st)
	}
	bob.none()
	bob.fail("set", NS, "<unsubscribe node='n' jid='bob@localhost/b'/>", stanza.BadRequest, "subid-required")
	bob.fail("set", NS, "<unsubscribe node='n' jid='bob@localhost/b' subid='nope'/>", stanza.NotAcceptable, "invalid-subid")
	carol.fail("set", NS, "<unsubscribe node='n' jid='bob@localhost/b'/>", stanza.BadRequest, "invalid-jid")
	subid := attrValue(first, "subid")
	bob.ok("set", NS, "<unsubscribe node='n' jid='bob@localhost/b' subid='"+subid+"'/>")
	bob.ok("set", NS, "<unsubscribe node='n' jid='bob@localhost/b'/>")
	alice.ok("set", NS, "<publish node='n'><item id='j'><v xmlns='urn:v'/></item></publish>")
	bob.none()

	affs := alice.ok("get", NS, "<affiliations/>")
	mustContain(t, affs, "<affiliation node='n' affiliation='owner'/>", "<affiliation node='m' affiliation='owner'/>")

	// After a subscribed node is deleted, the subscriptions request still
	// works and lists no subscription there (Prosody fails this).
	alice.ok("set", NSOwner, "<delete node='m'/>")
	mustContain(t, bob.event(), "<delete node='m'/>")
	mine = bob.ok("get", NS, "<subscriptions/>")
	if strings.Contains(mine, "node='m'") {
		t.Fatalf("subscription of a deleted node: %s", mine)
	}
}

func attrValue(xml, name string) string {
	i := strings.Index(xml, name+"='")
	if i < 0 {
		return ""
	}
	rest := xml[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '\'')]
}

func TestWhitelistAndAffiliations(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, carol := e.client("alice@localhost/a"), e.client("bob@localhost/b"), e.client("carol@localhost/c")
	alice.ok("set", NS, "<create node='w'/><configure>"+submit+"<field var='pubsub#access_model'><value>whitelist</value></field></x></configure>")
	// An outsider: not-allowed + closed-node (§6.1.3.4) for subscribe and items.
	bob.fail("set", NS, "<subscribe node='w' jid='bob@localhost'/>", stanza.NotAllowed, "closed-node")
	bob.fail("get", NS, "<items node='w'/>", stanza.NotAllowed, "closed-node")
	bob.fail("get", NSOwner, "<affiliations node='w'/>", stanza.Forbidden, "")
	alice.ok("set", NSOwner, "<affiliations node='w'><affiliation jid='bob@localhost' affiliation='member'/>"+
		"<affiliation jid='carol@localhost' affiliation='publisher'/></affiliations>")
	affs := alice.ok("get", NSOwner, "<affiliations node='w'/>")
	mustContain(t, affs, "xmlns='"+NSOwner+"'", "<affiliation jid='alice@localhost' affiliation='owner'/>",
		"<affiliation jid='bob@localhost' affiliation='member'/>", "<affiliation jid='carol@localhost' affiliation='publisher'/>")
	bob.ok("set", NS, "<subscribe node='w' jid='bob@localhost/b'/>")
	bob.fail("set", NS, "<publish node='w'><item><v xmlns='urn:v'/></item></publish>", stanza.Forbidden, "")
	carol.ok("set", NS, "<publish node='w'><item id='c1'><v xmlns='urn:v'/></item></publish>")
	mustContain(t, bob.event(), "<item id='c1'>")
	carol.ok("set", NS, "<retract node='w'><item id='c1'/></retract>")
	bob.event()
	mine := bob.ok("get", NS, "<affiliations node='w'/>")
	mustContain(t, mine, "<affiliation node='w' affiliation='member'/>")

	// Outcast: the subscription goes, and subscribing is forbidden.
	alice.ok("set", NSOwner, "<affiliations node='w'><affiliation jid='bob@localhost' affiliation='outcast'/></affiliations>")
	subs := alice.ok("get", NSOwner, "<subscriptions node='w'/>")
	if strings.Contains(subs, "bob@") {
		t.Fatalf("outcast keeps a subscription: %s", subs)
	}
	bob.fail("set", NS, "<subscribe node='w' jid='bob@localhost'/>", stanza.Forbidden, "")
	bob.fail("get", NS, "<items node='w'/>", stanza.Forbidden, "")
	// The last owner cannot go.
	alice.fail("set", NSOwner, "<affiliations node='w'><affiliation jid='alice@localhost' affiliation='none'/></affiliations>", stanza.NotAcceptable, "")
	alice.fail("set", NSOwner, "<affiliations node='w'><affiliation jid='x@localhost' affiliation='king'/></affiliations>", stanza.BadRequest, "")

	// Open publish model: anyone but outcasts.
	alice.ok("set", NSOwner, "<configure node='w'>"+submit+"<field var='pubsub#publish_model'><value>open</value></field>"+
		"<field var='pubsub#access_model'><value>open</value></field></x></configure>")
	e.client("dave@localhost/d").ok("set", NS, "<publish node='w'><item><v xmlns='urn:v'/></item></publish>")
	bob.fail("set", NS, "<publish node='w'><item><v xmlns='urn:v'/></item></publish>", stanza.Forbidden, "")
}

func TestManageSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/>")
	alice.ok("set", NSOwner, "<subscriptions node='n'><subscription jid='bob@localhost/b' subscription='subscribed'/></subscriptions>")
	subs := alice.ok("get", NSOwner, "<subscriptions node='n'/>")
	mustContain(t, subs, "xmlns='"+NSOwner+"'", "<subscription jid='bob@localhost/b' subscription='subscribed' subid='")
	alice.ok("set", NS, "<publish node='n'><item id='1'><v xmlns='urn:v'/></item></publish>")
	bob.event()
	alice.ok("set", NSOwner, "<subscriptions node='n'><subscription jid='bob@localhost/b' subscription='none'/></subscriptions>")
	alice.ok("set", NS, "<publish node='n'><item id='2'><v xmlns='urn:v'/></item></publish>")
	bob.none()
	alice.fail("set", NSOwner, "<subscriptions node='n'><subscription jid='bob@localhost' subscription='pending'/></subscriptions>", stanza.BadRequest, "")
	bob.fail("get", NSOwner, "<subscriptions node='n'/>", stanza.Forbidden, "")
}

func TestDeleteAndPurge(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/>")
	bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	for i := 0; i < 3; i++ {
		alice.ok("set", NS, "<publish node='n'><item><v xmlns='urn:v'/></item></publish>")
		bob.event()
	}
	bob.fail("set", NSOwner, "<purge node='n'/>", stanza.Forbidden, "")
	alice.ok("set", NSOwner, "<purge node='n'/>")
	mustContain(t, bob.event(), "<purge node='n'/>")
	bob.none() // one purge notification, not one retract per item
	if items := bob.ok("get", NS, "<items node='n'/>"); strings.Contains(items, "<item ") {
		t.Fatalf("items after purge: %s", items)
	}
	bob.fail("set", NSOwner, "<delete node='n'/>", stanza.Forbidden, "")
	alice.ok("set", NSOwner, "<delete node='n'><redirect uri='xmpp:pubsub.localhost?;node=other'/></delete>")
	mustContain(t, bob.event(), "<delete node='n'><redirect uri='xmpp:pubsub.localhost?;node=other'/></delete>")
	alice.fail("set", NSOwner, "<delete node='n'/>", stanza.ItemNotFound, "")
	alice.fail("set", NSOwner, "<purge node='n'/>", stanza.ItemNotFound, "")
	alice.fail("set", NSOwner, "<delete/>", stanza.BadRequest, "nodeid-required")
}

func TestTransientNode(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='t'/><configure>"+submit+"<field var='pubsub#persist_items'><value>0</value></field>"+
		"<field var='pubsub#deliver_payloads'><value>0</value></field><field var='pubsub#notification_type'><value>normal</value></field></x></configure>")
	bob.ok("set", NS, "<subscribe node='t' jid='bob@localhost/b'/>")
	alice.fail("set", NS, "<publish node='t'><item><v xmlns='urn:v'/></item></publish>", stanza.BadRequest, "item-forbidden")
	alice.ok("set", NS, "<publish node='t'><item id='x'/></publish>")
	st := bob.recv()
	if st.Type != "" {
		t.Fatalf("normal notification has type %q", st.Type)
	}
	mustContain(t, st.Payload(), "<item id='x'/>")
	alice.fail("set", NSOwner, "<purge node='t'/>", stanza.FeatureNotImplemented, "unsupported")
}

func TestUnsupportedAndMalformed(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice@localhost/a")
	alice.fail("get", NS, "<options node='n' jid='alice@localhost'/>", stanza.ItemNotFound, "")
	alice.fail("set", NS, "<frobnicate/>", stanza.FeatureNotImplemented, "unsupported")
	alice.fail("get", NS, "<publish node='n'/>", stanza.BadRequest, "")
	alice.fail("set", NS, "", stanza.BadRequest, "")
	alice.fail("set", NSOwner, "<configure node='n'><x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x></configure>", stanza.BadRequest, "")
}

func TestDisco(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice@localhost/a")
	alice.ok("set", NS, "<create node='n'/><configure>"+submit+"<field var='pubsub#title'><value>News</value></field></x></configure>")
	alice.ok("set", NS, "<publish node='n'><item id='it'><v xmlns='urn:v'/></item></publish>")
	query := func(ns, node string) string {
		iq := stanza.NewIQ("get", svcJID)
		q := "<query xmlns='" + ns + "'"
		if node != "" {
			q += " node='" + node + "'"
		}
		iq.SetPayload(q + "/>")
		res, err := alice.SendIQ(t.Context(), iq)
		if err != nil {
			t.Fatalf("disco %s %s: %v", ns, node, err)
		}
		return res.Payload()
	}
	info := query("http://jabber.org/protocol/disco#info", "")
	mustContain(t, info, `category="pubsub"`, `type="service"`, NS+"#publish", NS+"#create-nodes", NS+"#retrieve-items", NS+"#meta-data")
	if strings.Contains(info, "#collections") || strings.Contains(info, "#auto-create") {
		t.Fatalf("advertises unimplemented features: %s", info)
	}
	items := query("http://jabber.org/protocol/disco#items", "")
	mustContain(t, items, `node="n"`, `name="News"`)
	ninfo := query("http://jabber.org/protocol/disco#info", "n")
	mustContain(t, ninfo, `type="leaf"`, FormMetaData, "alice@localhost", "News")
	nitems := query("http://jabber.org/protocol/disco#items", "n")
	mustContain(t, nitems, `name="it"`)
}

func TestSubscriptionOptions(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, carol := e.client("alice@localhost/a"), e.client("bob@localhost/b"), e.client("carol@localhost/c")
	alice.ok("set", NS, "<create node='n'/>")
	def := bob.ok("get", NS, "<default/>")
	mustContain(t, def, FormSubscribeOptions)
	if formValue(t, def, "pubsub#deliver") != "1" {
		t.Fatalf("default options: %s", def)
	}
	bob.fail("get", NS, "<options node='n' jid='bob@localhost/b'/>", stanza.UnexpectedRequest, "not-subscribed")
	bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	got := bob.ok("get", NS, "<options node='n' jid='bob@localhost/b'/>")
	mustContain(t, got, "<options node='n' jid='bob@localhost/b' subid='")
	if formValue(t, got, "pubsub#deliver") != "1" {
		t.Fatalf("options: %s", got)
	}
	carol.fail("get", NS, "<options node='n' jid='bob@localhost/b'/>", stanza.Forbidden, "")
	bob.fail("get", NS, "<options node='n'/>", stanza.BadRequest, "jid-required")
	bob.fail("get", NS, "<options node='n' jid='bob@localhost/b' subid='x'/>", stanza.NotAcceptable, "invalid-subid")
	opt := func(v string) string {
		return "<options node='n' jid='bob@localhost/b'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" +
			FormSubscribeOptions + "</value></field><field var='pubsub#deliver'><value>" + v + "</value></field></x></options>"
	}
	bob.fail("set", NS, opt("maybe"), stanza.BadRequest, "invalid-options")
	bob.ok("set", NS, opt("false"))
	alice.ok("set", NS, "<publish node='n'><item id='1'><v xmlns='urn:v'/></item></publish>")
	bob.none()
	bob.ok("set", NS, opt("true"))
	alice.ok("set", NS, "<publish node='n'><item id='2'><v xmlns='urn:v'/></item></publish>")
	mustContain(t, bob.event(), "<item id='2'>")
}

// TestLargePayload: a 200 KiB payload (servers pass up to 256 KiB from
// clients) is stored, delivered and returned byte for byte.
func TestLargePayload(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='big'/>")
	bob.ok("set", NS, "<subscribe node='big' jid='bob@localhost/b'/>")
	var b strings.Builder
	b.WriteString("<blob xmlns='urn:big' xml:lang='en'>")
	for b.Len() < 200<<10 {
		b.WriteString("<p n=\"1\">&lt;x&gt; \u00e9t\u00e9 &amp; more text</p>\n")
	}
	b.WriteString("</blob>")
	payload := b.String()
	alice.ok("set", NS, "<publish node='big'><item id='b'>"+payload+"</item></publish>")
	mustContain(t, bob.event(), "<item id='b'>"+payload+"</item>")
	mustContain(t, bob.ok("get", NS, "<items node='big'/>"), "<item id='b'>"+payload+"</item>")
}

// TestItemsResultBounded: an items answer stays under MaxResultBytes by
// returning the newest items that fit.
func TestItemsResultBounded(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice@localhost/a")
	alice.ok("set", NS, "<create node='n'/>")
	big := "<v xmlns='urn:v'>" + strings.Repeat("x", 100<<10) + "</v>"
	for i := 0; i < 6; i++ {
		alice.ok("set", NS, "<publish node='n'><item id='i"+string(rune('0'+i))+"'>"+big+"</item></publish>")
	}
	got := alice.ok("get", NS, "<items node='n'/>")
	if len(got) > MaxResultBytes+1024 || strings.Contains(got, "'i0'") || !strings.Contains(got, "'i5'") || strings.Count(got, "<item ") != 3 {
		t.Fatalf("answer of %d bytes with %d items", len(got), strings.Count(got, "<item "))
	}
}

func TestMayCreate(t *testing.T) {
	e := newEnvOpts(t, Options{MayCreate: func(from jid.JID) bool { return from.Local() == "alice" }})
	e.client("alice@localhost/a").ok("set", NS, "<create node='n'/>")
	e.client("bob@localhost/b").fail("set", NS, "<create node='m'/>", stanza.Forbidden, "")
}
