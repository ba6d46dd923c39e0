package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// FuzzRequest feeds arbitrary <pubsub/> payloads, in both namespaces and
// both iq types, to a service holding a node with an item and a
// subscription: it never panics, answers with a stanza error or exactly
// one result, and the store's index stays consistent (a failed request
// undoes all it did).
func FuzzRequest(f *testing.F) {
	seeds := []string{
		"<create node='x'/>",
		"<create/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field></x></configure>",
		"<publish node='n'><item id='i'><v xmlns='urn:v'/></item></publish>",
		"<publish node='auto'><item><v xmlns='urn:v'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>",
		"<retract node='n' notify='1'><item id='a'/></retract>",
		"<subscribe node='n' jid='f@localhost/r'/><options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#deliver'><value>0</value></field></x></options>",
		"<unsubscribe node='n' jid='f@localhost/r' subid='s'/>",
		"<items node='n' max_items='1'><item id='a'/></items>",
		"<items node='n'><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set></items>",
		"<items node='n'/><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><after>zz</after></set>",
		"<subscriptions node='n'><subscription jid='z@localhost' subscription='subscribed'/></subscriptions>",
		"<affiliations node='n'><affiliation jid='z@localhost' affiliation='outcast'/><affiliation jid='f@localhost' affiliation='none'/></affiliations>",
		"<configure node='n'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>0</value></field></x></configure>",
		"<configure node='n'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field><field var='pubsub#max_items'><value>1</value></field></x></configure>",
		"<delete node='n'><redirect uri='xmpp:a'/></delete>",
		"<purge node='n'/>",
		"<default/>",
		"<items node='n'><item>",
	}
	for _, s := range seeds {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, inner string, owner, get bool) {
		store := NewMemoryStore()
		svc, err := New(Options{Store: store, AutoCreate: true, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		from := jid.MustParse("f@localhost/r")
		rec := &muxtest.Recorder{}
		errSkip := errors.New("not well-formed")
		call := func(typ, ns, inner string) error {
			iq := stanza.NewIQ(typ, svcJID)
			iq.From = from
			if err := iq.SetPayload("<pubsub xmlns='" + ns + "'>" + inner + "</pubsub>"); err != nil {
				return errSkip // never reaches a service
			}
			return svc.HandleStanza(context.Background(), rec, iq)
		}
		call("set", NS, "<create node='n'/>")
		call("set", NS, "<publish node='n'><item id='a'><v xmlns='urn:v'/></item></publish>")
		call("set", NS, "<subscribe node='n' jid='f@localhost/r'/>")
		rec.Reset()
		ns, typ := NS, "set"
		if owner {
			ns = NSOwner
		}
		if get {
			typ = "get"
		}
		err = call(typ, ns, inner)
		if err == errSkip {
			return
		}
		var se *stanza.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("non-stanza error %v", err)
		}
		results := 0
		for _, st := range rec.Sent() {
			if st.Kind == stanza.IQ {
				results++
			}
		}
		if err == nil && results != 1 || err != nil && results != 0 {
			t.Fatalf("err %v and %d results", err, results)
		}
		store.mu.RLock()
		defer store.mu.RUnlock()
		if err := store.ix.check(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzConfigForm parses arbitrary data forms and merges them into the
// default configuration: errors are stanza errors, results stay within
// bounds, and the merged configuration's own form merges back to itself.
func FuzzConfigForm(f *testing.F) {
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>t</value></field></x>")
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#notify_delete'><value>false</value></field></x>")
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>bad</value></field></x>")
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>whitelist</value></field></x>")
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#roster_groups_allowed'><value>a</value><value>b</value></field><field var='x-y'><value>1</value></field></x>")
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#contact'><value>a@b</value></field><field var='pubsub#item_expire'><value>10</value></field></x>")
	env := defaultEnv()
	f.Fuzz(func(t *testing.T, raw string) {
		fm, err := form.Parse([]byte(raw))
		if err != nil {
			return
		}
		cfg, err := DefaultConfig().merge(fm, env)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("not a stanza error: %v", err)
			}
			return
		}
		if cfg.MaxItems < MaxItemsMax || cfg.MaxItems > env.maxItems || cfg.MaxPayloadSize > env.maxPayload || cfg.ItemExpire < 0 {
			t.Fatalf("out of bounds: %+v", cfg)
		}
		own := cfg.form(form.TypeSubmit, env)
		again, err := DefaultConfig().merge(own, env)
		again.Extra = cfg.Extra // not in the form
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(cfg)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, cfg, again)
		}
		_ = cfg.checkPublishOptions(fm, env)
		if _, err := DefaultSubOptions().merge(fm); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("subscription options: not a stanza error: %v", err)
			}
		}
	})
}

// FuzzAuthorization sends arbitrary messages with a data form to the
// service, as an owner's answer to an approval request (XEP-0060 §8.6):
// nothing panics, errors are stanza errors, and the store stays
// consistent.
func FuzzAuthorization(f *testing.F) {
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"+FormSubscribeAuth+"</value></field><field var='pubsub#node'><value>n</value></field><field var='pubsub#subscriber_jid'><value>p@localhost</value></field><field var='pubsub#allow'><value>true</value></field></x>", true)
	f.Add("<x xmlns='jabber:x:data' type='cancel'><field var='FORM_TYPE'><value>"+FormSubscribeAuth+"</value></field></x>", false)
	f.Add("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#allow'><value>maybe</value></field></x>", true)
	f.Fuzz(func(t *testing.T, raw string, asOwner bool) {
		store := NewMemoryStore()
		svc, err := New(Options{Store: store, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		rec := &muxtest.Recorder{}
		owner, pend := jid.MustParse("o@localhost/r"), jid.MustParse("p@localhost")
		call := func(from jid.JID, inner string) error {
			iq := stanza.NewIQ("set", svcJID)
			iq.From = from
			iq.SetPayload("<pubsub xmlns='" + NS + "'>" + inner + "</pubsub>")
			return svc.HandleStanza(context.Background(), rec, iq)
		}
		call(owner, "<create node='n'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field></x></configure>")
		call(pend, "<subscribe node='n' jid='p@localhost'/>")
		m := stanza.NewMessage("", svcJID, "")
		if err := m.SetPayload(raw); err != nil {
			return
		}
		m.From = owner
		if !asOwner {
			m.From = jid.MustParse("stranger@localhost/x")
		}
		err = svc.handleAuthorization(context.Background(), rec, m)
		var se *stanza.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("non-stanza error %v", err)
		}
		store.mu.RLock()
		defer store.mu.RUnlock()
		if err := store.ix.check(); err != nil {
			t.Fatal(err)
		}
	})
}
