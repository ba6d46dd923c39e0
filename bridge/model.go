package bridge

import (
	"context"
	"io"
	"time"
)

// Event is one thing that happens in a chat, in either direction: the legacy
// network reports it to the kit with Events.Emit, and the kit hands what the
// user did on XMPP to the network with Session.Send. The same types serve
// both ways, so a bridge speaks one legacy-neutral model:
//
//   - *Message: a message, a correction (Replaces), a reply (ReplyTo),
//     attachments (XEP-0308, XEP-0461, XEP-0066/XEP-0363 on the XMPP side);
//   - *Retraction (XEP-0424), *Reaction (XEP-0444), *Receipt (XEP-0184),
//     *Displayed (XEP-0333), *ChatState (XEP-0085);
//   - *Contact, *ContactGone: the contact list, presence, nick (XEP-0172)
//     and avatar (XEP-0084, XEP-0153), from the network only;
//   - *Group, *Participant, *Subject: group chats (XEP-0045);
//   - *Join, *Leave, *Subscribe: what the user asks of the network;
//   - *Notice, *Disconnected: the network tells the user something, or the
//     session ended.
//
// A field that names a chat or a person holds a legacy id, the network's own
// identifier (a user name, a phone number, a numeric id): the kit maps ids
// to JIDs and back (see Addresser). From is "" for the user.
type Event interface {
	event()
}

// Message is a chat message (RFC 6121 §5; XEP-0045 §7.4 in a group).
//
// From the network (Events.Emit): Chat is the contact or the group; From
// is who wrote it ("" for the user, writing from another client of the
// network: the kit shows it on the user's XMPP clients as their own, through
// the XEP-0356 message privilege where granted). ID is the network's id of
// the message; the kit uses it as the XEP-0359 ids of the stanza, so that
// replies, corrections, reactions, retractions and read markers coming back
// from XMPP name it.
//
// To the network (Session.Send): From is "", ID is the id the user's client
// gave the stanza (its XEP-0359 origin-id, else its id), and Send returns
// the network's id for it.
type Message struct {
	Chat string
	From string
	ID   string
	Body string
	// Replaces, when set, is the legacy id of the message this one corrects
	// (XEP-0308): Body is the whole new text.
	Replaces string
	// ReplyTo, when set, is the message this one answers (XEP-0461).
	ReplyTo *Reply
	// Attachments are files sent with the message (XEP-0066 links).
	Attachments []Attachment
	// Time is when it was sent; zero means now. A time in the past is
	// shown as a XEP-0203 delay.
	Time time.Time
	// Group is set by the kit on messages to the network that were sent in
	// a group chat (Chat is then a group's id).
	Group bool
}

// Reply names the message a message answers (XEP-0461).
type Reply struct {
	ID     string // legacy id of the message answered
	Author string // legacy id of its author ("" for the user)
	// Quote is the fallback text quoted from it, for clients that show
	// replies as text (XEP-0461 §3 with XEP-0428); optional.
	Quote string
}

// Attachment is a file sent with a message. From the network, either URL is
// a link any XMPP client may fetch, or Open gives the bytes and the kit
// makes a link through Config.Uploader (XEP-0363 or a local directory served
// over HTTP). To the network, URL is the link the user's client sent
// (XEP-0066 or a XEP-0363 upload), and Open fetches it (bounded by
// Config.MaxAttachment).
type Attachment struct {
	Name        string // file name, shown to the user
	ContentType string // MIME type; "" for unknown
	Size        int64  // bytes; -1 or 0 for unknown
	URL         string
	Open        func(ctx context.Context) (io.ReadCloser, error)
}

// Retraction withdraws a message (XEP-0424): ID is its legacy id.
type Retraction struct {
	Chat string
	From string
	ID   string
}

// Reaction sets the reactions of From to a message (XEP-0444): Emojis is
// the whole new set (empty removes them all).
type Reaction struct {
	Chat   string
	From   string
	ID     string
	Emojis []string
}

// Receipt says that a message reached From's device (XEP-0184).
type Receipt struct {
	Chat string
	From string
	ID   string
}

// Displayed says that From has read the chat up to the message ID
// (XEP-0333). From the network with From "", the user read it on another
// client of the network.
type Displayed struct {
	Chat string
	From string
	ID   string
}

// State is a chat state (XEP-0085 §2.1).
type State string

// The chat states of XEP-0085.
const (
	Active    State = "active"
	Composing State = "composing"
	Paused    State = "paused"
	Inactive  State = "inactive"
	Gone      State = "gone"
)

// ChatState says what From is doing in the chat (XEP-0085).
type ChatState struct {
	Chat  string
	From  string
	State State
}

