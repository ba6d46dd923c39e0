package xtime_test

import (
	"context"
	"fmt"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/xtime"
)

func ExampleFormatDateTime() {
	t := time.Date(1969, 7, 21, 2, 56, 15, 500_000_000, time.UTC)
	fmt.Println(xtime.FormatDate(t))
	fmt.Println(xtime.FormatDateTime(t))
	fmt.Println(xtime.FormatTime(t.In(time.FixedZone("", -5*3600))))
	// Output:
	// 1969-07-21
	// 1969-07-21T02:56:15.5Z
	// 21:56:15.5-05:00
}

func ExampleParseDateTime() {
	t, err := xtime.ParseDateTime("1969-07-20T21:56:15-05:00")
	if err != nil {
		panic(err)
	}
	fmt.Println(t.UTC().Format(time.RFC3339))

	_, err = xtime.ParseDateTime("1969-07-20 21:56:15")
	fmt.Println(err)
	// Output:
	// 1969-07-21T02:56:15Z
	// xtime: invalid XEP-0082 DateTime "1969-07-20 21:56:15": missing 'T' between date and time
}

// Entity time (XEP-0202): a handler with a fixed clock, asked in memory.
func ExampleGet() {
	m := mux.New()
	clock := func() time.Time { return time.Date(2006, 12, 19, 11, 58, 35, 0, time.FixedZone("CST", -6*3600)) }
	xtime.Handler{Now: clock}.Register(m)

	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	t, err := xtime.Get(context.Background(), peer, jid.MustParse("clock.capulet.lit"))
	if err != nil {
		panic(err)
	}
	fmt.Println(xtime.FormatDateTime(t), xtime.FormatTZO(t))
	// Output:
	// 2006-12-19T11:58:35-06:00 -06:00
}
