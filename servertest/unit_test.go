package servertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		state byte
		pgrp  int
		ok    bool
	}{
		{"1234 (prosody) S 1 1234 1234 0 -1 4194560 ...", 'S', 1234, true},
		{"77 (beam.smp) Z 1 70 70 0", 'Z', 70, true},
		{"9 (a) b) (c d) R 8 9 9", 'R', 9, true},
		{"9 (x) R 8", 0, 0, false},
		{"9 (x) RR 8 9", 0, 0, false},
		{"9 (x) S 8 -1", 0, 0, false},
		{"9 (x) S 8 nine", 0, 0, false},
		{"no parenthesis", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		state, pgrp, ok := parseStat([]byte(tt.in))
		if state != tt.state || pgrp != tt.pgrp || ok != tt.ok {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, %v", tt.in, state, pgrp, ok, tt.state, tt.pgrp, tt.ok)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (prosody) S 1 1234 1234 0 -1"))
	f.Add([]byte("9 (a) b) (c d) Z 8 9 9"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		state, pgrp, ok := parseStat(data)
		if !ok {
			if state != 0 || pgrp != 0 {
				t.Fatalf("not ok but returned %q, %d", state, pgrp)
			}
			return
		}
		if pgrp < 0 || bytes.IndexByte(data, state) < 0 {
			t.Fatalf("parseStat(%q) = %q, %d", data, state, pgrp)
		}
	})
}

func TestOwnProcessGroup(t *testing.T) {
	state, pgrp, ok := procStat(os.Getpid())
	if !ok || state == 'Z' || pgrp <= 0 {
		t.Fatalf("procStat(self) = %q, %d, %v", state, pgrp, ok)
	}
	found := false
	for _, pid := range groupMembers(pgrp) {
		found = found || pid == os.Getpid()
	}
	if !found {
		t.Fatalf("groupMembers(%d) lacks this process", pgrp)
	}
	if !processAlive(os.Getpid()) || processAlive(-1) {
		t.Fatal("processAlive is wrong")
	}
}

func TestTailLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 5, "a\nb\nc\n"},
		{"a\nb\nc\n\n\n", 1, "c\n"},
		{"only", 1, "only\n"},
		{"", 3, "\n"},
	}
	for _, tt := range tests {
		if got := tailLines([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTermKey(t *testing.T) {
	want := []byte{104, 2, 109, 0, 0, 0, 3, 'b', 'o', 'b', 109, 0, 0, 0, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'}
	if got := termKey("bob", "localhost"); !bytes.Equal(got, want) {
		t.Fatalf("termKey = %v, want %v", got, want)
	}
}

func TestQuoting(t *testing.T) {
	lua := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"new\nline", `"new\010line"`},
		{"é", `"é"`},
	}
	for _, tt := range lua {
		if got := luaQuote(tt.in); got != tt.want {
			t.Errorf("luaQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{"plain", `a"b\c`, "new\nline", "é: #x"} {
		var back string
		if err := json.Unmarshal([]byte(yamlQuote(in)), &back); err != nil || back != in {
			t.Errorf("yamlQuote(%q) = %s does not read back (%v)", in, yamlQuote(in), err)
		}
	}
}

func TestConfigs(t *testing.T) {
	s := &Server{Domain: LocalDomain, Dir: "/w", LogFile: "/w/log/x.log", CertFile: "/w/c.crt", KeyFile: "/w/c.key",
		Components: []Component{{"a.localhost", "s1"}, {"b.localhost", `q"t`}}}
	p := prosodyConfig(s, 1111, 2222, "/w/run/p.pid", ProsodyOptions{Global: `component_conflict_resolve = "kick_old"`})
	for _, want := range []string{
		"c2s_ports = { 1111 }", "component_ports = { 2222 }", `component_interfaces = { "127.0.0.1" }`,
		"run_as_root = true", `VirtualHost "localhost"`, `Component "a.localhost"`,
		`component_secret = "q\"t"`, `component_conflict_resolve = "kick_old"`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("prosody config lacks %s:\n%s", want, p)
		}
	}
	if strings.Index(p, "VirtualHost") > strings.Index(p, "Component \"") {
		t.Error("components must follow the VirtualHost")
	}
	e := ejabberdConfig(s, 1111, 2222, 3333, "/w/c.pem")
	for _, want := range []string{"port: 1111", "port: 2222", "port: 3333", `"b.localhost":`, `password: "q\"t"`, "s2s_access: none"} {
		if !strings.Contains(e, want) {
			t.Errorf("ejabberd config lacks %s:\n%s", want, e)
		}
	}
	if !strings.Contains(e, "global_routes: false") {
		t.Error("ejabberd_service without global_routes: false: every component link would serve every component domain")
	}
	if strings.Contains(e, "mod_pubsub") {
		t.Error("mod_pubsub would take pubsub.localhost from the component")
	}
	n := ngircdConfig(NgircdOptions{ServerName: "irc.x", Extra: "[Channel]"}, 4444, 0, tlsFiles{}, "/w/motd", "/w/conf.d")
	for _, want := range []string{"Ports = 4444", "Listen = 127.0.0.1", "PAM = no", "MaxConnectionsIP = 0", "MaxNickLength = 30", "MaxPenaltyTime = 0", "[Channel]"} {
		if !strings.Contains(n, want) {
			t.Errorf("ngircd config lacks %s:\n%s", want, n)
		}
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", loopback(p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
}

func TestMissingSoftware(t *testing.T) {
	if got := missingSoftware("nope"); !strings.Contains(got, "unknown") {
		t.Fatalf("missingSoftware(nope) = %q", got)
	}
}

func TestComponentLease(t *testing.T) {
	s := &Server{Name: "fake", Components: DefaultComponents()}
	t.Run("all", func(t *testing.T) {
		seen := map[string]bool{}
		for range 8 {
			c := s.Component(t)
			if seen[c.Domain] || c.Secret != Secret || !strings.HasSuffix(c.Domain, ".localhost") {
				t.Fatalf("lease %+v (seen %v)", c, seen)
			}
			seen[c.Domain] = true
		}
		if seen["pubsub.localhost"] || seen["irc.localhost"] {
			t.Fatal("named components must not be leased")
		}
	})
	// The subtest's leases ended with it.
	if c := s.Component(t); c.Domain != "c1.localhost" {
		t.Fatalf("after release got %q, want c1.localhost", c.Domain)
	}
}

func TestDefaults(t *testing.T) {
	cs := DefaultComponents()
	if len(cs) != 10 || cs[0].Domain != "c1.localhost" || cs[9].Domain != "irc.localhost" {
		t.Fatalf("DefaultComponents = %+v", cs)
	}
	us := DefaultUsers()
	if len(us) != 3 || us[0].JID(LocalDomain) != "alice@localhost" || us[0].Password != "alicepw" {
		t.Fatalf("DefaultUsers = %+v", us)
	}
}

// recordTB stands in for a test to see what Require does.
type recordTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordTB) Helper()                      {}
func (r *recordTB) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recordTB) Fatal(args ...any)            { r.fatal = fmt.Sprint(args...) }
func (r *recordTB) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }

func TestRequire(t *testing.T) {
	const hint = "installs all the tests use)"
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recordTB{TB: t}
		Require(r, "bogus")
		got, other := r.skipped, r.fatal
		if ci == "true" {
			got, other = r.fatal, r.skipped
		}
		if !strings.HasSuffix(got, hint) || other != "" || strings.Contains(got, "\n") {
			t.Errorf("CI=%q: skip %q, fatal %q", ci, r.skipped, r.fatal)
		}
		r = &recordTB{TB: t}
		Require(r, KindNgircd)
		if r.skipped != "" || r.fatal != "" {
			if findBin("ngircd") != "" {
				t.Errorf("installed ngircd reported missing: %q %q", r.skipped, r.fatal)
			}
		}
	}
}

func TestBalancingConfig(t *testing.T) {
	if got := balancingConfig(nil); got != "" {
		t.Fatalf("no balancing: %q", got)
	}
	got := balancingConfig([]Balancing{{Domain: "pubsub.localhost", Type: "bare_source", Components: 4}, {Domain: "c1.localhost", Type: "random"}})
	want := "domain_balancing:\n  \"pubsub.localhost\":\n    type: bare_source\n    component_number: 4\n  \"c1.localhost\":\n    type: random\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
