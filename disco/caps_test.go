package disco

import (
	"errors"
	"testing"

	"xmppkit.dev/form"
)

func simpleInfo() Info {
	return Info{
		Identities: []Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
			"http://jabber.org/protocol/caps",
		},
	}
}

// complexInfo is the example of XEP-0115 §5.3, in the order the XEP's
// disco#info result lists it (not sorted).
func complexInfo() Info {
	return Info{
		Identities: []Identity{
			{Category: "client", Type: "pc", Name: "Psi 0.11", Lang: "en"},
			{Category: "client", Type: "pc", Name: "Ψ 0.11", Lang: "el"},
		},
		Features: []string{
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/muc",
		},
		Forms: []form.Form{{
			Type: form.TypeResult,
			Fields: []form.Field{
				{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
				{Var: "ip_version", Type: form.TextMulti, Values: []string{"ipv6", "ipv4"}},
				{Var: "os", Values: []string{"Mac"}},
				{Var: "os_version", Values: []string{"10.5.1"}},
				{Var: "software", Values: []string{"Psi"}},
				{Var: "software_version", Values: []string{"0.11"}},
			},
		}},
	}
}

func TestCapsXEPExamples(t *testing.T) {
	tests := []struct {
		name      string
		info      Info
		ver, hash string
	}{
		{"simple §5.2", simpleInfo(),
			"client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<",
			"QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex §5.3", complexInfo(),
			"client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<",
			"q07IKJEyjvHSyhy//CH0CxmKi8w="},
	}
	for _, tt := range tests {
		s, err := VerificationString(tt.info)
		if err != nil || s != tt.ver {
			t.Errorf("%s: VerificationString = %q, %v\nwant %q", tt.name, s, err, tt.ver)
		}
		h, err := CapsHash(tt.info)
		if err != nil || h != tt.hash {
			t.Errorf("%s: CapsHash = %q, %v; want %q", tt.name, h, err, tt.hash)
		}
	}
}

func TestCapsRules(t *testing.T) {
	// Forms without a hidden FORM_TYPE are ignored (§5.4).
	info := simpleInfo()
	base, _ := VerificationString(info)
	info.Forms = []form.Form{
		{Type: form.TypeResult, Fields: []form.Field{{Var: "FORM_TYPE", Values: []string{"urn:x"}}, {Var: "a", Values: []string{"1"}}}},
		{Type: form.TypeResult, Fields: []form.Field{{Var: "a", Values: []string{"1"}}}},
	}
	if s, err := VerificationString(info); err != nil || s != base {
		t.Errorf("non-hidden FORM_TYPE not ignored: %q, %v", s, err)
	}
	// Forms sorted by FORM_TYPE, values unescaped.
	info.Forms = []form.Form{
		{Type: form.TypeResult, Fields: []form.Field{{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:b"}}, {Var: "x", Values: []string{"a<b&c"}}}},
		{Type: form.TypeResult, Fields: []form.Field{{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:a"}}}},
	}
	if s, _ := VerificationString(info); s != base+"urn:a<urn:b<x<a<b&c<" {
		t.Errorf("forms: %q", s)
	}

	bad := map[string]Info{
		"duplicate identity": {Identities: []Identity{{Category: "a", Type: "b"}, {Category: "a", Type: "b"}}},
		"duplicate feature":  {Features: []string{"f", "g", "f"}},
		"duplicate form type": {Forms: []form.Form{
			{Fields: []form.Field{{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:a"}}}},
			{Fields: []form.Field{{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:a"}}}},
		}},
		"differing form type values": {Forms: []form.Form{
			{Fields: []form.Field{{Var: "FORM_TYPE", Type: form.Hidden, Values: []string{"urn:a", "urn:b"}}}},
		}},
	}
	for name, info := range bad {
		_, err := CapsHash(info)
		var ce *CapsError
		if !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want *CapsError", name, err)
		}
	}
}