// Show is the availability of a contact (RFC 6121 §4.7.2.1): "" is
// available.
type Show string

// The values of Show, and Offline for a contact that is not online.
const (
	Available Show = ""
	Away      Show = "away"
	Chat      Show = "chat"
	DND       Show = "dnd"
	XA        Show = "xa"
	Offline   Show = "offline"
)

// Avatar is a contact's picture (XEP-0084, XEP-0153). The kit computes its
// SHA-1 (the id both XEPs use) from Data.
type Avatar struct {
	Data        []byte
	ContentType string // "image/png", "image/jpeg", ...; "" is image/png
	Width       int    // pixels; 0 when unknown
	Height      int
}

// Contact adds or updates a contact of the user's legacy contact list: it
// becomes a puppet JID at the gateway (XEP-0106 escaping of ID), is put in
// the user's roster (XEP-0356) or asks the user to subscribe, and shows the
// presence, nick (XEP-0172) and avatar. Only the fields given change: a
// nil Avatar keeps the old one, NoAvatar removes it.
type Contact struct {
	ID     string
	Name   string // the nick; "" keeps the last one (or the id)
	Show   Show
	Status string
	Avatar *Avatar
	Groups []string // roster groups
	// Hidden contacts are not put in the roster (a stranger who wrote to
	// the user): presence and avatar still work.
	Hidden bool
}

// NoAvatar in Contact.Avatar removes a contact's avatar.
var NoAvatar = &Avatar{}

// ContactGone removes a contact from the user's contact list (and roster).
type ContactGone struct {
	ID string
}

// Role is what a participant may do in a group (XEP-0045 §5.1).
type Role string

// The roles of XEP-0045 §5.1 ("" is participant).
const (
	RoleModerator   Role = "moderator"
	RoleParticipant Role = "participant"
	RoleVisitor     Role = "visitor"
)

// Affiliation is a participant's long-lived standing in a group (XEP-0045
// §5.2; "" is none).
type Affiliation string

// The affiliations of XEP-0045 §5.2.
const (
	AffOwner   Affiliation = "owner"
	AffAdmin   Affiliation = "admin"
	AffMember  Affiliation = "member"
	AffOutcast Affiliation = "outcast"
)

// Participant is someone in a group: Nick is shown, ID (a legacy id, "" when
// unknown) links it to the contact and gives its XEP-0421 occupant id.
// Emitted alone, it adds, updates (a new Nick is a nick change of the same
// ID) or, with Left, removes the participant.
type Participant struct {
	Group       string
	ID          string
	Nick        string
	Role        Role
	Affiliation Affiliation
	// Left removes the participant; Reason says why (a kick with Kicked).
	Left   bool
	Reason string
	Kicked bool
}

// Group adds or updates a group chat of the user: it is a MUC room at the
// gateway (XEP-0045; room JID from the XEP-0106 escaping of ID). When the
// user's client joins, the kit sends Join to the network; the network
// answers with a Group (Participants and Subject) before Send returns, or
// later.
type Group struct {
	ID           string
	Name         string
	Subject      string
	SubjectBy    string // nick of who set it
	Participants []Participant
	// Self is the user's own nick and standing in the group.
	Self Participant
}

// Subject changes a group's subject (XEP-0045 §8.1).
type Subject struct {
	Group string
	Text  string
	By    string // nick
}

// Join asks the network to join the user to a group (a client joined the
// room); Nick is the nick the client asked for.
type Join struct {
	Group string
	Nick  string
}

// Leave tells the network that the user left a group (the last client left
// the room).
type Leave struct {
	Group string
}

// Subscribe asks the network to add (or, with Remove, remove) a contact
// the user added to (or removed from) their roster.
type Subscribe struct {
	Contact string
	Remove  bool
}

// Notice is a message from the gateway itself to the user (a status, a code
// to enter).
type Notice struct {
	Text string
}

// Disconnected ends the session from the network's side: the kit tells the
// user why, shows the contacts offline, closes the Session and, with Retry,
// logs in again with backoff while the user is online.
type Disconnected struct {
	Err   error
	Retry bool
}

func (*Message) event()      {}
func (*Retraction) event()   {}
func (*Reaction) event()     {}
func (*Receipt) event()      {}
func (*Displayed) event()    {}
func (*ChatState) event()    {}
func (*Contact) event()      {}
func (*ContactGone) event()  {}
func (*Participant) event()  {}
func (*Group) event()        {}
func (*Subject) event()      {}
func (*Join) event()         {}
func (*Leave) event()        {}
func (*Subscribe) event()    {}
func (*Notice) event()       {}
func (*Disconnected) event() {}
