package c2s

import (
	"context"
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
// the c2s listener with SCRAM, over STARTTLS and over plaintext, and talks to
// an xmppkit component (package component, over XEP-0114) attached to the
// router; with a wrong password it is refused.
func TestC2SSlixmpp(t *testing.T) {
	w := newSlixmppWorld(t, Config{})
	m := mux.New(mux.WithLogger(quietLogger()))
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		reply := stanza.NewMessage(stanza.TypeChat, msg.From, "echo: "+msg.Body())
		return s.Send(ctx, reply)
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:x:slix", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.MustElement("<q xmlns='urn:x:slix'>hi "+iq.From.Bare().String()+"</q>")))
	})
	runComponent(t, w.compAddr, "py.localhost", m)
	run := func(t *testing.T, pw, cafile string) string {
		t.Helper()
		return w.run(t, slixmppClient, "alice@localhost", pw, "py.localhost", cafile)
	}
	for _, tc := range []struct{ name, ca, tls string }{{"STARTTLS", w.ca, "TLS TLSv1.3"}, {"plaintext", "", "TLS none"}} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, "alicepw", tc.ca)
			for _, want := range []string{
				tc.tls,
				"BOUND alice@localhost/xk-",
				"MECH SCRAM-SHA-",
				"MSG py.localhost echo: hello from slixmpp",
				"IQ py.localhost hi alice@localhost",
				"DONE",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("slixmpp output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out := run(t, "wrong", "")
		if !strings.Contains(out, "FAILED_AUTH not-authorized") || !strings.Contains(out, "FAILED_ALL_AUTH") || strings.Contains(out, "BOUND") {
			t.Errorf("slixmpp output:\n%s", out)
		}
	})
}
