package c2s

import (
	"context"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// gatewayPresence is the presence side of an XEP-0100 gateway: it approves
// a user's subscription, asks for the user's own presence in return and
// shows itself online (§4.1.2); it answers probes with its presence and
// reports each presence it gets from users.
func gatewayPresence(userPresence chan<- *stanza.Stanza) *mux.ServeMux {
	m := mux.New()
	online := func(ctx context.Context, s mux.Sender, to jid.JID) error {
		p := stanza.NewPresence("", to)
		p.SetPayloadElements(stanza.TextElement("", "status", "connected to the legacy network"))
		return s.Send(ctx, p)
	}
	m.HandlePresenceFunc(stanza.TypeSubscribe, func(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
		user := p.From.Bare()
		for _, typ := range []string{stanza.TypeSubscribed, stanza.TypeSubscribe} {
			if err := s.Send(ctx, stanza.NewPresence(typ, user)); err != nil {
				return err
			}
		}
		return online(ctx, s, user)
	})
	m.HandlePresenceFunc(stanza.TypeProbe, func(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
		return online(ctx, s, p.From)
	})
	m.HandlePresenceFunc(mux.AnyType, func(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
		select {
		case userPresence <- p:
		default:
		}
		return nil
	})
	return m
}

// slixmppGateway logs in to the router, subscribes to the gateway (with
// slixmpp's default auto_authorize, it approves the gateway's request in
// return) and waits until the gateway shows online. Arguments: host port
// jid password gateway cafile subscribe(0|1).
const slixmppGateway = `
import asyncio, logging, sys
import slixmpp

host, port, jid, pw, gw, ca, subscribe = sys.argv[1:8]
logging.basicConfig(level=logging.ERROR)

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw)
        self.ca_certs = ca
        self.online = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('got_online', self.on_online)

    def on_online(self, p):
        if p['from'].bare == gw and not self.online.done():
            self.online.set_result(p)

    async def start(self, ev):
        await self.get_roster()
        print('ROSTER_BEFORE', sorted(self.client_roster.keys()), flush=True)
        self.send_presence()
        if subscribe == '1':
            self.send_presence(pto=gw, ptype='subscribe')
        p = await asyncio.wait_for(self.online, 10)
        print('GW_ONLINE', p['from'], p['status'], flush=True)
        await asyncio.sleep(0.3)
        item = self.client_roster[gw]
        print('ROSTER', gw, item['subscription'], flush=True)
        self.disconnect()

c = C()
c.connect((host, int(port)))
asyncio.get_event_loop().run_until_complete(c.disconnected)
print('DONE', flush=True)
`

// TestGatewaySubscriptionSlixmpp (issue 18 item 13): the XEP-0100
// presence subscription between a user (slixmpp) and a gateway (an
// xmppkit component over XEP-0114) works on the router as on Prosody: the
// user subscribes, the gateway approves, asks back, and shows online; the
// roster holds the gateway with subscription both; at the next login the
// router probes the gateway (it shows online again without a new
// subscription) and the gateway gets the user's presence (subscription
// from), which a gateway needs to know when to log in to its network.
func TestGatewaySubscriptionSlixmpp(t *testing.T) {
	w := newSlixmppWorld(t, Config{})
	userPresence := make(chan *stanza.Stanza, 16)
	runComponent(t, w.compAddr, "gw.localhost", gatewayPresence(userPresence))
	run := func(subscribe string) string {
		t.Helper()
		return w.run(t, slixmppGateway, "alice@localhost", "alicepw", "gw.localhost", w.ca, subscribe)
	}
	out := run("1")
	for _, want := range []string{"ROSTER_BEFORE []", "GW_ONLINE gw.localhost connected to the legacy network", "ROSTER gw.localhost both", "DONE"} {
		if !strings.Contains(out, want) {
			t.Errorf("first login: output lacks %q", want)
		}
	}
	items := w.r.Roster(jid.MustParse("alice@localhost"))
	if len(items) != 1 || items[0].JID.String() != "gw.localhost" || items[0].Subscription != router.SubscriptionBoth {
		t.Fatalf("alice's roster on the router: %+v", items)
	}
	// Next login: no new subscription; the probe brings the gateway online.
	for len(userPresence) > 0 {
		<-userPresence
	}
	out = run("0")
	for _, want := range []string{"ROSTER_BEFORE ['gw.localhost']", "GW_ONLINE gw.localhost", "ROSTER gw.localhost both"} {
		if !strings.Contains(out, want) {
			t.Errorf("second login: output lacks %q", want)
		}
	}
	select {
	case p := <-userPresence:
		if p.From.Bare().String() != "alice@localhost" || p.Type != "" && p.Type != stanza.TypeUnavailable {
			t.Errorf("the gateway got %v", p)
		}
	case <-time.After(5 * time.Second):
		t.Error("the gateway never got the user's presence")
	}
}
