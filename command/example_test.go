package command_test

import (
	"context"
	"fmt"
	"strings"

	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
)

// A one-stage command: a function that returns the result.
func Example() {
	var reg command.Registry
	reg.HandleFunc("greet", "Say hello", func(ctx context.Context, r *command.Request) (*command.Response, error) {
		return command.Done(command.InfoNote("Hello, " + r.From.Bare().String())), nil
	})
	m := mux.New()
	reg.Register(m)
	disco.New(m).Register(m) // lists the commands (XEP-0050 §2.2)

	// A requester, here through an in-memory loopback.
	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("juliet@example.com/balcony")}
	svc := jid.MustParse("bot.example.com")
	ctx := context.Background()
	items, _ := command.List(ctx, peer, svc)
	fmt.Println(items[0].Node, items[0].Name)
	st, err := command.Execute(ctx, peer, svc, "greet")
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Status, st.Notes[0].Text)
	// Output:
	// greet Say hello
	// completed Hello, juliet@example.com
}

// A wizard of two forms; the second depends on the first, the submission
// is checked before Done sees it.
func ExampleWizard() {
	var reg command.Registry
	reg.Add(command.Command{Node: "config", Name: "Configure a channel", Handler: &command.Wizard{
		Steps: []command.Step{
			{Form: form.Form{Title: "Channel", Fields: []form.Field{
				{Type: form.ListSingle, Var: "channel", Label: "Channel", Required: true,
					Options: []form.Option{{Value: "#go"}, {Value: "#xmpp"}}},
			}}},
			{Build: func(ctx context.Context, r *command.Request, prev []*form.Form) (form.Form, error) {
				ch, _ := prev[0].Get("channel")
				return form.Form{Title: "Settings of " + ch, Fields: []form.Field{
					{Type: form.Boolean, Var: "log", Label: "Keep a log"},
				}}, nil
			}},
		},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			ch, _ := forms[0].Get("channel")
			log, _, _ := forms[1].Bool("log")
			return command.Done(command.InfoNote(fmt.Sprintf("%s: log=%v", ch, log))), nil
		},
	}})
	m := mux.New()
	reg.Register(m)

	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("op@example.com/laptop")}
	svc := jid.MustParse("irc.example.com")
	ctx := context.Background()
	st, _ := command.Execute(ctx, peer, svc, "config")
	fmt.Println(st.Form.Title, st.Actions)
	st, _ = st.Next(ctx, peer, &form.Form{Fields: []form.Field{{Var: "channel", Values: []string{"#xmpp"}}}})
	fmt.Println(st.Form.Title, st.Actions, st.Default)
	st, _ = st.Complete(ctx, peer, &form.Form{Fields: []form.Field{{Var: "log", Values: []string{"true"}}}})
	fmt.Println(st.Status, st.Notes[0].Text)
	// Output:
	// Channel [next]
	// Settings of #xmpp [prev complete] complete
	// completed #xmpp: log=true
}

// A Handler of its own: a small state machine on Session.Data, here a
// counter that goes on until the requester completes.
func ExampleHandler() {
	counter := command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
		n, _ := r.Session.Data.(int)
		if r.Action == command.ActionComplete {
			return command.Done(command.InfoNote(fmt.Sprint("counted to ", n))), nil
		}
		r.Session.Data = n + 1
		return &command.Response{Status: command.Executing, Notes: []command.Note{command.InfoNote(fmt.Sprint(n + 1))},
			Actions: []command.Action{command.ActionNext, command.ActionComplete}}, nil
	})
	var reg command.Registry
	reg.Add(command.Command{Node: "count", Name: "Count", Handler: counter})
	m := mux.New()
	reg.Register(m)

	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("kid@example.com/tablet")}
	ctx := context.Background()
	st, _ := command.Execute(ctx, peer, jid.MustParse("toys.example.com"), "count")
	var seen []string
	for i := 0; i < 2; i++ {
		seen = append(seen, st.Notes[0].Text)
		st, _ = st.Next(ctx, peer, nil)
	}
	seen = append(seen, st.Notes[0].Text)
	st, _ = st.Complete(ctx, peer, nil)
	fmt.Println(strings.Join(seen, " "), "/", st.Notes[0].Text)
	// Output:
	// 1 2 3 / counted to 3
}
