package client

import (
	"net"
	"testing"
)

// FuzzParseFeatures feeds arbitrary bytes to the stream features and SASL
// failure parsers: they return an error or a value, never panic.
func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>"))
	f.Add([]byte("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"))
	f.Add([]byte("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>x</text></failure>"))
	f.Add([]byte("<a></w><b>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		feat, err := parseFeatures(raw)
		if err != nil && (feat.bind || feat.startTLS || len(feat.mechanisms) > 0) {
			t.Fatalf("features %+v with error %v", feat, err)
		}
		if e := parseFailure(raw); e.Condition == "" {
			t.Fatal("failure without condition")
		}
	})
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		raw  string
		want features
	}{
		{"<stream:features/>", features{}},
		{"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", features{startTLS: true}},
		{"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>", features{startTLS: true, startTLSRequired: true}},
		{"<stream:features><starttls xmlns='other'/><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>", features{bind: true}},
		{"<stream:features><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>", features{session: true, sessionOptional: true}},
	}
	for _, tc := range tests {
		got, err := parseFeatures([]byte(tc.raw))
		if err != nil || got.startTLS != tc.want.startTLS || got.startTLSRequired != tc.want.startTLSRequired ||
			got.bind != tc.want.bind || got.session != tc.want.session || got.sessionOptional != tc.want.sessionOptional {
			t.Errorf("%s: got %+v, %v", tc.raw, got, err)
		}
	}
	if _, err := parseFeatures([]byte("<a><b></a>")); err == nil {
		t.Error("malformed features accepted")
	}
}

func TestChooseMechanism(t *testing.T) {
	all := []string{"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "X-OAUTH2"}
	plus := append([]string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"}, all...)
	tests := []struct {
		want, offered []string
		tls, allow    bool
		binding       string
		got           string
	}{
		{nil, plus, true, false, "tls-exporter", ScramSHA256Plus},
		{nil, plus, true, false, "", ScramSHA256}, // no usable binding type
		{[]string{ScramSHA1Plus}, plus, true, false, "tls-unique", ScramSHA1Plus},
		{[]string{ScramSHA256Plus}, all, true, false, "tls-exporter", ""}, // not offered
		{nil, all, false, false, "", ScramSHA256},
		{nil, []string{"PLAIN", "SCRAM-SHA-1"}, false, false, "", ScramSHA1},
		{nil, []string{"PLAIN"}, true, false, "", Plain},
		{nil, []string{"PLAIN"}, false, true, "", Plain},
		{nil, []string{"PLAIN"}, false, false, "", ""},
		{[]string{Plain, ScramSHA1}, all, true, false, "", Plain},
		{[]string{"X-OAUTH2"}, all, true, false, "", ""},
	}
	for _, tc := range tests {
		got, err := chooseMechanism(tc.want, tc.offered, tc.tls, tc.allow, tc.binding)
		if got != tc.got || (err == nil) != (tc.got != "") {
			t.Errorf("chooseMechanism(%v, %v, %v, %v) = %q, %v; want %q", tc.want, tc.offered, tc.tls, tc.allow, got, err, tc.got)
		}
	}
}

func TestIsLocal(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	tests := []struct {
		addr net.Addr
		ok   bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5222}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 5222}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5222}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5222}, false},
		{a.RemoteAddr(), true},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, true},
	}
	for _, tc := range tests {
		if got := isLocal(tc.addr); got != tc.ok {
			t.Errorf("isLocal(%v) = %v", tc.addr, got)
		}
	}
}
