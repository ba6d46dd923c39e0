// Package muxtest provides in-memory Senders for testing mux handlers and
// client calls without a connection, in the manner of net/http/httptest.
//
// A Recorder captures every stanza a handler sends and answers SendIQ from
// a function. A Loopback serves SendIQ through a Handler (a ServeMux, a
// disco handler, ...), so a client call can be tested against the handler
// that answers it.
package muxtest

import (
	"context"
	"slices"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// Recorder is a mux.Sender that records what it is given. Its zero value
// records and answers every SendIQ with service-unavailable. It is safe for
// concurrent use.
type Recorder struct {
	// IQ answers SendIQ: it returns the answer stanza (a result, or an
	// error stanza, which SendIQ turns into its *stanza.Error) or an error
	// to return as is. Nil answers service-unavailable.
	IQ func(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)

	mu   sync.Mutex
	sent []*stanza.Stanza
}

var _ mux.Sender = (*Recorder)(nil)

// Send records st.
func (r *Recorder) Send(_ context.Context, st *stanza.Stanza) error {
	r.mu.Lock()
	r.sent = append(r.sent, st)
	r.mu.Unlock()
	return nil
}

// SendIQ records iq, then answers it with r.IQ (RFC 6120 §8.2.3 semantics:
// an error answer comes back as its *stanza.Error).
func (r *Recorder) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	r.mu.Lock()
	r.sent = append(r.sent, iq)
	answer := r.IQ
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if answer == nil {
		return nil, stanza.ErrServiceUnavailable
	}
	res, err := answer(ctx, iq)
	if err != nil {
		return nil, err
	}
	return asAnswer(res)
}

// Sent returns a copy of the stanzas recorded so far, in order.
func (r *Recorder) Sent() []*stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// Last returns the last stanza recorded, or nil.
func (r *Recorder) Last() *stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		return nil
	}
	return r.sent[len(r.sent)-1]
}

// Reset forgets the recorded stanzas.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.sent = nil
	r.mu.Unlock()
}

// asAnswer turns an answer stanza into SendIQ's return values.
func asAnswer(res *stanza.Stanza) (*stanza.Stanza, error) {
	if res == nil {
		return nil, stanza.NewError(stanza.UndefinedCondition, "muxtest: no answer")
	}
	if res.Type == stanza.TypeError {
		return nil, res.Err()
	}
	return res, nil
}

// Loopback is a mux.Sender whose SendIQ hands the IQ to Handler, as if a
// peer served it, and returns the answer the handler sends. Other stanzas
// the handler sends, and stanzas given to Send, are recorded in Recorder.
type Loopback struct {
	// Handler serves the IQs given to SendIQ.
	Handler mux.Handler
	// From is set as the sender of each IQ whose From is zero, and To
	// likewise as its addressee: the handler sees a properly addressed IQ.
	From, To jid.JID
	// Recorder records every stanza sent except the answers.
	Recorder Recorder
}

var _ mux.Sender = (*Loopback)(nil)

// Send records st in l.Recorder.
func (l *Loopback) Send(ctx context.Context, st *stanza.Stanza) error {
	return l.Recorder.Send(ctx, st)
}

// SendIQ serves iq with l.Handler and returns its answer: the result, or
// the *stanza.Error of an error reply. What the handler returns is answered
// by the rule every transport applies (session.ReplyError): a
// *stanza.Error as is, any other error as internal-server-error. A handler
// that answers nothing yields remote-server-timeout, as a peer that never
// answers would.
func (l *Loopback) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := *iq
	if req.From.IsZero() {
		req.From = l.From
	}
	if req.To.IsZero() {
		req.To = l.To
	}
	c := &catcher{id: req.ID, rec: &l.Recorder}
	if err := session.Call(ctx, l.Handler, c, &req); err != nil {
		if se := session.ReplyError(&req, err); se != nil {
			return nil, se
		}
		return nil, err
	}
	c.mu.Lock()
	res := c.answer
	c.mu.Unlock()
	if res == nil {
		return nil, stanza.NewError(stanza.RemoteServerTimeout, "muxtest: the handler sent no answer")
	}
	return asAnswer(res)
}

// Serve handles st with h as every transport's session does, for tests
// that drive a handler tree without a transport: a panic is recovered, and
// what h returns is answered by session.ReplyError through s (the error
// reply, where one is owed). It returns the error of sending that reply,
// nil when there was none to send or it was sent.
func Serve(ctx context.Context, h mux.Handler, s mux.Sender, st *stanza.Stanza) error {
	se := session.ReplyError(st, session.Call(ctx, h, s, st))
	if se == nil {
		return nil
	}
	if r := st.ErrorReply(se); r != nil {
		return s.Send(ctx, r)
	}
	return nil
}

// catcher is the Sender given to the handler of a Loopback: it keeps the
// answer to one IQ and records the rest.
type catcher struct {
	id  string
	rec *Recorder

	mu     sync.Mutex
	answer *stanza.Stanza
}

func (c *catcher) Send(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind == stanza.IQ && st.ID == c.id && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.answer == nil {
			c.answer = st
			return nil
		}
	}
	return c.rec.Send(ctx, st)
}

func (c *catcher) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return c.rec.SendIQ(ctx, iq)
}
