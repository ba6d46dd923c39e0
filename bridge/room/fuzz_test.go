package room

import (
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// FuzzRequests feeds arbitrary payloads to the parsers of what clients send
// a room (join, muc#admin, invitations): no panic, and what they accept is
// consistent (admin items name someone and change something).
func FuzzRequests(f *testing.F) {
	for _, s := range []string{
		"<x xmlns='http://jabber.org/protocol/muc'><password>pw</password><history maxstanzas='5' since='2024-01-01T00:00:00Z'/></x>",
		"<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='bob' role='none'><reason>x</reason></item></query>",
		"<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bad@@' affiliation='outcast'/></query>",
		"<x xmlns='http://jabber.org/protocol/muc#user'><invite to='a@b'><reason>r</reason></invite><decline to='c@d'/></x>",
		"<x xmlns='http://jabber.org/protocol/muc'><history maxchars='-3' seconds='x'/></x>",
	} {
		f.Add(s)
	}
	to := jid.MustParse("#r@gw/nick")
	f.Fuzz(func(t *testing.T, payload string) {
		el, err := stanza.ParseElement(payload)
		if err != nil {
			return
		}
		p := stanza.NewPresence("", to)
		p.SetPayloadElements(el)
		j := ParseJoin(p)
		if j.History.MaxStanzas < -1 || j.History.MaxChars < -1 || j.History.Seconds < -1 {
			t.Fatalf("negative limit from %s: %+v", payload, j.History)
		}
		iq := stanza.NewIQ(stanza.TypeSet, to.Bare(), el)
		if items, err := ParseAdmin(iq); err == nil {
			for _, it := range items {
				if it.Nick == "" && it.JID.IsZero() || it.Role == "" && it.Affiliation == "" {
					t.Fatalf("accepted an empty item from %s: %+v", payload, it)
				}
			}
		}
		m := stanza.NewMessage("", to.Bare(), "")
		m.SetPayloadElements(el)
		ParseInvites(m)
	})
}
