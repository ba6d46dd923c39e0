package room

import (
	"time"

	"xmppkit.dev/stanza"
)

// HistoryRequest is what a joining device asks of the discussion history
// (XEP-0045 §7.2.14): each limit applies when set; zero values with Set
// false mean "the service's default".
type HistoryRequest struct {
	MaxChars   int       // at most this many characters of message text; -1 for no limit
	MaxStanzas int       // at most this many messages; -1 for no limit
	Seconds    int       // only messages of the last Seconds; -1 for no limit
	Since      time.Time // only messages after Since; zero for no limit
	set        bool
}

// Set reports whether the device asked for anything in particular.
func (h HistoryRequest) Set() bool { return h.set }

// NoHistory is the request of a device that wants none (maxstanzas='0').
var NoHistory = HistoryRequest{MaxChars: -1, MaxStanzas: 0, Seconds: -1, set: true}

// Entry is one archived message of a room.
type Entry struct {
	ID    string    // the archive id, given as the XEP-0359 stanza-id
	Time  time.Time // when it was said
	Nick  string    // who said it
	Body  string
	Extra []stanza.Element // other payload kept with it (reply, correction, ...)
	// Legacy is the message's id on the other network (an IRCv3 msgid),
	// so that a reply or reaction from XMPP can name it there.
	Legacy string
}

// Log records a room's discussion and gives it back on join. A gateway
// gives a room a Log only where its user agreed to recording.
type Log interface {
	// Record archives e, giving it an ID when it has none, and returns it.
	Record(e Entry) (Entry, error)
	// History returns the messages a join asking req gets, oldest first.
	History(req HistoryRequest) []Entry
}

// Select applies req to entries (oldest first) and returns the newest
// ones that fit every limit, oldest first.
func (req HistoryRequest) Select(entries []Entry, now time.Time) []Entry {
	start := len(entries)
	chars := 0
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if req.MaxStanzas >= 0 && len(entries)-i > req.MaxStanzas {
			break
		}
		if req.Seconds >= 0 && req.set && now.Sub(e.Time) > time.Duration(req.Seconds)*time.Second {
			break
		}
		if !req.Since.IsZero() && !e.Time.After(req.Since) {
			break
		}
		if req.MaxChars >= 0 && req.set {
			chars += len([]rune(e.Body))
			if chars > req.MaxChars {
				break
			}
		}
		start = i
	}
	return entries[start:]
}
