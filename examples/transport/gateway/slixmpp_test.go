package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
)

// slixmppScript logs in to Prosody as alice, registers with the gateway
// (XEP-0077), comes online at it, joins #test through it (XEP-0045), and
// talks to the IRC user bob. It prints one line per observation. Arguments:
// host port jid password cafile gateway.
const slixmppScript = `
import asyncio, logging, sys
import slixmpp
from slixmpp.xmlstream import ET

host, port, jid, pw, ca, gw = sys.argv[1:7]
room = '#test@' + gw
logging.basicConfig(level=logging.ERROR)

def out(*a):
    print(*a, flush=True)

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw)
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0004')
        self.register_plugin('xep_0045')
        self.register_plugin('xep_0077')
        self.ca_certs = ca
        self.msgs = asyncio.Queue()
        self.pres = asyncio.Queue()
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('groupchat_message', lambda m: self.msgs.put_nowait(m))
        self.add_event_handler('message', lambda m: m['type'] == 'chat' and self.msgs.put_nowait(m))
        self.add_event_handler('message_error', lambda m: self.msgs.put_nowait(m))
        self.add_event_handler('presence', self.on_presence)
        self.add_event_handler('groupchat_presence', self.on_presence)

    def on_presence(self, p):
        self.pres.put_nowait(p)

    async def msg(self, pred):
        while True:
            m = await asyncio.wait_for(self.msgs.get(), 10)
            if pred(m):
                return m

    async def presence(self, pred):
        while True:
            p = await asyncio.wait_for(self.pres.get(), 10)
            if pred(p):
                return p

    async def start(self, ev):
        try:
            await self.run()
        except Exception as e:
            out('EXCEPTION', type(e).__name__, e)
        self.disconnect()

    async def run(self):
        self.send_presence()
        info = await self['xep_0030'].get_info(jid=gw, timeout=10)
        out('IDENTITIES', sorted('%s/%s' % (i[0], i[1]) for i in info['disco_info']['identities']))
        out('FEATURES', ' '.join(sorted(info['disco_info']['features'])))
        rinfo = await self['xep_0030'].get_info(jid=room, timeout=10)
        out('ROOM', sorted('%s/%s' % (i[0], i[1]) for i in rinfo['disco_info']['identities']),
            'http://jabber.org/protocol/muc' in rinfo['disco_info']['features'])
        iq = self.Iq()
        iq['type'] = 'set'
        iq['to'] = gw
        iq['register']['nick'] = 'alice'
        await iq.send(timeout=10)
        out('REGISTERED')
        form = await self['xep_0077'].get_registration(jid=gw, timeout=10)
        out('REGISTRATION', form['register']['registered'], form['register']['nick'])
        gq = self.Iq()
        gq['type'] = 'set'
        gq['to'] = gw
        gq.append(ET.fromstring("<query xmlns='jabber:iq:gateway'><prompt>d'artagnan</prompt></query>"))
        gr = await gq.send(timeout=10)
        out('TRANSLATE', gr.xml.find('{jabber:iq:gateway}query/{jabber:iq:gateway}jid').text)
        self.send_presence(pto=gw)
        p = await self.presence(lambda p: p['from'] == gw and p['type'] in ('available', 'unavailable'))
        out('GATEWAY', p['type'], p['status'])
        pres, subject, occupants, _ = await self['xep_0045'].join_muc_wait(room, 'alice', timeout=10)
        out('JOINED', pres['from'], sorted(pres['muc']['status_codes']))
        out('OCCUPANTS', sorted('%s:%s/%s' % (o['from'].resource, o['muc']['affiliation'], o['muc']['role']) for o in occupants))
        out('SUBJECT', subject['subject'])
        m = self.make_message(mto=room, mbody='hello from slixmpp', mtype='groupchat')
        m['id'] = 'slix-1'
        m.send()
        e = await self.msg(lambda m: m['from'] == room + '/alice' and m['body'] == 'hello from slixmpp')
        out('ECHO', e['id'])
        m = await self.msg(lambda m: m['from'] == room + '/bob')
        out('GROUPCHAT', m['body'])
        self.send_presence(pto=room + '/alice2')
        p = await self.presence(lambda p: p['from'] == room + '/alice2')
        out('NICK', p['from'].resource, sorted(p['muc']['status_codes']))
        self.send_message(mto='bob@' + gw, mbody='psst', mtype='chat')
        m = await self.msg(lambda m: m['type'] == 'chat' and m['from'] == 'bob@' + gw)
        out('PRIVATE', m['body'])
        self.send_message(mto='nobody@' + gw, mbody='hello?', mtype='chat')
        m = await self.msg(lambda m: m['type'] == 'error')
        out('ERROR', m['from'], m['error']['condition'])
        # leave_muc would forget the room before the answer, hiding it.
        self.send_presence(pto=room + '/alice2', ptype='unavailable')
        p = await self.presence(lambda p: p['from'] == room + '/alice2' and p['type'] == 'unavailable')
        out('LEFT', sorted(p['muc']['status_codes']))
        iq = self.Iq()
        iq['type'] = 'set'
        iq['to'] = gw
        iq['register']['remove'] = True
        await iq.send(timeout=10)
        out('REMOVED')

c = C()
c.connect((host, int(port)))
asyncio.get_event_loop().run_until_complete(c.disconnected)
out('DONE')
`

