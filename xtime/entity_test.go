package xtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xtime"
)

func TestEntityTime(t *testing.T) {
	chicago := time.FixedZone("CST", -6*3600)
	now := time.Date(2006, 12, 19, 11, 58, 35, 0, chicago)
	m := mux.New()
	xtime.Handler{Now: func() time.Time { return now }}.Register(m)
	lb := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	got, err := xtime.Get(context.Background(), lb, jid.MustParse("juliet@capulet.com/balcony"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(now) {
		t.Errorf("Get = %v, want %v", got, now)
	}
	if _, off := got.Zone(); off != -6*3600 {
		t.Errorf("offset %d", off)
	}

	// The wire form of XEP-0202 §3 Example 2.
	var rec muxtest.Recorder
	iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.x"), stanza.Element{Space: xtime.NS, Local: "time"})
	if err := m.HandleStanza(context.Background(), &rec, iq); err != nil {
		t.Fatal(err)
	}
	if s := rec.Last().String(); !strings.Contains(s, "<tzo>-06:00</tzo><utc>2006-12-19T17:58:35Z</utc>") {
		t.Errorf("answer %s", s)
	}
}

func TestGetBadAnswers(t *testing.T) {
	for name, payload := range map[string]string{
		"bad utc":    `<time xmlns='urn:xmpp:time'><tzo>Z</tzo><utc>yesterday</utc></time>`,
		"bad tzo":    `<time xmlns='urn:xmpp:time'><tzo>+1:00</tzo><utc>2006-12-19T17:58:35Z</utc></time>`,
		"no utc":     `<time xmlns='urn:xmpp:time'><tzo>Z</tzo></time>`,
		"wrong elem": `<query xmlns='urn:xmpp:time'/>`,
	} {
		rec := &muxtest.Recorder{IQ: func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
			return iq.Result(stanza.MustElement(payload)), nil
		}}
		_, err := xtime.Get(context.Background(), rec, jid.MustParse("a@x/r"))
		if !errors.Is(err, stanza.ErrBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var rec muxtest.Recorder
	iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("svc.x"), stanza.Element{Space: xtime.NS, Local: "time"})
	if err := (xtime.Handler{}).HandleStanza(context.Background(), &rec, iq); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("set: %v", err)
	}
}
