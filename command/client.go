package command

import (
	"context"
	"errors"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// List asks the entity to for its command list (XEP-0050 §2.2): the disco
// items of the commands node, one per command the entity offers the asker.
func List(ctx context.Context, s mux.Sender, to jid.JID) ([]disco.Item, error) {
	return disco.GetItems(ctx, s, to, NS)
}

// Stage is a responder's answer in a command session, as the requester
// sees it: the <command/> it sent (its form, notes, allowed actions) and
// where the command runs. Move on with Next, Prev, Complete, Cancel or Do.
type Stage struct {
	*Payload
	To jid.JID // the responder
}

// Execute starts the command at node on the entity to (§2.4.1) and
// returns its first answer: the result of a one-stage command, or the first
// stage of a multi-stage one.
func Execute(ctx context.Context, s mux.Sender, to jid.JID, node string) (*Stage, error) {
	return send(ctx, s, to, &Payload{Node: node, Action: ActionExecute})
}

// Ended reports whether the session is over (status completed or
// canceled): no request may follow.
func (st *Stage) Ended() bool { return st.Status == Completed || st.Status == Canceled }

// Allows reports whether the stage accepts the action (§3.4): execute and
// cancel always, prev, next and complete when the <actions/> lists them,
// complete also when there is no <actions/> (a single-stage dialog).
func (st *Stage) Allows(a Action) bool {
	switch {
	case st.Ended():
		return false
	case a == ActionExecute || a == ActionCancel:
		return true
	case !st.HasActions:
		return a == ActionComplete
	}
	return contains(st.Actions, a)
}

// Next submits f (nil for none) and moves to the next stage.
func (st *Stage) Next(ctx context.Context, s mux.Sender, f *form.Form) (*Stage, error) {
	return st.Do(ctx, s, ActionNext, f)
}

// Complete submits f (nil for none) and asks the command to finish.
func (st *Stage) Complete(ctx context.Context, s mux.Sender, f *form.Form) (*Stage, error) {
	return st.Do(ctx, s, ActionComplete, f)
}

// Prev goes back to the previous stage.
func (st *Stage) Prev(ctx context.Context, s mux.Sender) (*Stage, error) {
	return st.Do(ctx, s, ActionPrev, nil)
}

// Cancel ends the session (§2.4.3); the answer has status canceled.
func (st *Stage) Cancel(ctx context.Context, s mux.Sender) (*Stage, error) {
	return st.Do(ctx, s, ActionCancel, nil)
}

// Do sends the action with the form f (nil for none; its type is set to
// submit when empty) in this stage's session and returns the next answer.
// It does not check Allows: the responder's error (bad-action, §4.4) comes
// back as an *Error.
func (st *Stage) Do(ctx context.Context, s mux.Sender, a Action, f *form.Form) (*Stage, error) {
	if st.SessionID == "" {
		return nil, errors.New("command: the responder gave no sessionid to continue")
	}
	if f != nil && f.Type == "" {
		c := *f
		c.Type = form.TypeSubmit
		f = &c
	}
	return send(ctx, s, st.To, &Payload{Node: st.Node, SessionID: st.SessionID, Action: a, Form: f, Lang: st.Lang})
}

func send(ctx context.Context, s mux.Sender, to jid.JID, p *Payload) (*Stage, error) {
	el, err := p.Element()
	if err != nil {
		return nil, err
	}
	res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, to, el))
	if err != nil {
		var se *stanza.Error
		if errors.As(err, &se) {
			if ce := FromStanzaError(se); ce != nil {
				return nil, ce
			}
		}
		return nil, err
	}
	cmd, ok := res.Child(NS, "command")
	if !ok {
		return nil, errors.New("command: the answer has no <command/>")
	}
	got, err := Parse(cmd.XML())
	if err != nil {
		return nil, err
	}
	switch {
	case got.Node != p.Node:
		return nil, errors.New("command: the answer is for node " + got.Node + ", not " + p.Node)
	case p.SessionID != "" && got.SessionID != p.SessionID:
		return nil, errors.New("command: the answer is for another session")
	}
	switch got.Status {
	case Executing, Completed, Canceled:
	default:
		return nil, errors.New("command: the answer's status " + string(got.Status) + " is none of executing, completed, canceled")
	}
	return &Stage{Payload: got, To: to}, nil
}
