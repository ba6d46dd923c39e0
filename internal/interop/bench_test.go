package interop

// The cost of an ad-hoc command round trip and of an archive page, next to
// a plain IQ round trip and the encoding of the same payload, in-process
// through the router (xmpptest): what the protocol blocks add over the
// transport.
//
//	go test -run '^$' -bench . -benchmem ./internal/interop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

const benchSvc = "svc.localhost"

var benchRoom = jid.MustParse("room@" + benchSvc)

// benchService mounts a one-stage command, a two-stage wizard, an archive
// of 1000 room messages, and two plain IQ handlers: an echo, and one that
// sends 50 prepared messages before its result.
func benchService(b *testing.B) (*xmpptest.Env, []mam.Message) {
	b.Helper()
	var reg command.Registry
	reg.HandleFunc("uptime", "Show uptime", func(ctx context.Context, r *command.Request) (*command.Response, error) {
		return command.Done(command.InfoNote("up 3 days")), nil
	})
	reg.Add(command.Command{Node: "config", Name: "Configure", Handler: &command.Wizard{
		Steps: []command.Step{
			{Form: form.Form{Title: "Service", Fields: []form.Field{{Type: form.ListSingle, Var: "service", Label: "Service", Required: true,
				Options: []form.Option{{Value: "httpd"}, {Value: "jabberd"}}}}}},
			{Form: form.Form{Title: "Port", Fields: []form.Field{{Type: form.TextSingle, Var: "port", Label: "Port", Required: true}}}},
		},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			return command.Done(command.InfoNote("configured")), nil
		},
	}})
	arch := &mam.Memory{}
	var msgs []mam.Message
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		st, _ := mam.RoomMessage(benchRoom, "ann", stanza.NewMessage(stanza.TypeGroupchat, benchRoom, fmt.Sprintf("message number %04d of the history", i)), jid.JID{})
		m, err := arch.Append(benchRoom, mam.Message{Time: t0.Add(time.Duration(i) * time.Second), With: jid.MustParse("ann@localhost"), Stanza: st})
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// The plain answer of the same shape as a page: 50 messages of the
	// same size, prepared once.
	var prepared []*stanza.Stanza
	for i := range 50 {
		r := stanza.NewBuilder(mam.NS, "result").Attr("queryid", "q").Attr("id", msgs[i].ID).
			Child("urn:xmpp:forward:0", "forwarded").Child("urn:xmpp:delay", "delay").Attr("stamp", "2024-05-01T12:00:00Z").End().
			Child("jabber:client", "message").Attr("from", "room@svc.localhost/ann").Attr("type", "groupchat").
			TextElement("body", msgs[i].Stanza.Body()).End().Element()
		m := stanza.NewMessage("", jid.JID{}, "")
		m.From = benchRoom
		m.SetPayloadElements(r)
		prepared = append(prepared, m)
	}
	m := mux.New()
	reg.Register(m)
	(&mam.Handler{Archive: arch, Allow: func(context.Context, jid.JID, jid.JID, string) error { return nil }}).Register(m)
	m.HandleIQFunc(stanza.TypeGet, "urn:x:bench", "echo", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		el, _ := iq.PayloadElement()
		return s.Send(ctx, iq.Result(el))
	})
	m.HandleIQFunc(stanza.TypeSet, "urn:x:bench", "fifty", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		for _, p := range prepared {
			c := p.Clone()
			c.To = iq.From
			c.ID = stanza.NewID()
			if err := s.Send(ctx, c); err != nil {
				return err
			}
		}
		return s.Send(ctx, iq.Result())
	})
	return xmpptest.New(b, benchSvc, m), msgs
}

