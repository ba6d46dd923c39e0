package ping_test

import (
	"context"
	"errors"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
)

func TestHandler(t *testing.T) {
	m := mux.New()
	ping.Handler{}.Register(m)
	in, err := stanza.Decode([]byte(`<iq type='get' id='c2s1' from='juliet@capulet.lit/balcony' to='capulet.lit'><ping xmlns='urn:xmpp:ping'/></iq>`))
	if err != nil {
		t.Fatal(err)
	}
	var rec muxtest.Recorder
	if err := m.HandleStanza(context.Background(), &rec, in); err != nil {
		t.Fatal(err)
	}
	r := rec.Last()
	if r == nil || r.Type != stanza.TypeResult || r.ID != "c2s1" || r.To.String() != "juliet@capulet.lit/balcony" ||
		r.From.String() != "capulet.lit" || len(r.Children()) != 0 {
		t.Errorf("reply %v", r)
	}
	if info, _ := disco.New(m).Info(disco.Query{To: jid.MustParse("capulet.lit")}); !info.HasFeature(ping.NS) {
		t.Errorf("features %q", info.Features)
	}
	// A ping set is not a ping.
	set := stanza.NewIQ(stanza.TypeSet, jid.MustParse("capulet.lit"), stanza.Element{Space: ping.NS, Local: "ping"})
	if err := (ping.Handler{}).HandleStanza(context.Background(), &rec, set); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("set: %v", err)
	}
}

func TestSend(t *testing.T) {
	ctx := context.Background()
	to := jid.MustParse("capulet.lit")
	answer := func(e *stanza.Error) func(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
		return func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
			if e == nil {
				return iq.Result(), nil
			}
			return iq.ErrorReply(e), nil
		}
	}
	tests := []struct {
		name   string
		answer *stanza.Error
		want   error
	}{
		{"result", nil, nil},
		{"service-unavailable means alive", stanza.ErrServiceUnavailable, nil},
		{"feature-not-implemented means alive", stanza.ErrFeatureNotImplemented, nil},
		{"remote-server-not-found", stanza.ErrRemoteServerNotFound, stanza.ErrRemoteServerNotFound},
		{"recipient-unavailable", stanza.ErrRecipientUnavailable, stanza.ErrRecipientUnavailable},
	}
	for _, tt := range tests {
		rec := &muxtest.Recorder{IQ: answer(tt.answer)}
		err := ping.Send(ctx, rec, to)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Send = %v, want %v", tt.name, err, tt.want)
		}
		req := rec.Last()
		if req.Type != stanza.TypeGet || !req.To.Equal(to) || req.ID == "" {
			t.Errorf("%s: request %s", tt.name, req)
		}
		if _, ok := req.Child(ping.NS, "ping"); !ok {
			t.Errorf("%s: request without ping: %s", tt.name, req)
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := ping.Send(ctx2, &muxtest.Recorder{IQ: answer(nil)}, to); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Round trip against the real handler.
	m := mux.New()
	ping.Handler{}.Register(m)
	if err := ping.Send(ctx, &muxtest.Loopback{Handler: m, From: jid.MustParse("a@x/r")}, to); err != nil {
		t.Errorf("loopback: %v", err)
	}
}
