package privilege

import (
	"context"
	"errors"
	"fmt"

	"xmppkit.dev/internal/forward"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// SendMessage sends msg on behalf of its From (XEP-0356 §4.3 v0.2, §5 in
// v0.4): the bare JID of a user of a server, or the server itself, that
// granted the message permission "outgoing". The component sends the
// server a <message/> whose <privilege/> holds msg in a XEP-0297
// <forwarded/>; the server then routes msg as if the user had sent it.
//
// The call returns once s accepted the envelope. A server that refuses it
// answers later with a message error (forbidden, bad-request; ejabberd
// also item-not-found once it revoked the permission), which reaches the
// handlers for message type "error".
func (e *Entity) SendMessage(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
	if msg == nil || msg.Kind != stanza.Message {
		return fmt.Errorf("%w: SendMessage needs a message stanza", ErrBadJID)
	}
	from := msg.From
	if from.IsZero() || from.Resource() != "" {
		return fmt.Errorf("%w: a message on behalf must be from a bare JID, not %q", ErrBadJID, from.String())
	}
	server := from.DomainJID()
	g, err := e.need(server, "message outgoing", func(g Grants) bool { return g.Message })
	if err != nil {
		return err
	}
	inner := msg
	if inner.ID == "" {
		inner = msg.Clone()
		inner.ID = stanza.NewID()
	}
	env := stanza.NewMessage("", server, "")
	env.SetPayloadElements(forward.Wrap(g.Version, "privilege", inner))
	return s.Send(ctx, env)
}

// SendIQ sends iq on behalf of user (a bare JID of an account) and returns
// the answer (XEP-0356 v0.4 privileged IQ), with the iq permission of the
// user's server for the namespace of iq's payload and its type. The
// component sends an iq of the same type to the user's bare JID whose
// <privileged_iq/> holds iq; the server runs it as if the user had sent it
// and answers with the result in a <privilege/>. iq.To may be zero (an iq
// to the user's own account) or any address; iq.From is set to user.
//
// The result stanza is returned as the server forwarded it; an error
// answer to iq comes back as its *stanza.Error. A server that speaks only
// NS1 (ejabberd 23.01) has no iq permission: the call then fails with a
// NotGrantedError without sending anything.
func (e *Entity) SendIQ(ctx context.Context, s mux.Sender, user jid.JID, iq *stanza.Stanza) (*stanza.Stanza, error) {
	user, err := userJID(user)
	if err != nil {
		return nil, err
	}
	if iq == nil || iq.Kind != stanza.IQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, errors.New("privilege: SendIQ needs an iq get or set")
	}
	ns, _ := iq.PayloadName()
	need := "iq " + iq.Type + " " + ns
	if _, err := e.need(user, need, func(g Grants) bool {
		return g.Version == NS2 && g.IQAccess(ns).Allows(iq.Type)
	}); err != nil {
		return nil, err
	}
	inner := iq.Clone()
	inner.From = user
	if inner.ID == "" {
		inner.ID = stanza.NewID()
	}
	env := stanza.NewIQ(iq.Type, user, forward.WrapDirect(NS2, "privileged_iq", inner))
	res, err := s.SendIQ(ctx, env)
	if err != nil {
		return nil, refusal(user.DomainJID(), need, err)
	}
	return UnwrapIQAnswer(res, inner.ID)
}

// UnwrapIQAnswer returns the answer to a privileged IQ from the server's
// result res: the iq in res's <privilege xmlns='urn:xmpp:privilege:2'>
// <forwarded/>, which must be a result or an error with the id of the iq
// sent (id). An error answer is returned as its *stanza.Error; a malformed
// envelope as an error naming what is wrong.
func UnwrapIQAnswer(res *stanza.Stanza, id string) (*stanza.Stanza, error) {
	el, ok := res.Child(NS2, "privilege")
	if !ok {
		return nil, errors.New("privilege: the server's answer holds no <privilege/>")
	}
	ans, err := forward.Unwrap(el.XML())
	if ans == nil {
		return nil, fmt.Errorf("privilege: the server's answer: %w", err)
	}
	if ans.Kind != stanza.IQ || (ans.Type != stanza.TypeResult && ans.Type != stanza.TypeError) {
		return nil, fmt.Errorf("privilege: the server forwarded a %s of type %q, not an iq answer", ans.Kind, ans.Type)
	}
	if ans.ID != id {
		return nil, fmt.Errorf("privilege: the server forwarded the answer to id %q, not %q", ans.ID, id)
	}
	if ans.Type == stanza.TypeError {
		return nil, ans.Err()
	}
	return ans, nil
}

// OnBehalf returns a Sender that sends through s, except messages whose
// From is the bare JID of a user (or the domain) of a server that granted
// the message permission: those are sent on the user's behalf with
// SendMessage. Give it to code that writes messages as a user, such as a
// handler answering an IQ delegated by XEP-0355 (MAM results come from the
// archive's owner). Everything else, including a message from a server
// that did not grant the permission, goes through s unchanged (and the
// server then refuses it as usual).
func (e *Entity) OnBehalf(s mux.Sender) mux.Sender { return behalf{e, s} }

type behalf struct {
	e *Entity
	s mux.Sender
}

// Send sends st through the privilege when it is a message from a granted
// bare JID, through the wrapped Sender otherwise.
func (b behalf) Send(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind == stanza.Message && !st.From.IsZero() && st.From.Resource() == "" &&
		b.e.Grants(st.From.DomainJID()).Message {
		return b.e.SendMessage(ctx, b.s, st)
	}
	return b.s.Send(ctx, st)
}

// SendIQ sends iq through the wrapped Sender.
func (b behalf) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return b.s.SendIQ(ctx, iq)
}
