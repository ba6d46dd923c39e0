package bridge_test

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/component"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
)

//go:embed testdata/client.py
var clientScript string

const gwDomain = "bridge.localhost"

// result is what testdata/client.py prints.
type result struct {
	Errors     []string `json:"errors"`
	FormFields []string `json:"form_fields"`
	Connected  bool     `json:"connected"`
	Roster     string   `json:"roster"`
	RosterName string   `json:"roster_name"`
	HelloID    string   `json:"hello_id"`
	Receipt    bool     `json:"receipt"`
	M1ID       string   `json:"m1_id"`
	M1Origin   string   `json:"m1_origin"`
	Correction *string  `json:"correction"`
	Reaction   []string `json:"reaction"`
	Reply      *string  `json:"reply"`
	Displayed  bool     `json:"displayed"`
	Composing  bool     `json:"composing"`
	Retraction bool     `json:"retraction"`
	Own        *struct {
		From, To, Body string
	} `json:"own"`
	OwnNote        *string `json:"own_note"`
	PhotoHash      *string `json:"photo_hash"`
	VCardNick      string  `json:"vcard_nick"`
	VCardPhoto     int     `json:"vcard_photo_bytes"`
	PEPAvatarID    *string `json:"pep_avatar_id"`
	PEPAvatarBytes int     `json:"pep_avatar_bytes"`
}

var avatarPNG = []byte("\x89PNG\r\n\x1a\n not really a picture, but bytes all the same")

// TestServers runs the gateway as a component of Prosody (with
// prosody-modules: every privilege works) and ejabberd 23.01 (which
// advertises roster set but fails it: the contact list degrades to
// subscription requests), and of Prosody without any privilege, with
// slixmpp as the user checking every mapped feature both ways.
func TestServers(t *testing.T) {
	servertest.Python(t)
	grant := servertest.Privileges{Component: gwDomain, Roster: "both", Message: "outgoing", Presence: "roster"}
	comps := []servertest.Component{{Domain: gwDomain, Secret: servertest.Secret}}
	users := []servertest.User{{Name: "alice", Password: "alicepw"}}
	t.Run("prosody", func(t *testing.T) {
		srv := servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Users: users, Modules: []string{"carbons"}, Privileges: []servertest.Privileges{grant}})
		r := runInterop(t, srv)
		if r.Roster != "both" || r.RosterName != "Bob Builder" {
			t.Errorf("prosody: bob not pushed into the roster: %q %q", r.Roster, r.RosterName)
		}
		if r.Own == nil || r.Own.From != "alice@localhost" || r.Own.To != "bob@"+gwDomain {
			t.Errorf("prosody: no carbon of the own message: %+v %v", r.Own, r.OwnNote)
		}
	})
	t.Run("ejabberd", func(t *testing.T) {
		srv := servertest.Ejabberd(t, servertest.EjabberdOptions{Components: comps, Users: users, Modules: []string{"mod_carboncopy"}, Privileges: []servertest.Privileges{grant}})
		r := runInterop(t, srv)
		// ejabberd 23.01 fails a roster set on behalf: bob asked to be
		// subscribed to instead, which slixmpp accepted.
		if r.Roster != "both" && r.Roster != "to" && r.Roster != "from" {
			t.Errorf("ejabberd: bob not in the roster by subscription: %q", r.Roster)
		}
		if r.Own == nil || r.Own.From != "alice@localhost" {
			t.Errorf("ejabberd: no carbon of the own message: %+v %v", r.Own, r.OwnNote)
		}
	})
	t.Run("prosody-unprivileged", func(t *testing.T) {
		srv := servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Users: users, Modules: []string{"carbons"}})
		r := runInterop(t, srv)
		if r.Roster == "missing" {
			t.Errorf("no subscription request from bob")
		}
		if r.Own != nil || r.OwnNote == nil || !strings.Contains(*r.OwnNote, "another client") {
			t.Errorf("without the message privilege the own message is a note: %+v %v", r.Own, r.OwnNote)
		}
	})
}

