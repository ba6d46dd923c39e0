package mam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

var (
	room  = jid.MustParse("room@gw.example")
	alice = jid.MustParse("alice@example/phone")
	bob   = jid.MustParse("bob@example/desk")
	epoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

// fill archives n messages in room, one a minute from epoch, from three
// senders in turn, and returns them as archived.
func fill(t testing.TB, m *Memory, n int) []Message {
	t.Helper()
	var out []Message
	for i := range n {
		nick := []string{"ann", "ben", "cid"}[i%3]
		body := stanza.NewMessage(stanza.TypeGroupchat, room, fmt.Sprintf("message %d", i))
		st, err := RoomMessage(room, nick, body, jid.MustParse(nick+"@example"))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := m.Append(room, Message{Time: epoch.Add(time.Duration(i) * time.Minute), With: jid.MustParse(nick + "@example"), Stanza: st})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

type env struct {
	mem  *Memory
	mux  *mux.ServeMux
	msgs []Message
}

func newEnv(t testing.TB, n int) *env {
	t.Helper()
	mem := &Memory{}
	msgs := fill(t, mem, n)
	h := &Handler{Archive: mem, Allow: func(ctx context.Context, requester, archive jid.JID, node string) error {
		if requester.Bare().Equal(jid.MustParse("eve@example")) {
			return stanza.ErrForbidden
		}
		return nil
	}}
	m := mux.New()
	h.Register(m)
	d := disco.New(m)
	d.AddProvider(roomIdentity{}) // the room service's rooms exist
	d.Register(m)
	return &env{mem: mem, mux: m, msgs: msgs}
}

// run sends the query from alice to the room and returns the results and
// the fin, or the error.
func (e *env) run(t *testing.T, from jid.JID, q *Query) ([]*Result, *Fin, error) {
	t.Helper()
	return e.raw(t, from, q.Element())
}

func (e *env) raw(t *testing.T, from jid.JID, el stanza.Element) ([]*Result, *Fin, error) {
	t.Helper()
	lb := &muxtest.Loopback{Handler: e.mux, From: from, To: room}
	res, err := lb.SendIQ(context.Background(), stanza.NewIQ(stanza.TypeSet, room, el))
	if err != nil {
		if n := len(lb.Recorder.Sent()); n > 0 {
			t.Fatalf("%d results sent before the error %v", n, err)
		}
		return nil, nil, err
	}
	var results []*Result
	for _, m := range lb.Recorder.Sent() {
		if m.Kind != stanza.Message || !m.From.Equal(room) || !m.To.Equal(from) {
			t.Fatalf("result message %v", m)
		}
		r, ok := m.Child(NS, "result")
		if !ok {
			t.Fatalf("message without result: %v", m)
		}
		pr, err := ParseResult(r.XML())
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, pr)
	}
	fel, ok := res.Child(NS, "fin")
	if !ok {
		t.Fatalf("iq result without fin: %v", res)
	}
	fin, err := ParseFin(fel)
	if err != nil {
		t.Fatal(err)
	}
	return results, fin, nil
}

type roomIdentity struct{}

func (roomIdentity) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() != "" && q.Node == "" {
		return []disco.Identity{{Category: "conference", Type: "text"}}
	}
	return nil
}

func ids(rs []*Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func msgIDs(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, 120)
	// The whole archive, page by page with the service's limit of 50.
	var got []string
	q := &Query{QueryID: "q1"}
	for page := 0; ; page++ {
		rs, fin, err := e.run(t, alice, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > DefaultMaxPage {
			t.Fatalf("page of %d", len(rs))
		}
		for _, r := range rs {
			if r.QueryID != "q1" {
				t.Fatalf("queryid %q", r.QueryID)
			}
		}
		got = append(got, ids(rs)...)
		if fin.Result.Count != 120 || !fin.Stable || fin.Result.FirstIndex != 50*page {
			t.Fatalf("page %d fin %+v", page, fin)
		}
		if fin.Complete {
			if page != 2 {
				t.Fatalf("complete on page %d", page)
			}
			break
		}
		q.Page = rsm.Next(500, fin.Result.Last) // the service caps 500 to 50
	}
	if !slices.Equal(got, msgIDs(e.msgs)) {
		t.Fatalf("paged ids differ from the archive")
	}

	// The first result's shape.
	rs, _, _ := e.run(t, alice, &Query{Page: rsm.First(1)})
	r := rs[0]
	if !r.Time.Equal(epoch) || r.Message.Body() != "message 0" || r.Message.From.String() != "room@gw.example/ann" ||
		!r.Message.To.IsZero() || r.Message.Type != stanza.TypeGroupchat {
		t.Fatalf("result %+v %v", r, r.Message)
	}
	if x, ok := r.Message.Child(NSMUCUser, "x"); !ok || !strings.Contains(x.XML(), "jid='ann@example'") {
		t.Fatalf("muc#user item %v", r.Message)
	}

	// The last page, backwards.
	rs, fin, err := e.run(t, alice, &Query{Page: rsm.Last(10)})
	if err != nil || !slices.Equal(ids(rs), msgIDs(e.msgs[110:])) || fin.Complete || fin.Result.FirstIndex != 110 {
		t.Fatalf("last page %v %+v %v", ids(rs), fin, err)
	}
	rs, fin, err = e.run(t, alice, &Query{Page: rsm.Prev(100, fin.Result.First)})
	if err != nil || !slices.Equal(ids(rs), msgIDs(e.msgs[60:110])) || fin.Complete {
		t.Fatalf("page before %v %+v %v", len(rs), fin, err)
	}
	// Flipped: the same page, newest first.
	flipped, _, err := e.run(t, alice, &Query{Page: rsm.Last(10), Flip: true})
	if err != nil {
		t.Fatal(err)
	}
	want := msgIDs(e.msgs[110:])
	slices.Reverse(want)
	if !slices.Equal(ids(flipped), want) {
		t.Fatalf("flipped %v", ids(flipped))
	}
	// Count only, and a page past the end.
	rs, fin, err = e.run(t, alice, &Query{Page: rsm.CountOnly()})
	if err != nil || len(rs) != 0 || fin.Result.Count != 120 || !fin.Result.Empty() {
		t.Fatalf("count %v %+v %v", len(rs), fin, err)
	}
	rs, fin, err = e.run(t, alice, &Query{Page: rsm.Next(10, e.msgs[119].ID)})
	if err != nil || len(rs) != 0 || !fin.Complete {
		t.Fatalf("past the end %v %+v %v", len(rs), fin, err)
	}
}

func TestQueryFilters(t *testing.T) {
	e := newEnv(t, 90)
	ann := jid.MustParse("ann@example")
	for _, tc := range []struct {
		name string
		q    *Query
		want []Message
	}{
		{"with", &Query{With: ann}, every3(e.msgs, 0)},
		{"with a resource matches only that full JID", &Query{With: jid.MustParse("ann@example/phone")}, nil},
		{"start", &Query{Start: epoch.Add(80 * time.Minute)}, e.msgs[80:]},
		{"end", &Query{End: epoch.Add(4 * time.Minute)}, e.msgs[:5]},
		{"start and end", &Query{Start: epoch.Add(10 * time.Minute), End: epoch.Add(12*time.Minute + time.Second)}, e.msgs[10:13]},
		{"end before start", &Query{Start: epoch.Add(10 * time.Minute), End: epoch}, nil},
		{"with and start", &Query{With: ann, Start: epoch.Add(80 * time.Minute)}, every3(e.msgs[81:], 0)},
		{"after-id", &Query{AfterID: e.msgs[85].ID}, e.msgs[86:]},
		{"before-id", &Query{BeforeID: e.msgs[3].ID}, e.msgs[:3]},
		{"between ids", &Query{AfterID: e.msgs[10].ID, BeforeID: e.msgs[14].ID}, e.msgs[11:14]},
		{"ids", &Query{IDs: []string{e.msgs[7].ID, e.msgs[2].ID, e.msgs[7].ID}}, []Message{e.msgs[2], e.msgs[7]}},
		{"ids and with", &Query{IDs: []string{e.msgs[1].ID, e.msgs[3].ID}, With: ann}, []Message{e.msgs[3]}},
		{"with, paged by RSM after an id outside the filter", &Query{With: ann, Page: rsm.Next(2, e.msgs[4].ID)}, []Message{e.msgs[6], e.msgs[9]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, fin, err := e.run(t, alice, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if len(want) > DefaultMaxPage {
				want = want[:DefaultMaxPage]
			}
			if !slices.Equal(ids(rs), msgIDs(want)) {
				t.Fatalf("got %d results, want %d", len(rs), len(want))
			}
			if tc.q.Page.IsZero() && fin.Result.Count != len(tc.want) {
				t.Fatalf("count %d, want %d", fin.Result.Count, len(tc.want))
			}
		})
	}
}

func every3(ms []Message, k int) []Message {
	var out []Message
	for i, m := range ms {
		if i%3 == k {
			out = append(out, m)
		}
	}
	return out
}

func TestQueryErrors(t *testing.T) {
	e := newEnv(t, 10)
	for _, tc := range []struct {
		name string
		from jid.JID
		raw  string
		cond stanza.Condition
	}{
		{"unknown after", alice, `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set></query>`, stanza.ItemNotFound},
		{"unknown before", alice, `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before>nope</before></set></query>`, stanza.ItemNotFound},
		{"unknown after-id", alice, form1(`<field var='after-id'><value>nope</value></field>`), stanza.ItemNotFound},
		{"unknown id", alice, form1(`<field var='ids'><value>` + e.msgs[1].ID + `</value><value>nope</value></field>`), stanza.ItemNotFound},
		{"unknown field", alice, form1(`<field var='{urn:x}fulltext'><value>x</value></field>`), stanza.FeatureNotImplemented},
		{"include-groupchat is not offered", alice, form1(`<field var='include-groupchat'><value>true</value></field>`), stanza.FeatureNotImplemented},
		{"bad with", alice, form1(`<field var='with'><value>@@</value></field>`), stanza.JIDMalformed},
		{"bad start", alice, form1(`<field var='start'><value>yesterday</value></field>`), stanza.BadRequest},
		{"wrong FORM_TYPE", alice, `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:1</value></field></x></query>`, stanza.BadRequest},
		{"form not submit", alice, `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'/></query>`, stanza.BadRequest},
		{"bad rsm", alice, `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-5</max></set></query>`, stanza.BadRequest},
		{"after and before", alice, `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>a</after><before>b</before></set></query>`, stanza.BadRequest},
		{"index", alice, `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set></query>`, ""},
		{"forbidden", jid.MustParse("eve@example/x"), `<query xmlns='urn:xmpp:mam:2'/>`, stanza.Forbidden},
		{"two values in with", alice, `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='with' type='jid-single'><value>a@b</value><value>c@d</value></field></x></query>`, stanza.BadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := stanza.MustElement(tc.raw)
			// A malformed query, an unsupported field or a stranger never
			// reaches the archive; an unknown id is the archive's answer.
			c := &counting{Extended: e.mem}
			h := &Handler{Archive: c, Allow: func(ctx context.Context, requester, archive jid.JID, node string) error {
				if requester.Bare().Equal(jid.MustParse("eve@example")) {
					return stanza.ErrForbidden
				}
				return nil
			}}
			m := mux.New()
			h.Register(m)
			_, _, err := (&env{mem: e.mem, mux: m}).raw(t, tc.from, el)
			if byArchive := tc.cond == stanza.ItemNotFound || tc.cond == ""; byArchive != (c.n > 0) {
				t.Fatalf("archive asked %d times", c.n)
			}
			if tc.cond == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != tc.cond {
				t.Fatalf("err = %v, want %s", err, tc.cond)
			}
		})
	}
}

type counting struct {
	Extended
	n int
}

func (c *counting) Query(ctx context.Context, archive jid.JID, q *Query) (*Page, error) {
	c.n++
	return c.Extended.Query(ctx, archive, q)
}

func form1(fields string) string {
	return `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` + fields + `</x></query>`
}

func TestBounded(t *testing.T) {
	mem := &Memory{MaxPerArchive: 10}
	msgs := fill(t, mem, 25)
	if n := mem.Len(room, ""); n != 10 {
		t.Fatalf("%d messages kept", n)
	}
	p, err := mem.Query(context.Background(), room, &Query{Limit: 50})
	if err != nil || !slices.Equal(msgIDs(p.Messages), msgIDs(msgs[15:])) {
		t.Fatalf("kept %v, %v", msgIDs(p.Messages), err)
	}
	// A dropped message's id is unknown now.
	if _, err := mem.Query(context.Background(), room, &Query{Limit: 50, Page: rsm.Next(5, msgs[3].ID)}); !errors.Is(err, stanza.ErrItemNotFound) {
		t.Fatalf("dropped id: %v", err)
	}
	// The with index follows the drops.
	p, err = mem.Query(context.Background(), room, &Query{Limit: 50, With: jid.MustParse("ann@example")})
	if err != nil || len(p.Messages) != 4 || p.Messages[0].ID != msgs[15].ID {
		t.Fatalf("with after drops: %d %v", len(p.Messages), err)
	}
	// Times never go back.
	m, err := mem.Append(room, Message{Time: epoch, Stanza: stanza.NewMessage("", room, "late")})
	if err != nil || !m.Time.Equal(msgs[24].Time) {
		t.Fatalf("late message time %v, %v", m.Time, err)
	}
	if _, err := mem.Append(room, Message{ID: m.ID, Stanza: stanza.NewMessage("", room, "dup")}); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("duplicate id: %v", err)
	}
	if _, err := mem.Append(room, Message{}); err == nil {
		t.Fatal("append without stanza")
	}
}

func TestFieldsAndMetadata(t *testing.T) {
	e := newEnv(t, 5)
	lb := &muxtest.Loopback{Handler: e.mux, From: alice, To: room}
	ctx := context.Background()
	res, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, room, stanza.Element{Space: NS, Local: "query"}))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := res.Child(NS, "query")
	x := q.XML()
	for _, want := range []string{"var='with'", "var='start'", "var='end'", "var='before-id'", "var='after-id'", "var='ids'", "<open/>", "urn:xmpp:mam:2"} {
		if !strings.Contains(x, want) {
			t.Errorf("fields form lacks %s: %s", want, x)
		}
	}
	var f form.Form
	if err := q.Unmarshal(&struct {
		X *form.Form `xml:"jabber:x:data x"`
	}{&f}); err != nil || f.Field("ids") == nil || f.Field("ids").Type != form.ListMulti {
		t.Fatalf("fields form does not parse: %+v %v", f, err)
	}
	res, err = lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, room, stanza.Element{Space: NS, Local: "metadata"}))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := res.Child(NS, "metadata")
	if !strings.Contains(md.XML(), "<start id='"+e.msgs[0].ID+"' timestamp='2024-05-01T12:00:00Z'/>") ||
		!strings.Contains(md.XML(), "<end id='"+e.msgs[4].ID+"' timestamp='2024-05-01T12:04:00Z'/>") {
		t.Fatalf("metadata %s", md.XML())
	}
	info, err := disco.GetInfo(ctx, lb, room, "")
	if err != nil || !info.HasFeature(NS) || !info.HasFeature(NSExtended) {
		t.Fatalf("disco %+v %v", info, err)
	}
	eve := &muxtest.Loopback{Handler: e.mux, From: jid.MustParse("eve@example/x"), To: room}
	if info, err := disco.GetInfo(ctx, eve, jid.MustParse("gw.example"), ""); err != nil || info.HasFeature(NS) {
		t.Fatalf("disco for eve %+v %v", info, err)
	}
}

