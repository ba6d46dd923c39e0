package mam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/stanza"
)

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, JournalOptions{MaxPerArchive: 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	other := jid.MustParse("other@gw.example")
	var kept []Message
	for i := range 300 {
		archive := room
		if i%10 == 9 {
			archive = other
		}
		m, err := j.Append(archive, Message{Time: epoch.Add(time.Duration(i) * time.Second), With: jid.MustParse(fmt.Sprintf("u%d@example", i%4)),
			Stanza: stanza.NewMessage(stanza.TypeGroupchat, room, fmt.Sprintf("m%d <&>", i))})
		if err != nil {
			t.Fatal(err)
		}
		if archive.Equal(room) {
			kept = append(kept, m)
		}
	}
	kept = kept[len(kept)-20:]
	if _, err := j.AppendNode(jid.MustParse("pubsub.example"), "news", Message{Stanza: stanza.NewMessage("", room, "item")}); err != nil {
		t.Fatal(err)
	}
	// 301 records written, 41 kept: the log was compacted on the way.
	if n := j.log.Records(); n > 2*41+64 {
		t.Fatalf("%d records in the log", n)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = OpenJournal(dir, JournalOptions{MaxPerArchive: 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Query(context.Background(), room, &Query{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msgIDs(p.Messages), msgIDs(kept)) {
		t.Fatalf("reopened: %v\nwant %v", msgIDs(p.Messages), msgIDs(kept))
	}
	for i, m := range p.Messages {
		if !m.Time.Equal(kept[i].Time) || m.Stanza.Body() != kept[i].Stanza.Body() || !m.With.Equal(kept[i].With) {
			t.Fatalf("message %d: %+v, want %+v", i, m, kept[i])
		}
	}
	if n := j.Len(jid.MustParse("pubsub.example"), "news"); n != 1 {
		t.Fatalf("node archive %d", n)
	}
	if ok, err := j.Remove(other, ""); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	j.Close()
	j, err = OpenJournal(dir, JournalOptions{MaxPerArchive: 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if n := j.Len(other, ""); n != 0 {
		t.Fatalf("removed archive has %d messages after reopening", n)
	}
	if n := j.Len(room, ""); n != 20 {
		t.Fatalf("room has %d messages after reopening", n)
	}
}

func TestJournalCorrupt(t *testing.T) {
	dir := t.TempDir()
	l, err := journal.Open(dir, journal.Options{NoSync: true}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendSync([]byte{recordMessage, 200}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := OpenJournal(dir, JournalOptions{NoSync: true}); err == nil {
		t.Fatal("a damaged record was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir)); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(key{"room@gw.example", ""}, Message{ID: "abc", Time: epoch, With: alice, Stanza: stanza.NewMessage(stanza.TypeChat, bob, "hi")}))
	f.Add(encodeRemove(key{"room@gw.example", "node"}))
	f.Add([]byte{recordMessage, 3, 'a', '@', 'b'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		k, m, err := decodeRecord(rec)
		if err != nil {
			return
		}
		var again []byte
		if m.Stanza == nil {
			again = encodeRemove(k)
		} else {
			again = encodeRecord(k, m)
		}
		k2, m2, err := decodeRecord(again)
		if err != nil || k2 != k || m2.ID != m.ID || !m2.Time.Equal(m.Time) || !m2.With.Equal(m.With) {
			t.Fatalf("round trip: %v %+v %+v", err, m, m2)
		}
	})
}
