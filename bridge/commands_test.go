package bridge_test

import (
	"strings"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
)

// TestCommandsAndDisco: the gateway's identity and features (XEP-0030,
// XEP-0100), the puppets' and rooms', the status command with the
// degradation report, and the administration commands for admins only.
func TestCommandsAndDisco(t *testing.T) {
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", Type: "memnet", Admins: []jid.JID{jid.MustParse("admin@localhost")}},
		bridgetest.WithPrivileges(router.Privileges{Message: "outgoing", Presence: "roster"}))
	env.Network().Account("alice").AddContact(bridge.Contact{ID: "bob"})
	env.Network().Account("alice").AddGroup(bridge.Group{ID: "team"})
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	gw := env.Gateway.Domain()

	info, err := disco.GetInfo(ctx(t), u, gw, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Identities) == 0 || info.Identities[0].Category != "gateway" || info.Identities[0].Type != "memnet" {
		t.Fatalf("identities %+v", info.Identities)
	}
	for _, f := range []string{bridge.NSRegister, bridge.NSGateway, command.NS} {
		if !contains(info.Features, f) {
			t.Errorf("gateway lacks %s: %v", f, info.Features)
		}
	}
	if contains(info.Features, bridge.NSVCard) {
		t.Errorf("the gateway itself claims vcard-temp: %v", info.Features)
	}
	pinfo, err := disco.GetInfo(ctx(t), u, u.Puppet("bob"), "")
	if err != nil || pinfo.Identities[0].Category != "client" {
		t.Fatalf("puppet %+v %v", pinfo, err)
	}
	for _, f := range []string{bridge.NSReactions, bridge.NSCorrect, bridge.NSRetract, bridge.NSReply, bridge.NSMarkers, bridge.NSChatStates, bridge.NSReceipts, bridge.NSVCard} {
		if !contains(pinfo.Features, f) {
			t.Errorf("puppet lacks %s", f)
		}
	}
	rinfo, err := disco.GetInfo(ctx(t), u, u.Puppet("team"), "")
	if err != nil || rinfo.Identities[0].Category != "conference" || !contains(rinfo.Features, bridge.NSOccupantID) {
		t.Fatalf("room %+v %v", rinfo, err)
	}

	// status: the session and what is degraded (no roster privilege).
	st, err := command.Execute(ctx(t), u, gw, bridge.CommandStatus)
	if err != nil {
		t.Fatal(err)
	}
	notes := ""
	for _, n := range st.Notes {
		notes += string(n.Type) + ": " + n.Text + "\n"
	}
	if v, _ := st.Form.Get("session"); v != "connected" || !strings.Contains(notes, "warn: contact list (degraded)") {
		t.Fatalf("status %q\n%s", v, notes)
	}

	// The administration commands are for admins only.
	items, err := command.List(ctx(t), u, gw)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Node == "report" || strings.Contains(it.Node, "admin") {
			t.Errorf("alice sees %s", it.Node)
		}
	}
	admin := env.Client("admin")
	items, err = command.List(ctx(t), admin, gw)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, it := range items {
		nodes = append(nodes, it.Node)
	}
	if !contains(nodes, "report") || !contains(nodes, "http://jabber.org/protocol/admin#get-online-users-list") {
		t.Fatalf("admin commands %v", nodes)
	}
	rep, err := command.Execute(ctx(t), admin, gw, "report")
	if err != nil {
		t.Fatal(err)
	}
	lines := rep.Form.Field("report").Values
	if !strings.Contains(strings.Join(lines, "\n"), "degraded contact list") {
		t.Fatalf("report %v", lines)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