// The default Allow: a user's own archive only.
func TestOwnArchive(t *testing.T) {
	mem := &Memory{}
	if _, err := mem.Append(alice.Bare(), Message{With: bob.Bare(), Stanza: stanza.NewMessage(stanza.TypeChat, bob, "hi")}); err != nil {
		t.Fatal(err)
	}
	m := mux.New()
	(&Handler{Archive: mem}).Register(m)
	el := (&Query{}).Element()
	ctx := context.Background()
	lb := &muxtest.Loopback{Handler: m, From: alice}
	if _, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, alice.Bare(), el)); err != nil {
		t.Fatal(err)
	}
	// A query without to is for the requester's own archive (delegated).
	if _, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, jid.JID{}, el)); err != nil {
		t.Fatal(err)
	}
	if len(lb.Recorder.Sent()) != 2 {
		t.Fatalf("%d results", len(lb.Recorder.Sent()))
	}
	other := &muxtest.Loopback{Handler: m, From: bob}
	if _, err := other.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, alice.Bare(), el)); !errors.Is(err, stanza.ErrForbidden) {
		t.Fatalf("someone else's archive: %v", err)
	}
}

func TestRoomMessage(t *testing.T) {
	in := stanza.NewMessage(stanza.TypeGroupchat, room, "hello")
	in.From = jid.MustParse("ann@example/laptop")
	in.AddChild(stanza.MustElement(`<x xmlns='http://jabber.org/protocol/muc#user'><item jid='admin@example'/></x>`))
	out, err := RoomMessage(room, "ann", in, jid.JID{})
	if err != nil {
		t.Fatal(err)
	}
	if out.From.String() != "room@gw.example/ann" || !out.To.IsZero() || strings.Contains(out.String(), "admin@example") || out.Body() != "hello" {
		t.Fatalf("room message %v", out)
	}
	if _, ok := in.Child(NSMUCUser, "x"); !ok {
		t.Fatal("RoomMessage changed its input")
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add(form1(`<field var='with'><value>a@b</value></field><field var='start'><value>2010-06-07T00:00:00Z</value></field>`))
	f.Add(`<query xmlns='urn:xmpp:mam:2' queryid='f27'><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set><flip-page/></query>`)
	f.Add(form1(`<field var='ids'><value>a</value><value>b</value></field><field var='after-id'><value>c</value></field>`))
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := stanza.ParseElement(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(el, true, nil)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is no stanza error", err, err)
			}
			return
		}
		// What parses re-encodes into the same query.
		out := q.Element()
		q2, err := ParseQuery(out, true, nil)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out.XML(), err)
		}
		if !q.With.Equal(q2.With) || !q.Start.Equal(q2.Start) || !q.End.Equal(q2.End) || q.AfterID != q2.AfterID ||
			q.BeforeID != q2.BeforeID || !slices.Equal(q.IDs, q2.IDs) || q.Page != q2.Page || q.Flip != q2.Flip || q.QueryID != q2.QueryID {
			t.Fatalf("round trip:\n%+v\n%+v", q, q2)
		}
	})
}

