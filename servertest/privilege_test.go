package servertest

import (
	"strings"
	"testing"
)

func TestPrivilegeConfigs(t *testing.T) {
	s := &Server{Domain: LocalDomain, Dir: "/w", LogFile: "/w/log/x.log", CertFile: "/w/c.crt", KeyFile: "/w/c.key",
		Components: []Component{{"a.localhost", "s"}, {"b.localhost", "s"}, {"c.localhost", "s"}}}
	privs := []Privileges{
		{Component: "a.localhost", Roster: "both", Message: "outgoing", Presence: "roster", IQ: map[string]string{"urn:z": "set", "jabber:iq:private": "both"}},
		{Component: "b.localhost", Roster: "both"},
	}
	dels := []Delegation{
		{Namespace: "urn:xmpp:mam:2", Component: "a.localhost", Filtering: []string{"queryid"}},
		{Namespace: "http://jabber.org/protocol/pubsub", Component: "b.localhost"},
	}
	p := prosodyConfig(s, 1, 2, "/w/p.pid", ProsodyOptions{Modules: []string{"private"}, Privileges: privs, Delegations: dels})
	for _, want := range []string{
		`modules_enabled = { "disco", "roster", "saslauth", "tls", "ping", "posix", "private", "privilege", "delegation" }`,
		"privileged_entities = {\n        [\"a.localhost\"] = {\n            roster = \"both\";\n            message = \"outgoing\";\n            presence = \"roster\";\n" +
			"            iq = {\n                [\"jabber:iq:private\"] = \"both\";\n                [\"urn:z\"] = \"set\";\n            };\n",
		`["b.localhost"] = {` + "\n" + `            roster = "both";` + "\n        };",
		`["urn:xmpp:mam:2"] = { jid = "a.localhost"; filtering = {"queryid"} };`,
		`["http://jabber.org/protocol/pubsub"] = { jid = "b.localhost" };`,
		"Component \"a.localhost\"\n    component_secret = \"s\"\n    modules_enabled = { \"privilege\", \"delegation\" }\n",
		"Component \"b.localhost\"\n    component_secret = \"s\"\n    modules_enabled = { \"privilege\", \"delegation\" }\n",
		"Component \"c.localhost\"\n    component_secret = \"s\"\n",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("prosody config lacks\n%s\nin\n%s", want, p)
		}
	}
	if strings.Contains(p, "Component \"c.localhost\"\n    component_secret = \"s\"\n    modules_enabled") {
		t.Error("c.localhost got modules it has no use for")
	}
	if i, j := strings.Index(p, "privileged_entities"), strings.Index(p, "Component "); i < 0 || i > j {
		t.Error("privileged_entities must be in the VirtualHost section, before the components")
	}

	privs[0].IQ = nil
	top, mods, err := ejabberdPrivilegeConfig(EjabberdOptions{Privileges: privs, Delegations: dels})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"acl:\n  priv_roster_both:\n    server:\n      - \"a.localhost\"\n      - \"b.localhost\"\n",
		"  priv_message_outgoing:\n    server:\n      - \"a.localhost\"\n",
		"  deleg_1:\n    server:\n      - \"b.localhost\"\n",
		"access_rules:\n  priv_roster_both:\n    allow: priv_roster_both\n",
	} {
		if !strings.Contains(top, want) {
			t.Errorf("ejabberd top-level config lacks\n%s\nin\n%s", want, top)
		}
	}
	for _, want := range []string{
		"  mod_privilege:\n    message:\n      outgoing: priv_message_outgoing\n    presence:\n      roster: priv_presence_roster\n    roster:\n      both: priv_roster_both\n",
		"  mod_delegation:\n    namespaces:\n      \"urn:xmpp:mam:2\":\n        access: deleg_0\n        filtering:\n          - \"queryid\"\n",
		"      \"http://jabber.org/protocol/pubsub\":\n        access: deleg_1\n",
	} {
		if !strings.Contains(mods, want) {
			t.Errorf("ejabberd modules lack\n%s\nin\n%s", want, mods)
		}
	}
	if _, _, err := ejabberdPrivilegeConfig(EjabberdOptions{Privileges: []Privileges{{Component: "a.localhost", IQ: map[string]string{"x": "get"}}}}); err == nil {
		t.Error("ejabberd accepted an iq privilege")
	}
	if top, mods, err := ejabberdPrivilegeConfig(EjabberdOptions{}); top != "" || mods != "" || err != nil {
		t.Error("config without privileges")
	}
	if missingProsodyModules(ProsodyOptions{}) != "" {
		t.Error("modules needed without privileges")
	}
}
