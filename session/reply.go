package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// ReplyError is the one rule by which a handler's result becomes an error
// reply (RFC 6120 §8.3), applied by every transport: it returns the stanza
// error to answer st with, or nil when st gets no answer.
//
//   - A stanza of type "error" is never answered (§8.3.1), nor is an iq
//     result: answers are not answered.
//   - nil and mux.ErrUnhandled (a message or presence no handler took) get
//     no answer.
//   - A *stanza.Error anywhere in err's chain (errors.As) is the answer, for
//     an iq get or set and for a message or presence alike: the handler
//     asked for it.
//   - Any other error, a panic and a deadline that ended the handler are
//     internal-server-error for an iq get or set (§8.2.3: a request is
//     always answered) and no answer for a message or presence (an
//     unsolicited internal-server-error helps nobody); they are logged.
func ReplyError(st *stanza.Stanza, err error) *stanza.Error {
	if err == nil || st.Type == stanza.TypeError || errors.Is(err, mux.ErrUnhandled) {
		return nil
	}
	request := st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet)
	if st.Kind == stanza.IQ && !request {
		return nil
	}
	var se *stanza.Error
	if errors.As(err, &se) {
		return se
	}
	if request {
		return stanza.ErrInternalServerError
	}
	return nil
}

// Call runs h on st and returns what it returns, a panic recovered as an
// error (which ReplyError answers internal-server-error). The session's
// workers call handlers this way; so can a handler that serves a nested
// stanza with a handler tree of its own (XEP-0355's delegated iq), so that
// the inner stanza gets the same rules.
func Call(ctx context.Context, h mux.Handler, s mux.Sender, st *stanza.Stanza) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v: v, stack: debug.Stack()}
		}
	}()
	return h.HandleStanza(ctx, s, st)
}

// IsPanic reports whether err, returned by Call, is a recovered panic.
func IsPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// panicError is a handler's recovered panic.
type panicError struct {
	v     any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("session: handler panic: %v", p.v) }

// answer applies ReplyError to the outcome of handling st (or of decoding
// it: decodeErr) and logs what needs logging: panics and errors other than
// stanza errors at Error, unhandled stanzas at Debug.
func (s *Session) answer(ctx context.Context, st *stanza.Stanza, err error) {
	s.answerVia(ctx, s, st, err)
}

// answerVia is answer with the reply sent through via (a Dispatch's
// Sender).
func (s *Session) answerVia(ctx context.Context, via mux.Sender, st *stanza.Stanza, err error) {
	if err == nil {
		return
	}
	log := s.log
	if errors.Is(err, mux.ErrUnhandled) {
		if log.Enabled(ctx, slog.LevelDebug) {
			log.DebugContext(ctx, "session: dropped unhandled stanza", stanzaAttrs(s, st)...)
		}
		return
	}
	var p *panicError
	switch {
	case errors.As(err, &p):
		log.ErrorContext(ctx, "session: handler panic", append(stanzaAttrs(s, st),
			"panic", fmt.Sprint(p.v), "stack", string(p.stack))...)
	case !isStanzaError(err):
		log.ErrorContext(ctx, "session: handler error", append(stanzaAttrs(s, st), "err", err)...)
	}
	se := ReplyError(st, err)
	if se == nil {
		return
	}
	reply := st.ErrorReply(se)
	if reply == nil {
		return
	}
	// The reply goes out on a context of its own: the handler's may have
	// ended (that may be why it failed).
	rctx, cancel := context.WithTimeout(s.base, replyTimeout)
	defer cancel()
	if serr := via.Send(rctx, reply); serr != nil {
		log.WarnContext(ctx, "session: error reply not sent", append(stanzaAttrs(s, st),
			"condition", string(se.Condition), "err", serr)...)
	}
}

func isStanzaError(err error) bool {
	var se *stanza.Error
	return errors.As(err, &se)
}

// stanzaAttrs are the log attributes naming st.
func stanzaAttrs(s *Session, st *stanza.Stanza) []any {
	space, local := "", ""
	if kids := st.Children(); len(kids) > 0 {
		space, local = kids[0].Space, kids[0].Local
	}
	return []any{"addr", s.addr.String(), "kind", st.Kind.String(), "type", st.Type, "id", st.ID,
		"from", st.From.String(), "to", st.To.String(), "payload", "{" + space + "}" + local}
}
