package disco_test

import (
	"context"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

type discard struct{}

func (discard) Send(context.Context, *stanza.Stanza) error { return nil }
func (discard) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, stanza.ErrServiceUnavailable
}

// BenchmarkInfoAnswer measures answering a disco#info get through the mux:
// collecting from the handlers, encoding and building the result.
func BenchmarkInfoAnswer(b *testing.B) {
	m, _, _ := setup(b)
	iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("gw.example"), stanza.Element{Space: disco.NSInfo, Local: "query"})
	iq.From = jid.MustParse("romeo@montague.lit/orchard")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.HandleStanza(context.Background(), discard{}, iq); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCapsHash(b *testing.B) {
	info := complexInfoForBench()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := disco.CapsHash(info); err != nil {
			b.Fatal(err)
		}
	}
}

func complexInfoForBench() disco.Info {
	info, _ := disco.ParseInfo([]byte(`<query xmlns='http://jabber.org/protocol/disco#info'>
<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
<feature var='http://jabber.org/protocol/caps'/>
<feature var='http://jabber.org/protocol/disco#info'/>
<feature var='http://jabber.org/protocol/disco#items'/>
<feature var='http://jabber.org/protocol/muc'/>
<x xmlns='jabber:x:data' type='result'>
<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
<field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
<field var='os'><value>Mac</value></field>
<field var='os_version'><value>10.5.1</value></field>
<field var='software'><value>Psi</value></field>
<field var='software_version'><value>0.11</value></field>
</x></query>`))
	return info
}

func TestParsedComplexExample(t *testing.T) {
	// The XEP-0115 §5.3 example as XML, parsed and hashed.
	if ver, err := disco.CapsHash(complexInfoForBench()); err != nil || ver != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
		t.Errorf("CapsHash = %q, %v", ver, err)
	}
}
