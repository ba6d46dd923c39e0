package room

import (
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

type sink struct{ got []*stanza.Stanza }

func (s *sink) send(st *stanza.Stanza) { s.got = append(s.got, st) }

func (s *sink) take() []*stanza.Stanza {
	g := s.got
	s.got = nil
	return g
}

func summary(sts []*stanza.Stanza) string {
	var b []string
	for _, st := range sts {
		b = append(b, st.Kind.String()+"/"+st.Type+" "+st.From.String()+" -> "+st.To.String())
	}
	return strings.Join(b, "\n")
}

// memLog is a Log in memory.
type memLog struct{ entries []Entry }

func (l *memLog) Record(e Entry) (Entry, error) {
	if e.ID == "" {
		e.ID = "a" + itoa(len(l.entries)+1)
	}
	l.entries = append(l.entries, e)
	return e, nil
}

func (l *memLog) History(req HistoryRequest) []Entry { return req.Select(l.entries, time.Now()) }

func TestJoinSequenceTwoDevices(t *testing.T) {
	var s sink
	log := &memLog{}
	r := New(s.send, nil, log)
	phone := jid.MustParse("alice@localhost/phone")
	laptop := jid.MustParse("alice@localhost/laptop")
	short := jid.MustParse("#c@gw")
	long := jid.MustParse("#c%srv@gw")
	r.AddDevice(Device{JID: phone, Room: short, Nick: "alice"})
	r.SetOccupant(Occupant{Nick: "bob", Affiliation: Admin, Role: Moderator}, "", "")
	r.SetSubject("the topic", "bob")
	if len(s.got) != 0 {
		t.Fatalf("sent before the join completed: %s", summary(s.got))
	}
	r.Join(Occupant{Nick: "alice"})
	got := s.take()
	want := "presence/ #c@gw/bob -> alice@localhost/phone\npresence/ #c@gw/alice -> alice@localhost/phone\nmessage/groupchat #c@gw/bob -> alice@localhost/phone"
	if summary(got) != want {
		t.Fatalf("join sequence:\n%s\nwant\n%s", summary(got), want)
	}
	if p := got[1].Payload(); !strings.Contains(p, "code='110'") || !strings.Contains(p, "code='170'") || !strings.Contains(p, "jid='alice@localhost/phone'") {
		t.Errorf("self-presence: %s", p)
	}
	r.Say(Message{Nick: "bob", Body: "before laptop"})
	s.take()
	// The laptop joins through the other spelling, asking another nick.
	r.AddDevice(Device{JID: laptop, Room: long, Nick: "al"})
	got = s.take()
	if len(got) != 4 || got[1].From.String() != "#c%srv@gw/alice" || !strings.Contains(got[1].Payload(), "code='210'") {
		t.Fatalf("second device:\n%s\n%s", summary(got), got[1])
	}
	if got[2].Body() != "before laptop" || !strings.Contains(got[2].Payload(), "urn:xmpp:delay") || !strings.Contains(got[2].Payload(), "by='#c%srv@gw'") {
		t.Errorf("history: %s", got[2])
	}
	r.Say(Message{Nick: "bob", Body: "to both <&>"})
	got = s.take()
	if summary(got) != "message/groupchat #c@gw/bob -> alice@localhost/phone\nmessage/groupchat #c%srv@gw/bob -> alice@localhost/laptop" {
		t.Errorf("fan-out:\n%s", summary(got))
	}
	if got[0].Body() != "to both <&>" {
		t.Errorf("body %q", got[0].Body())
	}
	r.Rename("bob", "bobby")
	if got := s.take(); len(got) != 4 || !strings.Contains(got[0].Payload(), "code='303'") || !strings.Contains(got[0].Payload(), "nick='bobby'") {
		t.Errorf("rename:\n%s", summary(got))
	}
	r.RemoveOccupant("bobby", Leave{Reason: "behave", Actor: "carol", Codes: []int{StatusKicked}})
	got = s.take()
	if len(got) != 2 || !strings.Contains(got[0].Payload(), "<actor nick='carol'/><reason>behave</reason>") || !strings.Contains(got[0].Payload(), "code='307'") {
		t.Errorf("kick:\n%s", got[0])
	}
	if n := r.RemoveDevice(phone, short, "bye"); n != 1 {
		t.Errorf("%d devices left", n)
	}
	if got := s.take(); len(got) != 1 || got[0].To != phone || !strings.Contains(got[0].Payload(), "<status>bye</status>") {
		t.Errorf("leave: %s", summary(got))
	}
	if e := r.HandlePing(laptop, jid.MustParse("#c%srv@gw/alice")); e != nil {
		t.Errorf("self-ping: %v", e)
	}
	if e := r.HandlePing(phone, jid.MustParse("#c@gw/alice")); e == nil {
		t.Error("self-ping of a device that left")
	}
	r.End(Leave{Reason: "link lost", Codes: []int{StatusShutdown}})
	if got := s.take(); len(got) != 1 || !strings.Contains(got[0].Payload(), "code='332'") {
		t.Errorf("end: %s", summary(got))
	}
}

// TestHostileText: text from the other network (reasons, nicks, bodies)
// always makes well-formed stanzas.
func TestHostileText(t *testing.T) {
	var s sink
	r := New(s.send, nil, nil)
	d := jid.MustParse("a@b/c")
	r.AddDevice(Device{JID: d, Room: jid.MustParse("#x@gw"), Nick: "a"})
	r.Join(Occupant{Nick: "a"})
	bad := "bye \x00\x01\x1b[31m \xff\xfe <&'\"> \xef\xbf\xbf </x>"
	r.SetOccupant(Occupant{Nick: "n"}, bad, bad)
	r.Say(Message{Nick: "n", Body: bad})
	r.ChangeSubject(bad, "n")
	r.RemoveOccupant("n", Leave{Reason: bad, Actor: bad, Codes: []int{StatusKicked}})
	r.End(Leave{Reason: bad})
	for _, st := range s.take() {
		if _, err := stanza.Decode(st.AppendXML(nil)); err != nil {
			t.Errorf("%s: %v", st, err)
		}
	}
	e := JoinError(jid.MustParse("#x@gw/a"), d, stanza.NewError(stanza.Conflict, bad))
	if _, err := stanza.Decode(e.AppendXML(nil)); err != nil || !strings.Contains(e.Payload(), "code='409'") {
		t.Errorf("join error %s: %v", e, err)
	}
}

func TestHistorySelect(t *testing.T) {
	now := time.Now()
	var es []Entry
	for i := 0; i < 10; i++ {
		es = append(es, Entry{ID: itoa(i), Time: now.Add(time.Duration(i-10) * time.Minute), Body: "12345"})
	}
	for _, tc := range []struct {
		req  HistoryRequest
		want int
	}{
		{HistoryRequest{MaxStanzas: 3, MaxChars: -1, Seconds: -1, set: true}, 3},
		{HistoryRequest{MaxStanzas: -1, MaxChars: 12, Seconds: -1, set: true}, 2},
		{HistoryRequest{MaxStanzas: -1, MaxChars: -1, Seconds: 150, set: true}, 2},
		{HistoryRequest{MaxStanzas: -1, MaxChars: -1, Seconds: -1, Since: now.Add(-4*time.Minute - time.Second), set: true}, 4},
		{NoHistory, 0},
		{HistoryRequest{MaxStanzas: 20}, 10},
	} {
		got := tc.req.Select(es, now)
		if len(got) != tc.want || len(got) > 0 && got[len(got)-1].ID != "9" {
			t.Errorf("%+v: %d entries, want %d (newest last)", tc.req, len(got), tc.want)
		}
	}
}