func FuzzParseResult(f *testing.F) {
	m := &Message{ID: "28482-98726-73623", Time: epoch, Stanza: stanza.NewMessage(stanza.TypeChat, alice, "Hail to thee")}
	f.Add(resultElement("f27", m).XML())
	f.Add(`<result xmlns='urn:xmpp:mam:2' id='x'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></result>`)
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseResult(raw)
		if err != nil {
			return
		}
		if r.ID == "" || r.Message == nil {
			t.Fatalf("result without id or message: %+v", r)
		}
	})
}

// rewriter is an Archive over a Memory that forwards each message from
// another address, as a service that answers under the spelling asked.
type rewriter struct{ *Memory }

func (r rewriter) Query(ctx context.Context, archive jid.JID, q *Query) (*Page, error) {
	p, err := r.Memory.Query(ctx, archive, q)
	if err != nil {
		return nil, err
	}
	for i := range p.Messages {
		c := p.Messages[i].Stanza.Clone()
		c.From = jid.MustParse("room@spelled.example/" + c.From.Resource())
		p.Messages[i].Stanza = c
	}
	return p, nil
}

// A message replaced by the Archive is forwarded as replaced, not as the
// Memory built it at Append.
func TestReplacedStanza(t *testing.T) {
	mem := &Memory{}
	fill(t, mem, 3)
	m := mux.New()
	(&Handler{Archive: rewriter{mem}, Allow: func(context.Context, jid.JID, jid.JID, string) error { return nil }}).Register(m)
	e := &env{mem: mem, mux: m}
	rs, _, err := e.run(t, alice, &Query{})
	if err != nil || len(rs) != 3 {
		t.Fatal(len(rs), err)
	}
	for _, r := range rs {
		if r.Message.From.Domain() != "spelled.example" {
			t.Fatalf("forwarded from %v", r.Message.From)
		}
	}
}

