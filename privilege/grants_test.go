package privilege_test

import (
	"strings"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

func TestParseAdvertisement(t *testing.T) {
	srv := jid.MustParse("localhost")
	type iq = map[string]privilege.Access
	for _, c := range []struct {
		name  string
		xml   string
		want  privilege.Grants
		notes []string // substrings of the notes, in order
	}{
		{
			name: "ejabberd 23.01 as sent",
			xml: `<privilege xmlns='urn:xmpp:privilege:1'><perm type='outgoing' access='message'/>` +
				`<perm type='both' access='roster'/><perm type='roster' access='presence'/></privilege>`,
			want: privilege.Grants{Version: privilege.NS1, Roster: privilege.Both, Message: true, Presence: privilege.RosterContacts},
		},
		{
			name: "ejabberd lists what it did not grant as none",
			xml: `<privilege xmlns='urn:xmpp:privilege:1'><perm type='none' access='message'/>` +
				`<perm type='get' access='roster'/><perm type='none' access='presence'/></privilege>`,
			want: privilege.Grants{Version: privilege.NS1, Roster: privilege.Get},
		},
		{
			name: "prosody with one iq namespace",
			xml: `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/><perm access='message' type='outgoing'/>` +
				`<perm access='presence' type='roster'/><perm access='iq'><namespace type='both' ns='jabber:iq:private'/></perm></privilege>`,
			want: privilege.Grants{Version: privilege.NS2, Roster: privilege.Both, RosterPush: true, Message: true,
				Presence: privilege.RosterContacts, IQ: iq{"jabber:iq:private": privilege.Both}},
		},
		{
			name: "prosody nests the second namespace in the first",
			xml: `<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'><namespace type='get' ns='urn:a'>` +
				`<namespace type='set' ns='urn:b'><namespace type='both' ns='urn:c'/></namespace></namespace></perm></privilege>`,
			want:  privilege.Grants{Version: privilege.NS2, IQ: iq{"urn:a": privilege.Get, "urn:b": privilege.Set, "urn:c": privilege.Both}},
			notes: []string{`nested <namespace ns="urn:b"/>`, `nested <namespace ns="urn:c"/>`},
		},
		{
			name: "push false",
			xml:  `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get' push='false'/></privilege>`,
			want: privilege.Grants{Version: privilege.NS2, Roster: privilege.Get},
		},
		{
			name:  "push true with set only means nothing",
			xml:   `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='set' push='true'/></privilege>`,
			want:  privilege.Grants{Version: privilege.NS2, Roster: privilege.Set},
			notes: nil,
		},
		{
			name:  "push in v0.2 is not believed",
			xml:   `<privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='both' push='true'/></privilege>`,
			want:  privilege.Grants{Version: privilege.NS1, Roster: privilege.Both},
			notes: []string{"push attribute ignored"},
		},
		{
			name:  "iq in v0.2 is not believed",
			xml:   `<privilege xmlns='urn:xmpp:privilege:1'><perm access='iq'><namespace type='both' ns='jabber:iq:private'/></perm></privilege>`,
			want:  privilege.Grants{Version: privilege.NS1},
			notes: []string{"iq permission ignored"},
		},
		{
			name:  "unknown values grant nothing",
			xml:   `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='all'/><perm access='message' type='incoming'/><perm access='presence' type='everything'/><perm access='vcard' type='both'/></privilege>`,
			want:  privilege.Grants{Version: privilege.NS2},
			notes: []string{"unknown roster type", "unknown message type", "unknown presence type", `unknown permission "vcard"`},
		},
		{
			name:  "a permission named twice gets the stricter",
			xml:   `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/><perm access='roster' type='get'/><perm access='message' type='outgoing'/><perm access='message' type='none'/><perm access='presence' type='roster'/><perm access='presence' type='managed_entity'/></privilege>`,
			want:  privilege.Grants{Version: privilege.NS2, Roster: privilege.Get, RosterPush: true, Presence: privilege.ManagedEntity},
			notes: []string{"roster permission given twice: kept get", "message permission given twice: kept false", "presence permission given twice: kept managed_entity"},
		},
		{
			name: "get and set named apart intersect to nothing",
			xml:  `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get'/><perm access='roster' type='set'/><perm access='iq'><namespace ns='urn:a' type='get'/><namespace ns='urn:a' type='set'/><namespace ns='urn:b' type='none'/><namespace ns='urn:b' type='both'/></perm></privilege>`,
			want: privilege.Grants{Version: privilege.NS2},
		},
		{
			name: "perms in another namespace are not read",
			xml:  `<privilege xmlns='urn:xmpp:privilege:2'><perm xmlns='urn:evil' access='roster' type='both'/><perm access='iq'><namespace xmlns='urn:evil' ns='urn:a' type='both'/></perm></privilege>`,
			want: privilege.Grants{Version: privilege.NS2},
		},
		{
			name: "missing attributes",
			xml:  `<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster'/><perm/><perm access='iq'><namespace type='both'/><namespace ns='urn:a'/></perm></privilege>`,
			want: privilege.Grants{Version: privilege.NS2},
		},
		{
			name: "empty advertisement",
			xml:  `<privilege xmlns='urn:xmpp:privilege:2'/>`,
			want: privilege.Grants{Version: privilege.NS2},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			el := stanza.MustElement(c.xml)
			g, notes, err := privilege.ParseAdvertisement(srv, el)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Server = srv
			if !g.Equal(c.want) {
				t.Fatalf("got  %v\nwant %v", g, c.want)
			}
			all := strings.Join(notes, "\n")
			for _, n := range c.notes {
				i := strings.Index(all, n)
				if i < 0 {
					t.Fatalf("notes lack %q:\n%s", n, all)
				}
				all = all[i+len(n):]
			}
		})
	}
	for _, bad := range []string{`<privilege xmlns='urn:xmpp:privilege:3'/>`, `<delegation xmlns='urn:xmpp:privilege:2'/>`} {
		if _, _, err := privilege.ParseAdvertisement(srv, stanza.MustElement(bad)); err == nil {
			t.Errorf("ParseAdvertisement(%s): no error", bad)
		}
	}
}

