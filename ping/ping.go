package ping

import (
	"context"
	"errors"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0199 namespace.
const NS = "urn:xmpp:ping"

// Handler answers XEP-0199 pings (§4) with an empty IQ result.
type Handler struct{}

// HandleStanza sends the empty result of a ping get.
func (Handler) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.Kind != stanza.IQ || iq.Type != stanza.TypeGet {
		return stanza.NewError(stanza.BadRequest, "ping: only iq get is served")
	}
	return s.Send(ctx, iq.Result())
}

// Register mounts the handler on m for ping gets.
func (h Handler) Register(m *mux.ServeMux) {
	m.HandleIQ(stanza.TypeGet, NS, "ping", h)
}

// Send pings the entity at to and waits for its answer (XEP-0199 §4): nil
// when it answers with a result, and also when it answers
// service-unavailable or feature-not-implemented (§4: it does not support
// ping, but it is there and answered). Any other error stanza is returned
// as its *stanza.Error (remote-server-not-found, recipient-unavailable,
// remote-server-timeout and the like mean it could not be reached), as is
// the context's error when it ends first.
//
// Note that a server answers service-unavailable on behalf of a full JID
// that has no session (RFC 6121 §8.5.3.2.1), so for a client's full JID a
// nil result proves the server alive, not the client.
func Send(ctx context.Context, s mux.Sender, to jid.JID) error {
	_, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, stanza.Element{Space: NS, Local: "ping"}))
	if errors.Is(err, stanza.ErrServiceUnavailable) || errors.Is(err, stanza.ErrFeatureNotImplemented) {
		return nil
	}
	return err
}
