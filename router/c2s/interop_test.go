package c2s

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// slixmppClient logs in to the router's c2s listener (STARTTLS verified
// against the router's certificate, or plaintext), sends a message and an
// IQ get to the component, and prints what came back. Arguments: host
// port jid password component cafile|"" .
const slixmppClient = `
import asyncio, logging, sys
import slixmpp
from slixmpp.xmlstream import ET

host, port, jid, pw, comp, ca = sys.argv[1:7]
logging.basicConfig(level=logging.ERROR)

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw)
        self.reply = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('failed_auth', lambda s: print('FAILED_AUTH', s['condition'], flush=True))
        self.add_event_handler('failed_all_auth', self.failed_all)
        if ca:
            self.ca_certs = ca
        else:
            self['feature_mechanisms'].unencrypted_scram = True

    def failed_all(self, ev):
        print('FAILED_ALL_AUTH', flush=True)
        self.disconnect()

    def on_message(self, msg):
        if not self.reply.done():
            self.reply.set_result(msg)

    async def start(self, ev):
        print('BOUND', self.boundjid.full, flush=True)
        print('MECH', self['feature_mechanisms'].mech.name, flush=True)
        ssl_obj = self.transport.get_extra_info('ssl_object')
        print('TLS', ssl_obj.version() if ssl_obj else 'none', flush=True)
        self.send_presence()
        self.send_message(mto=comp, mbody='hello from slixmpp', mtype='chat')
        msg = await asyncio.wait_for(self.reply, 10)
        print('MSG', msg['from'], msg['body'], flush=True)
        iq = self.Iq()
        iq['type'] = 'get'
        iq['to'] = comp
        iq.append(ET.fromstring("<q xmlns='urn:x:slix'/>"))
        res = await iq.send(timeout=10)
        print('IQ', res['from'], res.xml.find('{urn:x:slix}q').text, flush=True)
        self.disconnect()

c = C()
c.connect((host, int(port)), disable_starttls=not ca)
asyncio.get_event_loop().run_until_complete(c.disconnected)
print('DONE', flush=True)
`

// TestC2SSlixmpp: slixmpp (software this project did not write) logs in to
// the c2s listener over STARTTLS and over plaintext, and talks to an
// xmppkit component (package component, over XEP-0114) attached to the
// router; with a wrong password it is refused.
//
// slixmpp 1.8.3 (Debian 12) supports SCRAM-*-PLUS with tls-unique only
// (CPython exposes no other binding): over TLS 1.2 it logs in with
// SCRAM-SHA-256-PLUS; over TLS 1.3, where tls-unique is not defined (RFC
// 9266), its -PLUS attempts are refused (unsupported type), then its plain
// SCRAM attempts, which say "y" (it binds, but thinks the server does not)
// although -PLUS was offered (RFC 5802 §6: the server must refuse), and it
// logs in with PLAIN, as it does against Prosody 13. With
// ChannelBindingOff it uses SCRAM.
func TestC2SSlixmpp(t *testing.T) {
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		reply := stanza.NewMessage(stanza.TypeChat, msg.From, "echo: "+msg.Body())
		return s.Send(ctx, reply)
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:x:slix", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.MustElement("<q xmlns='urn:x:slix'>hi "+iq.From.Bare().String()+"</q>")))
	})
	tls12 := Config{TLS: selfSigned(t)}
	tls12.TLS.MaxVersion = tls.VersionTLS12
	for _, tc := range []struct {
		name     string
		cfg      Config
		plain    bool
		tls      string
		mech     string
		failures int
	}{
		{"STARTTLS TLS 1.3", Config{}, false, "TLS TLSv1.3", "MECH PLAIN", 4},
		{"STARTTLS TLS 1.2", tls12, false, "TLS TLSv1.2", "MECH SCRAM-SHA-256-PLUS", 0},
		{"STARTTLS, no channel binding", Config{ChannelBinding: ChannelBindingOff}, false, "TLS TLSv1.3", "MECH SCRAM-SHA-256", 0},
		{"plaintext", Config{}, true, "TLS none", "MECH SCRAM-SHA-256", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSlixmppWorld(t, tc.cfg)
			runComponent(t, w.compAddr, "py.localhost", m)
			ca := w.ca
			if tc.plain {
				ca = ""
			}
			out := w.run(t, slixmppClient, "alice@localhost", "alicepw", "py.localhost", ca)
			for _, want := range []string{
				tc.tls,
				"BOUND alice@localhost/xk-",
				tc.mech + "\n",
				"MSG py.localhost echo: hello from slixmpp",
				"IQ py.localhost hi alice@localhost",
				"DONE",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("slixmpp output lacks %q", want)
				}
			}
			if n := strings.Count(out, "FAILED_AUTH"); n != tc.failures {
				t.Errorf("%d failed attempts, want %d", n, tc.failures)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		w := newSlixmppWorld(t, Config{})
		out := w.run(t, slixmppClient, "alice@localhost", "wrong", "py.localhost", "")
		if !strings.Contains(out, "FAILED_AUTH not-authorized") || !strings.Contains(out, "FAILED_ALL_AUTH") || strings.Contains(out, "BOUND") {
			t.Errorf("slixmpp output:\n%s", out)
		}
	})
}

// selfSigned returns a server TLS configuration with a generated
// certificate for localhost.
func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	cert, _, err := selfSignedCert([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}