// TestSlixmppProsody: slixmpp (an XMPP client this project did not write)
// logged into a real Prosody uses the gateway, attached to Prosody as the
// external component irc.localhost, to talk to a plain IRC client on a real
// ngircd.
func TestSlixmppProsody(t *testing.T) {
	checkNoLeaks(t)
	servertest.Python(t)
	ircd := servertest.Ngircd(t, servertest.NgircdOptions{})
	pros := servertest.Prosody(t, servertest.ProsodyOptions{})

	comp := &component.Component{Addr: pros.ComponentAddr, Domain: "irc.localhost", Secret: servertest.Secret, Logger: quietLogger()}
	gw := newSlixmppGateway(t, ircd.Addr, comp)
	comp.Handler = gw
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	defer func() { gw.Close(); cancel(); <-done }()

	slixmppFlow(t, ircd.Addr, pros.C2SAddr, pros.CertFile)
	slixmppBlocksFlow(t, ircd.Addr, pros.C2SAddr, pros.CertFile)
}

// TestSlixmppRouter: the same flow as TestSlixmppProsody against the
// embedded router (package router): the gateway is attached in-process as
// irc.localhost (its Sender is the one the router hands its handler, as in
// the example's embedded mode) and slixmpp logs in over TCP at the router's
// c2s listener with STARTTLS, verified against the listener's self-signed
// certificate, and SCRAM.
func TestSlixmppRouter(t *testing.T) {
	checkNoLeaks(t)
	servertest.Python(t)
	ircd := servertest.Ngircd(t, servertest.NgircdOptions{})

	r, err := router.New(router.Config{
		Domains: []string{"localhost"},
		Users:   map[string]string{"alice@localhost": "alicepw"},
		Logger:  quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("router close: %v", err)
		}
	}()
	gw := newSlixmppGateway(t, ircd.Addr, nil)
	defer gw.Close() // before the router closes, as in the example
	if _, err := r.Attach("irc.localhost", gw); err != nil {
		t.Fatal(err)
	}
	l, addr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ca := servertest.WriteCertPEM(t, l.Certificate())

	slixmppFlow(t, ircd.Addr, addr.String(), ca)
	slixmppBlocksFlow(t, ircd.Addr, addr.String(), ca)
}

