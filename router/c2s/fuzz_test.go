package c2s

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
	"xmppkit.dev/router"
)

// FuzzC2SNegotiation feeds arbitrary client bytes, after a valid stream
// header, to the c2s listener's negotiation (STARTTLS, SASL, bind): the
// listener answers or closes the stream, and never panics or hangs.
func FuzzC2SNegotiation(f *testing.F) {
	const nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-1'>" + b64("n,,n=alice,r=abcdefgh") + "</auth>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256'/><response xmlns='" + nsSASL + "'>" + b64("n,,n=bob,r=x") + "</response><response xmlns='" + nsSASL + "'>" + b64("c=biws,r=x,p=AAAA") + "</response>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + b64("\x00alice\x00alicepw") + "</auth>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-1-PLUS'>" + b64("p=tls-unique,,n=alice,r=x") + "</auth>"))
	f.Add([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01\x00"))
	f.Add([]byte("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-1'>" + b64("n,a=bob@localhost,n=alice,r=x") + "</auth>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256'>" + b64("y,,n=alice,r=abc") + "</auth><response xmlns='" + nsSASL + "'>" + b64("c=eSws,r=abc,p=AAAA") + "</response>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256-PLUS'>" + b64("p=tls-exporter,,n=al=2Cice,r=abc") + "</auth>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256'>" + b64("n,,m=ext,n=alice,r=abc") + "</auth>"))
	f.Add([]byte("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256'>" + b64("n,,n=a=ZZ,r=abc") + "</auth>"))
	r, err := router.New(router.Config{Users: testUsers, Logger: quietLogger(), HandshakeTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close(context.Background()) })
	l, err := New(r, Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cc, sc := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); l.ServeConn(sc) }()
		go func() {
			cc.Write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"))
			cc.Write(in)
			cc.Close()
		}()
		go io.Copy(io.Discard, cc)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return")
		}
	})
}
