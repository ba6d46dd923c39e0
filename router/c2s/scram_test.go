package c2s

import (
	"strings"
	"testing"
)

// TestParseClientFirst: the SCRAM client-first-message parser (RFC 5802
// §7) takes the gs2 header, the username with its escapes and the nonce,
// and refuses the rest with a failure.
func TestParseClientFirst(t *testing.T) {
	for _, tc := range []struct {
		in, flag, cb, authz, user, nonce, fail string
	}{
		{in: "n,,n=alice,r=abc", flag: "n", user: "alice", nonce: "abc"},
		{in: "y,,n=alice,r=abc", flag: "y", user: "alice", nonce: "abc"},
		{in: "p=tls-exporter,,n=alice,r=abc", flag: "p", cb: "tls-exporter", user: "alice", nonce: "abc"},
		{in: "n,a=alice@localhost,n=alice,r=abc,x=ext", flag: "n", authz: "alice@localhost", user: "alice", nonce: "abc"},
		{in: "n,,n=a=2Cb=3Dc,r=abc", flag: "n", user: "a,b=c", nonce: "abc"},
		{in: "n,,m=x,n=alice,r=abc", fail: "extensions-not-supported"},
		{in: "n,,n=a=ZZ,r=abc", fail: "invalid-username-encoding"},
		{in: "n,,n=,r=abc", fail: "invalid-username-encoding"},
		{in: "x,,n=alice,r=abc", fail: "malformed-request"},
		{in: "p=,,n=alice,r=abc", fail: "malformed-request"},
		{in: "p=tls unique,,n=alice,r=abc", fail: "malformed-request"},
		{in: "n,,n=alice,r=", fail: "malformed-request"},
		{in: "n,,n=alice", fail: "malformed-request"},
		{in: "n,x=y,n=alice,r=abc", fail: "malformed-request"},
		{in: "n", fail: "malformed-request"},
		{in: "", fail: "malformed-request"},
	} {
		cf, f := parseClientFirst([]byte(tc.in))
		if tc.fail != "" {
			if f == nil || !strings.Contains(f.cond+" "+f.text, tc.fail) {
				t.Errorf("%q: %+v, %v; want failure %s", tc.in, cf, f, tc.fail)
			}
			continue
		}
		if f != nil {
			t.Errorf("%q: %v", tc.in, f)
			continue
		}
		if string(cf.flag) != tc.flag || cf.cbName != tc.cb || string(cf.authzid) != tc.authz || string(cf.user) != tc.user || string(cf.nonce) != tc.nonce {
			t.Errorf("%q: %+v", tc.in, cf)
		}
	}
}

// FuzzSCRAMMessages: the SCRAM parsers never panic, and what they accept
// keeps its parts inside the input.
func FuzzSCRAMMessages(f *testing.F) {
	for _, s := range []string{"n,,n=alice,r=abc", "p=tls-exporter,a=x,n=a=2C,r=z", "c=biws,r=abc,p=AAAA", "c=,p=", ",p=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if cf, fail := parseClientFirst(in); fail == nil {
			if len(cf.gs2Header)+len(cf.bare) != len(in) || len(cf.nonce) == 0 || len(cf.user) == 0 {
				t.Fatalf("%q: %+v", in, cf)
			}
		}
		if wp, _, fail := splitClientFinal(in); fail == nil && len(wp) >= len(in) {
			t.Fatalf("%q: without proof %q", in, wp)
		}
	})
}
