package command

import (
	"errors"

	"xmppkit.dev/form"
	"xmppkit.dev/internal/elem"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0050 namespace, its service discovery feature (§2.1) and
// the well-known node under which commands are listed (§2.2).
const NS = "http://jabber.org/protocol/commands"

// Action is the action attribute of a <command/> (XEP-0050 §4.1): what the
// requester wants done at this stage.
type Action string

// The actions of XEP-0050 §4.1.
const (
	ActionExecute  Action = "execute"  // execute or continue; the default (§4.1), resolved per §3.4
	ActionCancel   Action = "cancel"   // end the session (§2.4.3)
	ActionPrev     Action = "prev"     // back to the previous stage
	ActionNext     Action = "next"     // on to the next stage
	ActionComplete Action = "complete" // finish now, if possible
)

// valid reports whether a is one of the five actions of §4.1.
func (a Action) valid() bool {
	switch a {
	case ActionExecute, ActionCancel, ActionPrev, ActionNext, ActionComplete:
		return true
	}
	return false
}

// Status is the status attribute of a responder's <command/> (§4.1).
type Status string

// The statuses of XEP-0050 §4.1.
const (
	Executing Status = "executing" // the session goes on: more stages follow
	Completed Status = "completed" // the session has ended with the command done
	Canceled  Status = "canceled"  // the session has ended without it
)

// NoteType is the type attribute of a <note/> (§4.3).
type NoteType string

// The note types of XEP-0050 §4.3; a note without a type is NoteInfo.
const (
	NoteInfo  NoteType = "info"
	NoteWarn  NoteType = "warn"
	NoteError NoteType = "error" // a command that completed but failed carries one (§3.6)
)

// Note is a <note/> (§4.3): a human-readable remark on the command's
// status.
type Note struct {
	Type NoteType
	Text string
}

// InfoNote returns an informational note (§4.3).
func InfoNote(text string) Note { return Note{Type: NoteInfo, Text: text} }

// WarnNote returns a warning note (§4.3): valid yet illogical data, say.
func WarnNote(text string) Note { return Note{Type: NoteWarn, Text: text} }

// ErrorNote returns an error note (§4.3), which a command that completed
// but failed must carry (§3.6).
func ErrorNote(text string) Note { return Note{Type: NoteError, Text: text} }

// Payload is a <command xmlns='http://jabber.org/protocol/commands'/>
// element (XEP-0050 §4.1) as it travels in either direction: a request
// (Node, SessionID, Action, a submitted Form) or a response (Status,
// Actions, Notes, a Form to fill or a result form, other payload).
type Payload struct {
	Node      string
	SessionID string
	Action    Action // requester only; "" is execute
	Status    Status // responder only
	Lang      string // the xml:lang of the <command/> itself (§3.7)

	// Actions are the actions allowed at this stage other than execute and
	// cancel (which always are), from <actions/> (§4.2); Default is its
	// execute attribute, the action that execute stands for. HasActions
	// says the element was present: without it a client shows a
	// single-stage dialog (§3.4).
	Actions    []Action
	Default    Action
	HasActions bool

	Notes []Note
	// Form is the first jabber:x:data form (§3.5.1): a form to fill, a
	// result, or the requester's submission.
	Form *form.Form
	// Extra are the other payload children, in order (§3.5): elements of
	// other namespaces such as jabber:x:oob, and further forms.
	Extra []stanza.Element
}

// Element returns the <command/> element.
func (p *Payload) Element() (stanza.Element, error) {
	b := stanza.NewBuilder(NS, "command")
	b.Attr("node", p.Node)
	b.OptAttr("sessionid", p.SessionID)
	b.OptAttr("action", string(p.Action))
	b.OptAttr("status", string(p.Status))
	b.OptAttr("xml:lang", p.Lang)
	if p.HasActions {
		b.Child("", "actions").OptAttr("execute", string(p.Default))
		for _, a := range p.Actions {
			switch a {
			case ActionPrev, ActionNext, ActionComplete:
				b.Child("", string(a)).End()
			default:
				return stanza.Element{}, errors.New("command: <actions/> may list only prev, next and complete, not " + string(a))
			}
		}
		b.End()
	}
	for _, n := range p.Notes {
		b.Child("", "note").OptAttr("type", string(n.Type)).Text(n.Text).End()
	}
	if p.Form != nil {
		b.Append(p.Form.Element())
	}
	b.Append(p.Extra...)
	return b.Element(), nil
}

// Parse decodes a <command/> element (XEP-0050 §4.1) from its raw XML. It
// checks the element's grammar, not its meaning for a session: an unknown
// action is malformed-action, a form that breaks XEP-0004 bad-payload, any
// other fault bad-request; every error is a *stanza.Error (see Condition).
func Parse(raw string) (*Payload, error) {
	n, err := elem.Parse(raw, stanza.NSClient)
	if err != nil {
		return nil, badRequest("unreadable <command/>: " + err.Error())
	}
	if n.Space != NS || n.Local != "command" {
		return nil, badRequest("not a <command xmlns='" + NS + "'/> element")
	}
	p := &Payload{}
	var action, status string
	for _, a := range []struct {
		space, local string
		dst          *string
	}{{"", "node", &p.Node}, {"", "sessionid", &p.SessionID}, {"", "action", &action}, {"", "status", &status}, {elem.NSXML, "lang", &p.Lang}} {
		if *a.dst, _, err = n.AttrNS(a.space, a.local); err != nil {
			return nil, badRequest("unreadable attribute " + a.local)
		}
	}
	p.Action, p.Status = Action(action), Status(status)
	if p.Action != "" && !p.Action.valid() {
		return nil, ErrMalformedAction
	}
	for _, k := range n.Kids {
		switch {
		case k.Space == NS && k.Local == "actions":
			if p.HasActions {
				return nil, badRequest("more than one <actions/>")
			}
			if err := p.parseActions(n, k); err != nil {
				return nil, err
			}
		case k.Space == NS && k.Local == "note":
			note, err := parseNote(n, k)
			if err != nil {
				return nil, err
			}
			p.Notes = append(p.Notes, note)
		case k.Space == form.NS && k.Local == "x" && p.Form == nil:
			f, err := form.Decode(n.Standalone(k))
			if err != nil {
				return nil, ErrBadPayload.with("data form: " + err.Error())
			}
			p.Form = f
		case k.Space == NS || stanza.IsContentNS(k.Space) || k.Space == "":
			return nil, badRequest("unexpected <" + k.Local + "/> in <command/>")
		default:
			el, err := stanza.ParseElement(n.Standalone(k))
			if err != nil {
				// A child that uses a prefix declared outside it cannot be
				// carried on as a payload of its own.
				return nil, badRequest("unreadable <" + k.Local + "/> in <command/>")
			}
			p.Extra = append(p.Extra, el)
		}
	}
	return p, nil
}

func parseNote(parent *elem.Node, k elem.Kid) (Note, error) {
	n, err := parent.Child(k)
	if err != nil {
		return Note{}, badRequest("unreadable <note/>")
	}
	typ, _, err := n.Attr("type")
	if err != nil {
		return Note{}, badRequest("unreadable <note/>")
	}
	text, err := n.Text()
	if err != nil {
		return Note{}, badRequest("unreadable <note/>")
	}
	nt := NoteType(typ)
	switch nt {
	case "":
		nt = NoteInfo
	case NoteInfo, NoteWarn, NoteError:
	default:
		return Note{}, badRequest("note type " + typ + " is none of info, warn, error")
	}
	return Note{Type: nt, Text: text}, nil
}

func (p *Payload) parseActions(parent *elem.Node, k elem.Kid) error {
	n, err := parent.Child(k)
	if err != nil {
		return badRequest("unreadable <actions/>")
	}
	p.HasActions = true
	def, _, err := n.Attr("execute")
	if err != nil {
		return badRequest("unreadable <actions/>")
	}
	p.Default = Action(def)
	switch p.Default {
	case "", ActionPrev, ActionNext, ActionComplete:
	default:
		return ErrMalformedAction.with("actions execute='" + def + "' is none of prev, next, complete")
	}
	for _, c := range n.Kids {
		a := Action(c.Local)
		switch {
		case c.Space != NS:
			return badRequest("<actions/> child in another namespace")
		case a != ActionPrev && a != ActionNext && a != ActionComplete:
			return ErrMalformedAction.with("<" + c.Local + "/> in <actions/>")
		}
		if !contains(p.Actions, a) {
			p.Actions = append(p.Actions, a)
		}
	}
	return nil
}

func contains(as []Action, a Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
