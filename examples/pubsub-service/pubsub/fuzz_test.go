package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// FuzzRequest feeds arbitrary <pubsub/> payloads, in both namespaces and
// both iq types, to a service holding a node with an item and a
// subscription: it never panics, answers with a stanza error or exactly one
// result, and the state it leaves can be snapshotted and replayed.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		"<create node='x'/>",
		"<create/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field></x></configure>",
		"<publish node='n'><item id='i'><v xmlns='urn:v'/></item></publish>",
		"<publish node='n'><item><v xmlns='urn:v'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>open</value></field></x></publish-options>",
		"<retract node='n' notify='1'><item id='a'/></retract>",
		"<subscribe node='n' jid='f@localhost/r'/><options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#deliver'><value>0</value></field></x></options>",
		"<unsubscribe node='n' jid='f@localhost/r' subid='s'/>",
		"<items node='n' max_items='1'><item id='a'/></items>",
		"<subscriptions node='n'><subscription jid='z@localhost' subscription='subscribed'/></subscriptions>",
		"<affiliations node='n'><affiliation jid='z@localhost' affiliation='outcast'/></affiliations>",
		"<configure node='n'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>0</value></field></x></configure>",
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
		svc, err := New(Options{})
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
		// The state survives a snapshot and replay unchanged.
		dump := func(st *state) (string, []*Op) {
			var b strings.Builder
			var ops []*Op
			st.snapshot(func(op *Op) error {
				c := *op
				ops = append(ops, &c)
				j, _ := json.Marshal(op)
				b.Write(j)
				return nil
			})
			return b.String(), ops
		}
		svc.mu.Lock()
		live, ops := dump(svc.st)
		svc.mu.Unlock()
		st := newState()
		for _, op := range ops {
			if err := st.apply(op); err != nil {
				t.Fatalf("replay: %v", err)
			}
		}
		if again, _ := dump(st); again != live {
			t.Fatalf("replayed state differs:\n%s\n%s", live, again)
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
	f.Fuzz(func(t *testing.T, raw string) {
		fm, err := form.Parse([]byte(raw))
		if err != nil {
			return
		}
		cfg, err := DefaultConfig().Merge(fm)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("not a stanza error: %v", err)
			}
			return
		}
		if cfg.MaxItems < 0 || cfg.MaxItems > MaxItemsLimit {
			t.Fatalf("max_items %d", cfg.MaxItems)
		}
		own := cfg.Form(form.TypeSubmit)
		again, err := DefaultConfig().Merge(&own)
		if err != nil || again != cfg {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, cfg, again)
		}
		_ = cfg.CheckPublishOptions(fm)
	})
}