func FuzzParseFin(f *testing.F) {
	f.Add(`<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>a</first><last>b</last><count>2</count></set></fin>`)
	f.Add(`<fin xmlns='urn:xmpp:mam:2' stable='false'/>`)
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := stanza.ParseElement(raw)
		if err != nil {
			return
		}
		fin, err := ParseFin(el)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is no stanza error", err, err)
			}
			return
		}
		p := &Page{Result: fin.Result, Complete: fin.Complete, Unstable: !fin.Stable}
		back, err := ParseFin(finElement(p))
		if err != nil || back.Complete != fin.Complete || back.Stable != fin.Stable || back.Result.Count != fin.Result.Count {
			t.Fatalf("round trip of %+v: %+v, %v", fin, back, err)
		}
	})
}

func TestPrefs(t *testing.T) {
	store := &MemoryPrefs{Default: DefaultRoster}
	m := mux.New()
	(&Handler{Archive: &Memory{}, Prefs: store}).Register(m)
	ctx := context.Background()
	lb := &muxtest.Loopback{Handler: m, From: alice}
	res, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice.Bare(), stanza.Element{Space: NS, Local: "prefs"}))
	if err != nil {
		t.Fatal(err)
	}
	el, _ := res.Child(NS, "prefs")
	if el.XML() != "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always/><never/></prefs>" {
		t.Fatalf("initial prefs %s", el.XML())
	}
	set := stanza.MustElement(`<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>romeo@montague.lit</jid></always><never><jid>montague@montague.lit/a</jid></never></prefs>`)
	res, err = lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, alice.Bare(), set))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.Child(NS, "prefs"); got.XML() != set.XML() {
		t.Fatalf("applied %s", got.XML())
	}
	p, _ := store.Prefs(ctx, alice)
	for _, tc := range []struct {
		target   string
		inRoster bool
		want     bool
	}{
		{"romeo@montague.lit/orchard", false, true}, // always, bare matches any resource
		{"montague@montague.lit/a", true, false},    // never, full JID
		{"montague@montague.lit/b", true, false},    // default never
		{"juliet@capulet.lit", true, false},         // default never
	} {
		if got := p.Archives(jid.MustParse(tc.target), tc.inRoster); got != tc.want {
			t.Errorf("Archives(%s) = %v", tc.target, got)
		}
	}
	roster := Prefs{Default: DefaultRoster}
	if !roster.Archives(jid.MustParse("a@b/c"), true) || roster.Archives(jid.MustParse("a@b/c"), false) {
		t.Error("default roster")
	}
	// Someone else's preferences, a bad default, a bad JID.
	other := &muxtest.Loopback{Handler: m, From: bob}
	if _, err := other.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice.Bare(), stanza.Element{Space: NS, Local: "prefs"})); !errors.Is(err, stanza.ErrForbidden) {
		t.Fatalf("other's prefs: %v", err)
	}
	for raw, want := range map[string]*stanza.Error{
		`<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`:                                   stanza.ErrBadRequest,
		`<prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>@@</jid></always></prefs>`: stanza.ErrJIDMalformed,
	} {
		if _, err := lb.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, alice.Bare(), stanza.MustElement(raw))); !errors.Is(err, want) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	// Without a store: feature-not-implemented.
	m2 := mux.New()
	(&Handler{Archive: &Memory{}}).Register(m2)
	if _, err := (&muxtest.Loopback{Handler: m2, From: alice}).SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice.Bare(), stanza.Element{Space: NS, Local: "prefs"})); !errors.Is(err, stanza.ErrFeatureNotImplemented) {
		t.Fatalf("no store: %v", err)
	}
}