// drain receives n stanzas.
func drain(b *testing.B, c *xmpptest.Client, n int) {
	for range n {
		if _, err := c.Recv(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIQ is the baseline: an IQ get and its result (an echo of a
// small payload), client to service and back.
func BenchmarkIQ(b *testing.B) {
	env, _ := benchService(b)
	c := env.Client("alice")
	ctx := context.Background()
	el := stanza.MustElement("<echo xmlns='urn:x:bench'><data>0123456789</data></echo>")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, env.Service, el)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommand is a one-stage command: execute, and the completed
// answer with a note.
func BenchmarkCommand(b *testing.B) {
	env, _ := benchService(b)
	c := env.Client("alice")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := command.Execute(ctx, c, env.Service, "uptime")
		if err != nil || st.Status != command.Completed {
			b.Fatal(st, err)
		}
	}
}

// BenchmarkCommandWizard is a two-stage wizard run to the end: three
// round trips (execute, next with a form, complete with a form); the
// metric ns/roundtrip is per round trip.
func BenchmarkCommandWizard(b *testing.B) {
	env, _ := benchService(b)
	c := env.Client("alice")
	ctx := context.Background()
	svc := &form.Form{Fields: []form.Field{{Var: "service", Values: []string{"httpd"}}}}
	port := &form.Form{Fields: []form.Field{{Var: "port", Values: []string{"80"}}}}
	b.ReportAllocs()
	for b.Loop() {
		st, err := command.Execute(ctx, c, env.Service, "config")
		if err == nil {
			st, err = st.Next(ctx, c, svc)
		}
		if err == nil {
			st, err = st.Complete(ctx, c, port)
		}
		if err != nil || st.Status != command.Completed {
			b.Fatal(st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/3, "ns/roundtrip")
}

// BenchmarkCommandPayload is the payload work of one command round trip
// without the transport: the request's <command/> built and parsed, the
// answer's built and parsed.
func BenchmarkCommandPayload(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		req, _ := (&command.Payload{Node: "uptime", Action: command.ActionExecute}).Element()
		if _, err := command.Parse(req.XML()); err != nil {
			b.Fatal(err)
		}
		res, _ := (&command.Payload{Node: "uptime", SessionID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", Status: command.Completed,
			Notes: []command.Note{command.InfoNote("up 3 days")}}).Element()
		if _, err := command.Parse(res.XML()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIQFifty is the transport's share of an archive page: an IQ set
// whose handler sends 50 prepared messages of a page's size, then the
// result; the client receives all 51.
func BenchmarkIQFifty(b *testing.B) {
	env, _ := benchService(b)
	c := env.Client("alice")
	ctx := context.Background()
	el := stanza.MustElement("<fifty xmlns='urn:x:bench'/>")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, env.Service, el)); err != nil {
			b.Fatal(err)
		}
		drain(b, c, 50)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/result")
}

// BenchmarkMAMPage50 is an archive query for a page of 50 from the middle
// of a 1000-message room archive: the 50 result messages and the IQ result
// with <fin/>, received by the client.
func BenchmarkMAMPage50(b *testing.B) {
	env, msgs := benchService(b)
	c := env.Client("alice")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &mam.Query{QueryID: "q", Page: rsm.Next(50, msgs[100+i%800].ID)}
		i++
		el := q.Element()
		res, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, benchRoom, el))
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := res.Child(mam.NS, "fin"); !ok {
			b.Fatal(res)
		}
		drain(b, c, 50)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/result")
}

// BenchmarkMAMPayload50 is the payload work of a page without the
// transport: the query built and parsed, the page cut from the archive,
// and the 50 result messages and the fin built and encoded.
func BenchmarkMAMPayload50(b *testing.B) {
	arch := &mam.Memory{}
	var ids []string
	for i := range 1000 {
		st, _ := mam.RoomMessage(benchRoom, "ann", stanza.NewMessage(stanza.TypeGroupchat, benchRoom, fmt.Sprintf("message number %04d of the history", i)), jid.JID{})
		m, _ := arch.Append(benchRoom, mam.Message{Stanza: st})
		ids = append(ids, m.ID)
	}
	h := &mam.Handler{Archive: arch, Allow: func(context.Context, jid.JID, jid.JID, string) error { return nil }}
	sink := &encoder{}
	from := jid.MustParse("alice@localhost/bench")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &mam.Query{QueryID: "q", Page: rsm.Next(50, ids[100+i%800])}
		i++
		el := q.Element()
		iq := stanza.NewIQ(stanza.TypeSet, benchRoom, el)
		iq.From = from
		if err := h.HandleStanza(context.Background(), sink, iq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/result")
}

// encoder is a mux.Sender that encodes what it is given, as a connection's
// writer would.
type encoder struct{ buf []byte }

func (e *encoder) Send(_ context.Context, st *stanza.Stanza) error {
	e.buf = st.AppendXML(e.buf[:0])
	return nil
}

func (e *encoder) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, stanza.ErrServiceUnavailable
}

// BenchmarkEncodeFifty is what a TCP writer does for a page on top of the
// in-process path: the 50 prepared result messages and an IQ result
// encoded to bytes.
func BenchmarkEncodeFifty(b *testing.B) {
	var prepared []*stanza.Stanza
	for i := range 50 {
		m := stanza.NewMessage("", jid.MustParse("alice@localhost/bench"), "")
		m.From = benchRoom
		m.SetPayloadElements(stanza.MustElement(fmt.Sprintf("<result xmlns='urn:xmpp:mam:2' queryid='q' id='%020d'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-05-01T12:00:00Z'/><message xmlns='jabber:client' from='room@svc.localhost/ann' type='groupchat'><body>message number %04d of the history</body></message></forwarded></result>", i, i)))
		prepared = append(prepared, m)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, m := range prepared {
			buf = m.AppendXML(buf)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/result")
}
