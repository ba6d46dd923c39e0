package mam

import (
	"context"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// Message is one archived message (XEP-0313 §3): its archive id, when it
// was archived, the JID it is with, and the stanza as it is forwarded in
// results.
type Message struct {
	// ID is the archive id: unique within the archive, never reused, and
	// unpredictable (§3, §6.2).
	ID string
	// Time is when the message was archived (sent or received, §3): the
	// stamp of the result's XEP-0203 <delay/>.
	Time time.Time
	// With is what the with filter matches (§4.1.1): in a user archive the
	// other party (the archive's own JID for a message to oneself), in a
	// room archive the sender's real JID (or its occupant JID when the
	// room does not know it).
	With jid.JID
	// Stanza is the message as it is forwarded (§4.2, XEP-0297): its from,
	// to, type, id and payload. For a room archive, from is the sender's
	// occupant JID and there is no to (§6.1.2; see RoomMessage). An
	// archived Stanza is shared, never modified: to change what a result
	// forwards, replace it (with a modified Clone).
	Stanza *stanza.Stanza

	// forwarded caches the <forwarded/> element of the result, built once
	// by Memory at Append from the stanza fwdOf and the time fwdAt: it is
	// used only while Stanza and Time are still those.
	forwarded stanza.Element
	fwdOf     *stanza.Stanza
	fwdAt     time.Time
}

// Page is what an Archive answers a Query with: the page of messages in
// archive order and the RSM <set/> that describes it.
type Page struct {
	Messages []Message
	Result   rsm.Result
	// Complete reports that no further page exists in the direction of
	// paging (<fin complete='true'/>, §4.3.2).
	Complete bool
	// Unstable reports results that may still change (a store that has
	// not converged): <fin stable='false'/> (§4.3.2).
	Unstable bool
}

// Archive is the storage a Handler serves queries from: a service
// implements it over its database, or uses Memory or Journal.
type Archive interface {
	// Query returns the page of the archive at the address archive (a
	// user's bare JID, a room, the service; for XEP-0442 a pubsub service
	// with q.Node) that q asks for. Filters and paging are the archive's
	// to apply (rsm.Paginate does the paging over any ordered source); an
	// after, before, after-id, before-id or ids naming no message of the
	// archive is item-not-found (§4.1.3, §4.3.2), an unknown archive too.
	// Messages are in archive order (§3.1); Handler applies Flip.
	Query(ctx context.Context, archive jid.JID, q *Query) (*Page, error)
}

// Metadata describes an archive (§5): its first and last messages.
type Metadata struct {
	Count       int // the number of messages; 0 for an empty archive
	First, Last Message
}

// Extended is an Archive that supports the urn:xmpp:mam:2#extended
// features (§7): the before-id, after-id and ids fields, flipped pages
// (applied by the Handler) and the metadata query. A Handler advertises
// the extended feature for an Archive that implements it.
type Extended interface {
	Archive
	Metadata(ctx context.Context, archive jid.JID) (Metadata, error)
}

// RoomMessage returns the form in which a room message is archived and
// forwarded (§6.1.2): from the sender's occupant JID (room/nick), without to,
// of type groupchat, and with any <x xmlns='http://jabber.org/protocol/muc#user'/>
// removed (§8.4: a sender could forge one). When realJID is not zero (a
// non-anonymous room, or a requester entitled to it), an
// <x xmlns='http://jabber.org/protocol/muc#user'><item jid=.../></x> with
// the sender's real JID is added in its place.
func RoomMessage(room jid.JID, nick string, msg *stanza.Stanza, realJID jid.JID) (*stanza.Stanza, error) {
	from, err := jid.New(room.Local(), room.Domain(), nick)
	if err != nil {
		return nil, err
	}
	out := msg.Clone()
	out.From, out.To, out.Type = from, jid.JID{}, stanza.TypeGroupchat
	var kids []stanza.Element
	for _, k := range msg.Children() {
		if k.Space == NSMUCUser && k.Local == "x" {
			continue
		}
		kids = append(kids, k)
	}
	if !realJID.IsZero() {
		kids = append(kids, stanza.NewBuilder(NSMUCUser, "x").Child("", "item").Attr("jid", realJID.String()).End().Element())
	}
	out.SetPayloadElements(kids...)
	return out, nil
}