func FuzzParsePrefs(f *testing.F) {
	f.Add(`<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>romeo@montague.lit</jid></always><never><jid>a@b/c</jid></never></prefs>`)
	f.Add(`<prefs xmlns='urn:xmpp:mam:2' default='always'/>`)
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParsePrefs(raw)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is no stanza error", err, err)
			}
			return
		}
		back, err := ParsePrefs(p.Element().XML())
		if err != nil || back.Default != p.Default || len(back.Always) != len(p.Always) || len(back.Never) != len(p.Never) {
			t.Fatalf("round trip of %+v: %+v, %v", p, back, err)
		}
	})
}

// TestConcurrentMemory appends and queries at once (run it with -race):
// every page is in archive order, without duplicates.
func TestConcurrentMemory(t *testing.T) {
	mem := &Memory{MaxPerArchive: 200}
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			if _, err := mem.Append(room, Message{With: alice.Bare(), Stanza: stanza.NewMessage(stanza.TypeGroupchat, room, fmt.Sprint(i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		p, err := mem.Query(ctx, room, &Query{Limit: 50, Page: rsm.Last(50), With: alice.Bare()})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(p.Messages); i++ {
			a, b := p.Messages[i-1].Stanza.Body(), p.Messages[i].Stanza.Body()
			if len(a) > len(b) || (len(a) == len(b) && a >= b) {
				t.Fatalf("out of order: %s then %s", a, b)
			}
		}
	}
}