func runInterop(t *testing.T, srv *servertest.Server) result {
	t.Helper()
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	netw := bridgetest.NewNetwork()
	acc := netw.Account("alice")
	acc.AddContact(bridge.Contact{ID: "bob", Name: "Bob Builder"})
	gw, err := bridge.New(bridge.Config{Domain: gwDomain, Name: "Memnet", Network: netw, Registration: bridgetest.Fields(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	itest.Component(t, srv, gwDomain, gw, log, func(component.LinkEvent) { gw.LinkChanged() })
	t.Cleanup(gw.Close)

	// bob answers what alice sends: "go" sends one of everything, "own"
	// a message alice wrote on the network's other client, "avatar" a
	// new picture.
	var (
		mu    sync.Mutex
		seen  []bridgetest.Sent
		hello string // legacy id of "hello bob"
	)
	acc.OnSend = func(ctx context.Context, ev bridge.Event) (string, error) {
		m, ok := ev.(*bridge.Message)
		if !ok {
			return "", nil
		}
		id := netw.NewID()
		mu.Lock()
		if m.Body == "hello bob" {
			hello = id
		}
		h := hello
		mu.Unlock()
		emit := func(ev bridge.Event) {
			if err := acc.Emit(context.Background(), ev); err != nil {
				t.Errorf("emit %T: %v", ev, err)
			}
		}
		switch m.Body {
		case "go":
			go func() {
				emit(&bridge.Message{Chat: "bob", From: "bob", ID: "m1", Body: "from bob"})
				emit(&bridge.Message{Chat: "bob", From: "bob", ID: "m2", Body: "from bob (fixed)", Replaces: "m1"})
				emit(&bridge.Reaction{Chat: "bob", From: "bob", ID: h, Emojis: []string{"👍", "🎉"}})
				emit(&bridge.Message{Chat: "bob", From: "bob", ID: "m3", Body: "yes, hello", ReplyTo: &bridge.Reply{ID: h, Quote: "hello bob"}})
				emit(&bridge.Displayed{Chat: "bob", From: "bob", ID: h})
				emit(&bridge.ChatState{Chat: "bob", From: "bob", State: bridge.Composing})
				emit(&bridge.Retraction{Chat: "bob", From: "bob", ID: "m1"})
			}()
		case "own":
			go emit(&bridge.Message{Chat: "bob", From: "", ID: "own1", Body: "sent elsewhere"})
		case "avatar":
			go emit(&bridge.Contact{ID: "bob", Name: "Bob Builder", Avatar: &bridge.Avatar{Data: avatarPNG, ContentType: "image/png", Width: 1, Height: 1}})
		}
		return id, nil
	}
	done := make(chan struct{})
	rctx, rcancel := context.WithCancel(context.Background())
	defer rcancel()
	go func() {
		defer close(done)
		for {
			s, err := acc.Next(rctx)
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, s)
			mu.Unlock()
			if m, ok := s.Event.(*bridge.Message); ok && m.Body == "done" {
				return
			}
		}
	}()

	host, port, _ := net.SplitHostPort(srv.C2SAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := servertest.RunPython(t, ctx, clientScript, "alice@localhost", "alicepw", gwDomain, host, port, srv.CertFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r result
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		t.Fatalf("slixmpp printed %q: %v", out, err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		rcancel()
		<-done
	}
	logMu.Lock()
	gwLog := logs.String()
	logMu.Unlock()
	defer func() {
		if t.Failed() {
			t.Logf("slixmpp: %s\ngateway log:\n%s", out, gwLog)
		}
	}()
	t.Logf("%s: %s", srv.Name, lastLine(out))
	for _, l := range strings.Split(gwLog, "\n") {
		if strings.Contains(l, ": ok") || strings.Contains(l, ": degraded") || strings.Contains(l, "bridge: privileges") {
			t.Logf("%s: %s", srv.Name, l[strings.Index(l, "msg="):])
		}
	}
	for _, e := range r.Errors {
		if !strings.Contains(e, "own message carbon") { // checked per server
			t.Errorf("slixmpp: %s", e)
		}
	}
	if !slices.Equal(r.FormFields, []string{"password", "username"}) || !r.Connected {
		t.Errorf("registration: fields %v connected %v", r.FormFields, r.Connected)
	}
	if !r.Receipt {
		t.Errorf("no XEP-0184 receipt for the user's message")
	}
	// network -> user
	if r.M1ID != "m1" || r.M1Origin != "m1" {
		t.Errorf("message ids: %q %q", r.M1ID, r.M1Origin)
	}
	if r.Correction == nil || *r.Correction != "from bob (fixed)" {
		t.Errorf("correction %v", r.Correction)
	}
	if !slices.Equal(r.Reaction, []string{"🎉", "👍"}) {
		t.Errorf("reaction %v", r.Reaction)
	}
	if r.Reply == nil || !strings.Contains(*r.Reply, "yes, hello") {
		t.Errorf("reply %v", r.Reply)
	}
	if !r.Displayed || !r.Composing || !r.Retraction {
		t.Errorf("displayed %v composing %v retraction %v", r.Displayed, r.Composing, r.Retraction)
	}
	// avatars
	if r.PhotoHash == nil || r.PEPAvatarID == nil || *r.PhotoHash != *r.PEPAvatarID || r.VCardNick != "Bob Builder" || r.VCardPhoto != len(avatarPNG) || r.PEPAvatarBytes == 0 {
		t.Errorf("avatar: hash %v pep %v nick %q vcard %d pep bytes %d", r.PhotoHash, r.PEPAvatarID, r.VCardNick, r.VCardPhoto, r.PEPAvatarBytes)
	}
	// user -> network
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, s := range seen {
		got = append(got, describe(s.Event))
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		"message hello bob",
		"correction " + hello + " hello Bob",
		"reaction m1 👍",
		"reply m1 bob yes",
		"displayed m1",
		"chatstate composing",
		"retraction " + hello,
		"receipt m1",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("the network did not get %q; it got:\n%s", want, joined)
		}
	}
	return r
}

func describe(ev bridge.Event) string {
	switch e := ev.(type) {
	case *bridge.Message:
		switch {
		case e.Replaces != "":
			return "correction " + e.Replaces + " " + e.Body
		case e.ReplyTo != nil:
			return "reply " + e.ReplyTo.ID + " " + e.ReplyTo.Author + " " + e.Body
		}
		return "message " + e.Body
	case *bridge.Reaction:
		return "reaction " + e.ID + " " + strings.Join(e.Emojis, ",")
	case *bridge.Displayed:
		return "displayed " + e.ID
	case *bridge.ChatState:
		return "chatstate " + string(e.State)
	case *bridge.Retraction:
		return "retraction " + e.ID
	case *bridge.Receipt:
		return "receipt " + e.ID
	}
	return fmt.Sprintf("%T", ev)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

var _ = os.Getenv
var _ = jid.MustParse

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger logs at Info to the test's log when BRIDGE_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("BRIDGE_LOG") == "" {
		return quiet()
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
