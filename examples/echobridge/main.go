// Command echobridge is the smallest complete gateway built with package
// bridge: its "legacy network" lives in memory (a few bots per user), so it
// runs anywhere, and everything a real bridge does passes through it:
// registration, contacts in the roster, presence, messages with
// corrections, reactions and replies, a group chat.
//
//	go run ./examples/echobridge                    # embedded router + client listener
//	go run ./examples/echobridge -server 127.0.0.1:5347 -domain echo.example.org -secret s3cret
//
// Register with the gateway (any user name and password), then write to
// echo@, shout@ or join lobby@ at the gateway's domain. docs/bridge.md walks
// through this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"xmppkit.dev/bridge"
	"xmppkit.dev/component"
	"xmppkit.dev/examples/daemon"
	"xmppkit.dev/form"
	"xmppkit.dev/router"
)

// network is the legacy network: every user who logs in gets two bots and
// a group. A real bridge dials its service here instead.
type network struct{ ids atomic.Int64 }

func (n *network) id() string { return fmt.Sprint("m", n.ids.Add(1)) }

// Login implements bridge.Network: check the credentials, announce the
// contact list and the groups, return the session.
func (n *network) Login(ctx context.Context, acct bridge.Account, ev *bridge.Events) (bridge.Session, error) {
	if acct.Get("password") == "" {
		return nil, fmt.Errorf("%w: no password", bridge.ErrAuth)
	}
	for _, c := range []bridge.Contact{
		{ID: "echo", Name: "Echo", Status: "repeats what you say"},
		{ID: "shout", Name: "Shout", Show: bridge.Away, Status: "SAYS IT LOUDER"},
	} {
		if err := ev.Emit(ctx, &c); err != nil {
			return nil, err
		}
	}
	return &session{n: n, ev: ev, me: acct.Get("username")}, nil
}

// session is one user's connection: the kit calls Send from one goroutine
// per user, so it needs no locks for that.
type session struct {
	n  *network
	ev *bridge.Events
	me string
}

// Send implements bridge.Session: what the user did on XMPP. The bots answer
// from a goroutine, as a real network's reader would.
func (s *session) Send(ctx context.Context, e bridge.Event) (string, error) {
	id := s.n.id()
	switch e := e.(type) {
	case *bridge.Message:
		if e.Group {
			s.later(&bridge.Message{Chat: e.Chat, From: "echo", ID: s.n.id(), Body: s.me + " said: " + e.Body})
			return id, nil
		}
		reply := e.Body
		if e.Chat == "shout" {
			reply = strings.ToUpper(reply)
		}
		s.later(&bridge.ChatState{Chat: e.Chat, From: e.Chat, State: bridge.Composing})
		if e.Replaces != "" { // a correction: correct our answer too
			s.later(&bridge.Message{Chat: e.Chat, From: e.Chat, ID: "re-" + e.Replaces, Body: reply, Replaces: "re-" + e.Replaces})
			return id, nil
		}
		s.later(&bridge.Message{Chat: e.Chat, From: e.Chat, ID: "re-" + id, Body: reply,
			ReplyTo: &bridge.Reply{ID: id, Quote: e.Body}})
		s.later(&bridge.Receipt{Chat: e.Chat, From: e.Chat, ID: id})
	case *bridge.Reaction:
		s.later(&bridge.Reaction{Chat: e.Chat, From: e.Chat, ID: e.ID, Emojis: e.Emojis})
	case *bridge.Join:
		if e.Group != "lobby" {
			return "", bridge.ErrNotFound
		}
		return "", s.ev.Emit(ctx, &bridge.Group{ID: "lobby", Name: "The lobby", Subject: "Say something",
			Participants: []bridge.Participant{{ID: "echo", Nick: "echo", Role: bridge.RoleModerator}},
			Self:         bridge.Participant{Nick: e.Nick}})
	case *bridge.Retraction, *bridge.Displayed, *bridge.ChatState, *bridge.Receipt, *bridge.Leave:
		// Nothing to do on this network.
	default:
		return "", bridge.ErrUnsupported
	}
	return id, nil
}

func (s *session) later(e bridge.Event) {
	go func() {
		if err := s.ev.Emit(context.Background(), e); err != nil {
			slog.Debug("echobridge: not shown", "err", err)
		}
	}()
}

// Close implements bridge.Session.
func (s *session) Close(context.Context) error { return nil }

func main() {
	server := flag.String("server", "", "XMPP server's component address (XEP-0114); empty runs the embedded router")
	domain := flag.String("domain", "echo.localhost", "the gateway's domain")
	secret := flag.String("secret", "", "the component secret")
	data := flag.String("data", "", "directory for the registrations (default: in memory)")
	listen := flag.String("listen", "127.0.0.1:5222", "the embedded router's client listener")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *server, *domain, *secret, *data, *listen, log); err != nil {
		fmt.Fprintln(os.Stderr, "echobridge:", err)
		os.Exit(1)
	}
}

func config(domain, data string, log *slog.Logger) bridge.Config {
	return bridge.Config{
		Domain: domain, Name: "Echo network", Type: "echo", Network: &network{}, DataDir: data, Logger: log,
		Registration: []form.Field{
			{Type: form.TextSingle, Var: "username", Label: "User name", Required: true},
			{Type: form.TextPrivate, Var: "password", Label: "Password", Required: true},
		},
	}
}

func run(ctx context.Context, server, domain, secret, data, listen string, log *slog.Logger) error {
	cfg := config(domain, data, log)
	if server != "" {
		c := &component.Component{Addr: server, Domain: domain, Secret: secret, Logger: log}
		cfg.Sender = c
		gw, err := bridge.New(cfg)
		if err != nil {
			return err
		}
		defer gw.Close()
		c.Handler = gw
		c.OnLink = func(component.LinkEvent) { gw.LinkChanged() }
		return c.Run(ctx)
	}
	gw, err := bridge.New(cfg)
	if err != nil {
		return err
	}
	cert, err := daemon.Certificate("", "", data, []string{daemon.HostOf(domain)})
	if err != nil {
		return err
	}
	e := daemon.Embedded{Service: domain, Handler: gw, User: "dev@" + daemon.HostOf(domain), Password: "devpass",
		Listen: listen, Cert: cert, Logger: log,
		// The embedded router grants what Prosody's mod_privilege would.
		Privileges: []router.Privileges{{Component: domain, Roster: "both", Message: "outgoing", Presence: "roster"}}}
	r, err := e.Start()
	if err != nil {
		gw.Close()
		return err
	}
	defer func() { gw.Close(); r.Close() }() // the users are told before the router goes
	fmt.Printf("echobridge at %s: log in at %s as %s (password devpass), register with %s\n", domain, r.Addr, e.User, domain)
	<-ctx.Done()
	return nil
}
