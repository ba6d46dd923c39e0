package session

import (
	"slices"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// tracker matches iq answers to the SendIQ calls waiting for them (RFC 6120
// §8.2.3): by id, by the answer's sender and by kind (an iq of type result
// or error; a message or presence with the same id is no answer). See the
// package documentation for the rules.
type tracker struct {
	self   jid.JID // the session's own address
	client bool    // a client session: the server answers for the account

	mu     sync.Mutex
	m      map[string]*waiter
	live   []uint64 // the links up now (a component may have several)
	closed error    // set by close: no more waiters
}

// waiter is one SendIQ waiting for its answer.
type waiter struct {
	to   jid.JID
	ch   chan answer // receives the answer or the reason there is none, once
	link uint64      // the link that carried the request; 0 until written
}

type answer struct {
	st  *stanza.Stanza
	err error
}

// add registers a waiter for an iq with id to to; it fails for an id that
// already waits (the answer could not be told apart) or once closed.
func (t *tracker) add(id string, to jid.JID) (*waiter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != nil {
		return nil, NotSent(t.closed)
	}
	if _, dup := t.m[id]; dup {
		return nil, badStanza("an iq with id %q is already waiting for its answer", id)
	}
	if t.m == nil {
		t.m = make(map[string]*waiter)
	}
	w := &waiter{to: to, ch: make(chan answer, 1)}
	t.m[id] = w
	return w, nil
}

// remove drops w (its call is over).
func (t *tracker) remove(id string, w *waiter) {
	t.mu.Lock()
	if t.m[id] == w {
		delete(t.m, id)
	}
	t.mu.Unlock()
}

// written records the link that carried w's request and reports whether
// that link is still up; when it is not, linkDown has run already and w
// waits in vain unless its answer came first.
func (t *tracker) written(w *waiter, link uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.link = link
	return slices.Contains(t.live, link)
}

// linkUp records link as live. A transport with one link at a time (its
// Down always precedes the next Up) has one entry; a component with
// several links for its domain has one per link up.
func (t *tracker) linkUp(link uint64) {
	t.mu.Lock()
	if !slices.Contains(t.live, link) {
		t.live = append(t.live, link)
	}
	t.mu.Unlock()
}

// match hands st, a received iq result or error, to the waiter it answers
// and reports whether there was one.
func (t *tracker) match(st *stanza.Stanza) bool {
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeResult && st.Type != stanza.TypeError) {
		return false
	}
	t.mu.Lock()
	w := t.m[st.ID]
	if w == nil || !answerFrom(w.to, st.From, t.self, t.client) {
		t.mu.Unlock()
		return false
	}
	delete(t.m, st.ID)
	t.mu.Unlock()
	w.ch <- answer{st: st}
	return true
}

// answerFrom reports whether an answer from from may answer a request sent
// to to by self. It must come from the address asked (RFC 6120 §8.2.3). A
// client's request without to, or to its own bare JID, is handled by the
// server on behalf of the account (RFC 6120 §10.3.3, §8.1.2.1), which
// answers with no from, the bare JID, the full JID or the domain.
func answerFrom(to, from, self jid.JID, client bool) bool {
	if from == to {
		return true
	}
	if client && (to.IsZero() || to == self.Bare()) {
		return from.IsZero() || from == self.Bare() || from == self || from == self.DomainJID()
	}
	return false
}

// linkDown ends the waiters whose request went out on link with err: their
// answer, if any, went to that link. Waiters whose request is not written
// yet stay.
func (t *tracker) linkDown(link uint64, err error) {
	t.mu.Lock()
	t.live = slices.DeleteFunc(t.live, func(l uint64) bool { return l == link })
	var ws []*waiter
	for id, w := range t.m {
		if w.link == link {
			ws = append(ws, w)
			delete(t.m, id)
		}
	}
	t.mu.Unlock()
	for _, w := range ws {
		w.ch <- answer{err: err}
	}
}

// close ends every waiter with err and refuses new ones.
func (t *tracker) close(err error) {
	t.mu.Lock()
	ws := t.m
	t.m = nil
	if t.closed == nil {
		t.closed = err
	}
	t.mu.Unlock()
	for _, w := range ws {
		w.ch <- answer{err: err}
	}
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