func TestAccess(t *testing.T) {
	for _, c := range []struct {
		a        privilege.Access
		get, set bool
		s        string
	}{{privilege.None, false, false, "none"}, {privilege.Get, true, false, "get"}, {privilege.Set, false, true, "set"}, {privilege.Both, true, true, "both"}} {
		if c.a.CanGet() != c.get || c.a.CanSet() != c.set || c.a.Allows("get") != c.get || c.a.Allows("set") != c.set || c.a.Allows("result") || c.a.String() != c.s {
			t.Errorf("%v: CanGet %v CanSet %v String %s", c.a, c.a.CanGet(), c.a.CanSet(), c.a)
		}
	}
	for p, s := range map[privilege.Presence]string{privilege.NoPresence: "none", privilege.ManagedEntity: "managed_entity", privilege.RosterContacts: "roster"} {
		if p.String() != s {
			t.Errorf("%d.String() = %s", p, p)
		}
	}
	g := privilege.Grants{Server: jid.MustParse("localhost"), Version: privilege.NS2}
	if g.Any() || !strings.Contains(g.String(), "nothing") {
		t.Errorf("empty grants: Any %v, %s", g.Any(), g)
	}
}

// FuzzParseAdvertisement: no panic, and the grants believe no more than
// the element names: every granted permission is named in it.
func FuzzParseAdvertisement(f *testing.F) {
	for _, s := range []string{
		`<privilege xmlns='urn:xmpp:privilege:1'><perm type='outgoing' access='message'/><perm type='both' access='roster'/><perm type='roster' access='presence'/></privilege>`,
		`<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/><perm access='message' type='outgoing'/><perm access='presence' type='roster'/><perm access='iq'><namespace type='both' ns='jabber:iq:private'/></perm></privilege>`,
		`<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'><namespace type='get' ns='urn:a'><namespace type='set' ns='urn:b'/></namespace></perm></privilege>`,
		`<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get' push='0'/></privilege>`,
	} {
		f.Add(s)
	}
	srv := jid.MustParse("localhost")
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := stanza.ParseElement(raw)
		if err != nil {
			return
		}
		g, _, err := privilege.ParseAdvertisement(srv, el)
		if err != nil {
			return
		}
		if g.Roster != privilege.None && !strings.Contains(raw, "roster") {
			t.Fatalf("roster %s granted by %s", g.Roster, raw)
		}
		if g.Message && !strings.Contains(raw, "outgoing") {
			t.Fatalf("message granted by %s", raw)
		}
		if g.Presence != privilege.NoPresence && !strings.Contains(raw, "presence") {
			t.Fatalf("presence granted by %s", raw)
		}
		for ns, a := range g.IQ {
			if a == privilege.None || g.Version != privilege.NS2 || !strings.Contains(raw, "iq") {
				t.Fatalf("iq %q=%s granted by %s", ns, a, raw)
			}
		}
		if g.RosterPush && (!g.Roster.CanGet() || g.Version != privilege.NS2) {
			t.Fatalf("push without roster get in v0.4: %v", g)
		}
	})
}
