package bridge_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/component"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/servertest"
)

//go:embed testdata/groups.py
var groupsScript string

type groupsResult struct {
	Errors        []string `json:"errors"`
	Step1         []string `json:"step1"`
	Step2         []string `json:"step2"`
	Registered    string   `json:"registered"`
	Connected     bool     `json:"connected"`
	SelfCodes     []int    `json:"self_codes"`
	SelfOID       *string  `json:"self_oid"`
	BobOID        *string  `json:"bob_oid"`
	BobAff        *string  `json:"bob_affiliation"`
	MsgOID        *string  `json:"msg_oid"`
	MsgSID        *string  `json:"msg_sid"`
	MsgBy         *string  `json:"msg_by"`
	ReflFrom      *string  `json:"reflection_from"`
	ReflSID       *string  `json:"reflection_sid"`
	ReflOID       *string  `json:"reflection_oid"`
	CarolReaction []string `json:"carol_reaction"`
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestServersGroups: registration in two steps through XEP-0050 and a
// group chat (XEP-0045 with XEP-0421 occupant ids, XEP-0359 stanza ids,
// reflections, XEP-0444 reactions both ways) with slixmpp, through
// Prosody and ejabberd.
func TestServersGroups(t *testing.T) {
	servertest.Python(t)
	comps := []servertest.Component{{Domain: gwDomain, Secret: servertest.Secret}}
	users := []servertest.User{{Name: "alice", Password: "alicepw"}}
	t.Run("prosody", func(t *testing.T) {
		runGroups(t, servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Users: users}))
	})
	t.Run("ejabberd", func(t *testing.T) {
		runGroups(t, servertest.Ejabberd(t, servertest.EjabberdOptions{Components: comps, Users: users}))
	})
}

func runGroups(t *testing.T, srv *servertest.Server) {
	netw := bridgetest.NewNetwork()
	netw.TwoFactor = true
	acc := netw.Account("alice")
	acc.AddGroup(bridge.Group{ID: "team", Name: "The team", Participants: []bridge.Participant{
		{ID: "bob", Nick: "bob", Affiliation: bridge.AffOwner, Role: bridge.RoleModerator},
		{ID: "carol", Nick: "carol"},
	}})
	gw, err := bridge.New(bridge.Config{Domain: gwDomain, Name: "Memnet", Network: netw, Registration: bridgetest.Fields(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	itest.Component(t, srv, gwDomain, gw, testLogger(t), func(component.LinkEvent) { gw.LinkChanged() })
	t.Cleanup(gw.Close)
	var mu sync.Mutex
	var seen []string
	acc.OnSend = func(ctx context.Context, ev bridge.Event) (string, error) {
		mu.Lock()
		seen = append(seen, describeGroup(ev))
		mu.Unlock()
		switch e := ev.(type) {
		case *bridge.Join:
			go func() {
				time.Sleep(300 * time.Millisecond)
				acc.Emit(context.Background(), &bridge.Message{Chat: "team", From: "bob", ID: "g1", Body: "standup!"})
			}()
		case *bridge.Message:
			if e.Body == "morning" {
				id := netw.NewID()
				go acc.Emit(context.Background(), &bridge.Reaction{Chat: "team", From: "carol", ID: id, Emojis: []string{"👏"}})
				return id, nil
			}
		}
		return "", nil
	}
	go func() {
		for {
			if _, err := acc.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	host, port, _ := net.SplitHostPort(srv.C2SAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := servertest.RunPython(t, ctx, groupsScript, "alice@localhost", "alicepw", gwDomain, host, port, srv.CertFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r groupsResult
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		t.Fatalf("slixmpp printed %q: %v", out, err)
	}
	t.Logf("%s: %s", srv.Name, lastLine(out))
	for _, e := range r.Errors {
		t.Errorf("slixmpp: %s", e)
	}
	if !slices.Equal(r.Step1, []string{"password", "username"}) || !slices.Equal(r.Step2, []string{"code"}) || r.Registered != "completed" || !r.Connected {
		t.Errorf("registration: %v %v %q connected %v", r.Step1, r.Step2, r.Registered, r.Connected)
	}
	if !slices.Contains(r.SelfCodes, 110) || r.SelfOID == nil || r.BobOID == nil || str(r.BobAff) != "owner" {
		t.Errorf("join: codes %v self oid %s bob oid %s affiliation %s", r.SelfCodes, str(r.SelfOID), str(r.BobOID), str(r.BobAff))
	}
	if str(r.MsgOID) != str(r.BobOID) || str(r.MsgSID) != "g1" || str(r.MsgBy) != "team@"+gwDomain {
		t.Errorf("bob's message: oid %s (presence %s) stanza-id %s by %s", str(r.MsgOID), str(r.BobOID), str(r.MsgSID), str(r.MsgBy))
	}
	if str(r.ReflFrom) != "team@"+gwDomain+"/ally" || r.ReflSID == nil || str(r.ReflOID) != str(r.SelfOID) {
		t.Errorf("reflection from %s sid %s oid %s (self %s)", str(r.ReflFrom), str(r.ReflSID), str(r.ReflOID), str(r.SelfOID))
	}
	if !slices.Equal(r.CarolReaction, []string{"👏"}) {
		t.Errorf("carol's reaction %v", r.CarolReaction)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(seen, "\n")
	for _, want := range []string{"join team ally", "groupmessage team morning", "reaction team g1 🚀", "leave team"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the network did not get %q:\n%s", want, joined)
		}
	}
}

func describeGroup(ev bridge.Event) string {
	switch e := ev.(type) {
	case *bridge.Join:
		return "join " + e.Group + " " + e.Nick
	case *bridge.Leave:
		return "leave " + e.Group
	case *bridge.Message:
		if e.Group {
			return "groupmessage " + e.Chat + " " + e.Body
		}
	case *bridge.Reaction:
		return "reaction " + e.Chat + " " + e.ID + " " + strings.Join(e.Emojis, ",")
	}
	return describe(ev)
}