// newSlixmppGateway returns the gateway irc.localhost bridging to the
// ngircd at ircAddr, sending through sender (nil: the Sender of the first
// stanza it handles).
func newSlixmppGateway(t *testing.T, ircAddr string, sender mux.Sender) *Gateway {
	t.Helper()
	gw, err := New(Config{
		Domain:   "irc.localhost",
		Networks: map[string]Network{"irc.test.local": PlainNetwork(ircAddr)},
		Default:  "irc.test.local",
		Sender:   sender,
		Logger:   quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// slixmppFlow runs slixmppScript as alice@localhost at the XMPP server's
// client listener c2sAddr (STARTTLS verified against cafile), with the
// gateway irc.localhost already reachable there, while the IRC user bob on
// the ngircd at ircAddr answers; it checks both sides.
func slixmppFlow(t *testing.T, ircAddr, c2sAddr, cafile string) {
	t.Helper()
	bob := dialIRC(t, ircAddr, "bob")
	bob.send("JOIN #test")
	bob.expect("366 bob #test")
	bob.send("TOPIC #test :Bridged topic")
	bob.expect("TOPIC #test")
	ircSeen := make(chan []string, 1)
	go func() {
		// The IRC side of the conversation, driven by what bob receives.
		var seen []string
		defer func() { ircSeen <- seen }()
		deadline := time.After(40 * time.Second)
		for {
			select {
			case l, ok := <-bob.lines:
				if !ok {
					return
				}
				if !strings.Contains(l, "alice") {
					continue
				}
				seen = append(seen, l)
				switch {
				case strings.HasSuffix(l, "PRIVMSG #test :hello from slixmpp"):
					bob.conn.Write([]byte("PRIVMSG #test :hello slixmpp\r\n"))
				case strings.HasSuffix(l, "PRIVMSG bob :psst"):
					bob.conn.Write([]byte("PRIVMSG alice2 :pong\r\n"))
				case strings.Contains(l, " PART #test"):
					return
				}
			case <-deadline:
				return
			}
		}
	}()

	host, port := splitHostPort(t, c2sAddr)
	sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer scancel()
	out, err := servertest.RunPython(t, sctx, slixmppScript, host, port, "alice@localhost", "alicepw", cafile, "irc.localhost")
	if err != nil {
		t.Fatalf("%v\n--- stdout ---\n%s", err, out)
	}
	t.Logf("slixmpp:\n%s", out)
	for _, want := range []string{
		"IDENTITIES ['conference/irc', 'gateway/irc']",
		"http://jabber.org/protocol/muc", "jabber:iq:register", "jabber:iq:gateway",
		"ROOM ['conference/irc'] True",
		"REGISTERED",
		"REGISTRATION True alice",
		`TRANSLATE d\27artagnan@irc.localhost`,
		"GATEWAY available Connected to irc.test.local as alice",
		"JOINED #test@irc.localhost/alice [100, 110]",
		"OCCUPANTS ['alice:none/participant', 'bob:admin/moderator']",
		"SUBJECT Bridged topic",
		"ECHO slix-1",
		"GROUPCHAT hello slixmpp",
		"NICK alice2 [110]",
		"PRIVATE pong",
		"ERROR nobody@irc.localhost recipient-unavailable",
		"LEFT [110]",
		"REMOVED",
		"DONE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("slixmpp output lacks %q", want)
		}
	}
	if strings.Contains(out, "EXCEPTION") {
		t.Errorf("slixmpp script failed")
	}
	seen := strings.Join(<-ircSeen, "\n")
	for _, want := range []string{
		":alice!~alice@127.0.0.1 JOIN :#test",
		":alice!~alice@127.0.0.1 PRIVMSG #test :hello from slixmpp",
		":alice!~alice@127.0.0.1 NICK :alice2",
		":alice2!~alice@127.0.0.1 PRIVMSG bob :psst",
		":alice2!~alice@127.0.0.1 PART #test",
	} {
		if !strings.Contains(seen, want) {
			t.Errorf("IRC side lacks %q in:\n%s", want, seen)
		}
	}
	// Removing the registration quit the IRC connection.
	waitOn(t, bob, "alice2", false)
}
