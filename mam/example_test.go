package mam_test

import (
	"context"
	"fmt"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// A room service keeps its rooms' history in a Memory archive and serves
// it to whoever may enter the room (here: anyone).
func Example() {
	archive := &mam.Memory{MaxPerArchive: 1000}
	room := jid.MustParse("#go@irc.example.com")
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, line := range []string{"hello", "who is here?", "me", "bye"} {
		nick := []string{"ann", "ben"}[i%2]
		msg, _ := mam.RoomMessage(room, nick, stanza.NewMessage(stanza.TypeGroupchat, room, line), jid.JID{})
		archived, _ := archive.Append(room, mam.Message{Time: t0.Add(time.Duration(i) * time.Minute), Stanza: msg})
		_ = archived.ID // stamp the live copy with mam.StanzaID(room, archived.ID)
	}

	m := mux.New()
	(&mam.Handler{Archive: archive, Allow: func(ctx context.Context, requester, archive jid.JID, node string) error {
		return nil // an open room: anyone not banned (XEP-0313 §6.1.2)
	}}).Register(m)

	// A client asks for the last two messages.
	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("juliet@example.com/balcony")}
	q := &mam.Query{QueryID: "q1", Page: rsm.Last(2)}
	el := q.Element()
	res, err := peer.SendIQ(context.Background(), stanza.NewIQ(stanza.TypeSet, room, el))
	if err != nil {
		panic(err)
	}
	for _, m := range peer.Recorder.Sent() { // the results come as messages first
		r, _ := m.Child(mam.NS, "result")
		pr, _ := mam.ParseResult(r.XML())
		fmt.Println(pr.Time.Format("15:04"), pr.Message.From.Resource(), pr.Message.Body())
	}
	fin, _ := res.Child(mam.NS, "fin")
	f, _ := mam.ParseFin(fin)
	fmt.Println("complete:", f.Complete, "count:", f.Result.Count, "first index:", f.Result.FirstIndex)
	// Output:
	// 12:02 ann me
	// 12:03 ben bye
	// complete: false count: 4 first index: 2
}
