package gateway

import (
	"strings"
	"testing"

	"xmppkit.dev/jid"
)

func TestMapperParse(t *testing.T) {
	def := Mapper{Domain: "irc.localhost", Default: "irc.test.local"}
	none := Mapper{Domain: "irc.localhost"}
	for _, tc := range []struct {
		m    Mapper
		in   string
		want Addr
		bad  bool
	}{
		{def, "irc.localhost", Addr{Kind: KindGateway, Server: "irc.test.local"}, false},
		{def, "#test@irc.localhost", Addr{Kind: KindChannel, Server: "irc.test.local", Channel: "#test"}, false},
		{def, "#test@irc.localhost/Alice", Addr{Kind: KindOccupant, Server: "irc.test.local", Channel: "#test", Nick: "Alice"}, false},
		{def, "#test%other.net@irc.localhost/bob", Addr{Kind: KindOccupant, Server: "other.net", Channel: "#test", Nick: "bob"}, false},
		{def, "bob@irc.localhost", Addr{Kind: KindUser, Server: "irc.test.local", Nick: "bob"}, false},
		{def, `d\27artagnan%irc.test.local@irc.localhost`, Addr{Kind: KindUser, Server: "irc.test.local", Nick: "d'artagnan"}, false},
		{none, "irc.test.local@irc.localhost", Addr{Kind: KindServer, Server: "irc.test.local"}, false},
		{none, "#c%s@irc.localhost", Addr{Kind: KindChannel, Server: "s", Channel: "#c"}, false},
		{none, "#c@irc.localhost", Addr{}, true},
		{def, "bob@irc.localhost/res", Addr{}, true},
		{def, "%srv@irc.localhost", Addr{}, true},
		{def, "#a%@irc.localhost", Addr{}, true},
		{def, "#test@other.domain", Addr{}, true},
		{def, `a\20b@irc.localhost`, Addr{}, true},
	} {
		got, err := tc.m.Parse(jid.MustParse(tc.in))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Parse(%s) = %+v, %v; want %+v bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestMapperJID(t *testing.T) {
	def := Mapper{Domain: "irc.localhost", Default: "irc.test.local"}
	for _, tc := range []struct {
		a    Addr
		want string
	}{
		{Addr{Kind: KindChannel, Server: "irc.test.local", Channel: "#test"}, "#test@irc.localhost"},
		{Addr{Kind: KindChannel, Server: "other", Channel: "#test"}, "#test%other@irc.localhost"},
		{Addr{Kind: KindOccupant, Server: "irc.test.local", Channel: "#Test", Nick: "Bob"}, "#test@irc.localhost/Bob"},
		{Addr{Kind: KindUser, Server: "irc.test.local", Nick: "d'art"}, `d\27art@irc.localhost`},
		{Addr{Kind: KindChannel, Server: "irc.test.local", Channel: "#50%off"}, `#50%off%irc.test.local@irc.localhost`},
		{Addr{Kind: KindUser, Server: "irc.test.local", Nick: `[foo]\bar`}, `[foo]\bar@irc.localhost`},
	} {
		j, err := def.JID(tc.a)
		if err != nil || j.String() != tc.want {
			t.Errorf("JID(%+v) = %s, %v; want %s", tc.a, j, err, tc.want)
			continue
		}
		back, err := def.Parse(j)
		want := tc.a
		want.Channel = strings.ToLower(want.Channel)
		want.Nick = strings.ToLower(want.Nick)
		if tc.a.Kind == KindOccupant {
			want.Nick = tc.a.Nick // resources keep their case
		}
		if err != nil || back != want {
			t.Errorf("round trip of %+v: %+v, %v", tc.a, back, err)
		}
	}
}

// FuzzMapping checks that IRC names round-trip through JIDs: an ASCII
// channel or nick maps to a valid JID that Parse maps back to the same
// (case-folded) name and server, and any JID at the gateway that Parse
// accepts maps back to itself.
func FuzzMapping(f *testing.F) {
	f.Add("#test", "bob", "irc.test.local", true)
	f.Add("#a%b", `x\5cy'`, "other.net", false)
	f.Add("&c:d", "[n]", "irc.test.local", true)
	f.Fuzz(func(t *testing.T, channel, nick, server string, def bool) {
		m := Mapper{Domain: "irc.localhost"}
		if def {
			m.Default = "irc.test.local"
		}
		for _, a := range []Addr{
			{Kind: KindChannel, Server: server, Channel: channel},
			{Kind: KindOccupant, Server: server, Channel: channel, Nick: nick},
			{Kind: KindUser, Server: server, Nick: nick},
		} {
			j, err := m.JID(a)
			if err != nil {
				continue // not every string is a valid name
			}
			back, err := m.Parse(j)
			if err != nil {
				continue // e.g. a nick that starts like a channel
			}
			j2, err := m.JID(back)
			if err != nil || j2 != j {
				t.Fatalf("JID %s -> %+v -> %s, %v", j, back, j2, err)
			}
			if isPlain(a.Channel) && isPlain(a.Nick) && isPlain(a.Server) && a.Server != "" &&
				(a.Channel == "" || strings.IndexByte(chanTypes, a.Channel[0]) >= 0) &&
				(a.Nick == "" || a.Kind == KindOccupant || strings.IndexByte(chanTypes, a.Nick[0]) < 0) {
				want := a
				want.Server = strings.ToLower(a.Server)
				want.Channel = strings.ToLower(a.Channel)
				if a.Kind == KindUser {
					want.Nick = strings.ToLower(a.Nick)
				}
				if back != want {
					t.Fatalf("%+v -> %s -> %+v", a, j, back)
				}
			}
		}
	})
}

// isPlain: printable ASCII without the characters IRC forbids in names.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ',' {
			return false
		}
	}
	return true
}

func TestValidNick(t *testing.T) {
	for nick, ok := range map[string]bool{
		"alice": true, "[m]": true, `a\b`: true, "Zoë": true, "a_b-c|d^e`f{g}": true,
		"": false, "a b": false, "#x": false, "1abc": false, "-x": false, "a,b": false,
		"a!b": false, "a@b": false, "a:b": false, "a%b": false, strings.Repeat("x", 65): false, "a\x00": false,
	} {
		if ValidNick(nick) != ok {
			t.Errorf("ValidNick(%q) = %v", nick, !ok)
		}
	}
}
