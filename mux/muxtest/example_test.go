package muxtest_test

import (
	"context"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// A Recorder captures what a handler sends, and answers the handler's own
// IQs from a function.
func ExampleRecorder() {
	greet := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
		// On subscription, ask the new contact for its version, then say hello.
		if _, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, p.From, stanza.Element{Space: "jabber:iq:version", Local: "query"})); err != nil {
			fmt.Println("version query failed:", err)
		}
		return s.Send(ctx, stanza.NewMessage(stanza.TypeChat, p.From, "welcome"))
	})
	rec := &muxtest.Recorder{IQ: func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.ErrorReply(stanza.ErrFeatureNotImplemented), nil
	}}
	p := stanza.NewPresence(stanza.TypeSubscribe, jid.MustParse("bot.example"))
	p.From = jid.MustParse("juliet@example")
	_ = greet.HandleStanza(context.Background(), rec, p)
	for _, st := range rec.Sent() {
		fmt.Println(st.Kind, st.Type, st.To)
	}
	// Output:
	// version query failed: stanza error: cancel feature-not-implemented
	// iq get juliet@example
	// message chat juliet@example
}
