package version_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

func TestRoundTrip(t *testing.T) {
	for _, info := range []version.Info{
		{Name: "Exodus", Version: "0.7.0.4", OS: "Windows-XP 5.01.2600"},
		{Name: "xmppkit <&>", Version: "1.0"}, // escaping, and no OS
	} {
		m := mux.New()
		version.Handler{Info: info}.Register(m)
		lb := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
		got, err := version.Get(context.Background(), lb, jid.MustParse("svc.capulet.lit"))
		if err != nil || got != info {
			t.Errorf("Get = %+v, %v; want %+v", got, err, info)
		}
	}
}

func TestHandlerOmitsOS(t *testing.T) {
	var rec muxtest.Recorder
	iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.x"), stanza.Element{Space: version.NS, Local: "query"})
	iq.From = jid.MustParse("a@x/r")
	if err := (version.Handler{Info: version.Info{Name: "n", Version: "v"}}).HandleStanza(context.Background(), &rec, iq); err != nil {
		t.Fatal(err)
	}
	r := rec.Last()
	if r.Type != stanza.TypeResult || r.ID != iq.ID || strings.Contains(r.String(), "<os") || !strings.Contains(r.String(), "<name>n</name>") {
		t.Errorf("reply %s", r)
	}
	iq.Type = stanza.TypeSet
	if err := (version.Handler{}).HandleStanza(context.Background(), &rec, iq); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("set: %v", err)
	}
}

func TestGetErrors(t *testing.T) {
	ctx := context.Background()
	to := jid.MustParse("svc.x")
	tests := map[string]struct {
		answer string // result payload; "" for an empty result
		want   error
	}{
		"empty result": {"", stanza.ErrBadRequest},
		"no name":      {`<query xmlns='jabber:iq:version'><version>1</version></query>`, stanza.ErrBadRequest},
		"wrong ns":     {`<query xmlns='jabber:iq:versions'><name>x</name></query>`, stanza.ErrBadRequest},
	}
	for name, tt := range tests {
		rec := &muxtest.Recorder{IQ: func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
			if tt.answer == "" {
				return iq.Result(), nil
			}
			return iq.Result(stanza.MustElement(tt.answer)), nil
		}}
		if _, err := version.Get(ctx, rec, to); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	if _, err := version.Get(ctx, &muxtest.Recorder{}, to); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("peer error: %v", err)
	}
}
