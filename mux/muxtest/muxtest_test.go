package muxtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	var r muxtest.Recorder
	if r.Last() != nil {
		t.Fatal("Last of empty recorder")
	}
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("a@x"), "hi")
	if err := r.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("x"), stanza.Element{Space: "urn:q", Local: "q"})
	if _, err := r.SendIQ(ctx, iq); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("zero Recorder SendIQ: %v", err)
	}
	if got := r.Sent(); len(got) != 2 || got[0] != msg || got[1] != iq {
		t.Errorf("Sent = %v", got)
	}
	r.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.ErrorReply(stanza.NewError(stanza.Conflict, "taken")), nil
	}
	_, err := r.SendIQ(ctx, iq)
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.Conflict || se.Text != "taken" {
		t.Errorf("error answer: %v", err)
	}
	boom := errors.New("boom")
	r.IQ = func(context.Context, *stanza.Stanza) (*stanza.Stanza, error) { return nil, boom }
	if _, err := r.SendIQ(ctx, iq); !errors.Is(err, boom) {
		t.Errorf("error from IQ func: %v", err)
	}
	r.Reset()
	if len(r.Sent()) != 0 {
		t.Error("Reset")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.SendIQ(cctx, iq); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r muxtest.Recorder
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_ = r.Send(context.Background(), stanza.NewPresence("", jid.JID{}))
			}
		}()
	}
	wg.Wait()
	if n := len(r.Sent()); n != 800 {
		t.Errorf("%d recorded", n)
	}
}

func TestLoopback(t *testing.T) {
	ctx := context.Background()
	me := jid.MustParse("romeo@montague.lit/orchard")
	svc := jid.MustParse("svc.capulet.lit")
	var seen *stanza.Stanza
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:q", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		seen = iq
		// A notification on the side, then the answer.
		if err := s.Send(ctx, stanza.NewMessage(stanza.TypeHeadline, iq.From, "note")); err != nil {
			return err
		}
		return s.Send(ctx, iq.Result())
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:silent", "q", func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	lb := &muxtest.Loopback{Handler: m, From: me, To: svc}

	res, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "urn:q", Local: "q"}))
	if err != nil {
		t.Fatal(err)
	}
	if !seen.From.Equal(me) || !seen.To.Equal(svc) {
		t.Errorf("handler saw from=%s to=%s", seen.From, seen.To)
	}
	if res.Type != stanza.TypeResult || !res.To.Equal(me) || !res.From.Equal(svc) {
		t.Errorf("answer %s", res)
	}
	if sent := lb.Recorder.Sent(); len(sent) != 1 || sent[0].Body() != "note" {
		t.Errorf("side stanzas %v", sent)
	}
	if _, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, svc, stanza.Element{Space: "urn:none", Local: "q"})); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("unhandled: %v", err)
	}
	if _, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, svc, stanza.Element{Space: "urn:silent", Local: "q"})); !errors.Is(err, stanza.ErrRemoteServerTimeout) {
		t.Errorf("silent handler: %v", err)
	}
	if err := lb.Send(ctx, stanza.NewPresence("", svc)); err != nil || len(lb.Recorder.Sent()) != 2 {
		t.Errorf("Send: %v", err)
	}
}
