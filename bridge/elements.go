package bridge

import (
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The elements a gateway puts in the messages it sends, for the extensions
// of the kit's model; a gateway that builds its own stanzas (the IRC
// transport) uses them too.

// ReactionsElement is the XEP-0444 §3.2 <reactions/> for the message id:
// the sender's whole set (empty removes them all); blank emojis are left
// out.
func ReactionsElement(id string, emojis []string) stanza.Element {
	b := stanza.NewBuilder(NSReactions, "reactions").Attr("id", id)
	for _, e := range emojis {
		if e = strings.TrimSpace(e); e != "" {
			b.TextElement("reaction", e)
		}
	}
	return b.Element()
}

// ReplyElement is the XEP-0461 §3 <reply/> to the message id, by the
// author to (zero: unnamed).
func ReplyElement(id string, to jid.JID) stanza.Element {
	b := stanza.NewBuilder(NSReply, "reply").Attr("id", id)
	if !to.IsZero() {
		b.Attr("to", to.String())
	}
	return b.Element()
}

// ReplaceElement is the XEP-0308 <replace/> of a correction of id.
func ReplaceElement(id string) stanza.Element {
	return stanza.NewBuilder(NSCorrect, "replace").Attr("id", id).Element()
}

// RetractElements retract the message id in both versions clients speak:
// XEP-0424 v0.4 (<retract id/>) and v0.3 (XEP-0422 <apply-to/>).
func RetractElements(id string) []stanza.Element {
	return []stanza.Element{
		stanza.NewBuilder(NSRetract, "retract").Attr("id", id).Element(),
		stanza.NewBuilder(NSFasten, "apply-to").Attr("id", id).Child(NSRetract0, "retract").End().Element(),
	}
}
