package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/servertest"
)

// slixmppBlocksScript drives the building blocks through slixmpp's own
// plugins: xep_0050 (the Configure command, recording on), xep_0045 (a
// join), xep_0313 with xep_0059 (the room's archive, a page then all of
// it) and xep_0059 over disco#items (the server's channel list).
// Arguments: host port jid password cafile gateway.
const slixmppBlocksScript = `
import asyncio, logging, sys
import slixmpp
from slixmpp.exceptions import IqError

host, port, jid, pw, ca, gw = sys.argv[1:7]
room = '#sx@' + gw
server = 'irc.test.local@' + gw
logging.basicConfig(level=logging.ERROR)

def out(*a):
    print(*a, flush=True)

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw)
        for p in ('xep_0030', 'xep_0004', 'xep_0045', 'xep_0050', 'xep_0059', 'xep_0297', 'xep_0313'):
            self.register_plugin(p)
        self.ca_certs = ca
        self.msgs = asyncio.Queue()
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('groupchat_message', lambda m: self.msgs.put_nowait(m))

    async def start(self, ev):
        try:
            await self.run()
        except Exception as e:
            out('EXCEPTION', type(e).__name__, e)
        self.disconnect()

    async def run(self):
        self.send_presence()
        items = await self['xep_0050'].get_commands(gw, timeout=10)
        out('COMMANDS', sorted(i[1] for i in items['disco_items']['items']))
        r = await self['xep_0050'].send_command(gw, 'configure', timeout=10)
        sid = r['command']['sessionid']
        out('FORM', 'record' in r['command']['form'].get_fields())
        f = self['xep_0004'].make_form(ftype='submit')
        f.add_field(var='record', value=True)
        r = await self['xep_0050'].send_command(gw, 'configure', action='complete', sessionid=sid, payload=f, timeout=10)
        out('CONFIGURED', r['command']['status'])
        await self['xep_0045'].join_muc_wait(room, 'sxalice', timeout=10)
        out('JOINED')
        got = []
        while len(got) < 3:
            m = await asyncio.wait_for(self.msgs.get(), 10)
            if m['from'].resource == 'sxbob' and m['body'].startswith('archived'):
                got.append(m['body'])
        r = await self['xep_0313'].retrieve(jid=room, rsm={'max': 2}, timeout=10)
        page = [m['mam_result']['forwarded']['stanza']['body'] for m in r['mam']['results']]
        out('MAMPAGE', page, r['mam_fin']['rsm']['count'])
        seen = []
        async for m in self['xep_0313'].iterate(jid=room, rsm={'max': 2}):
            seen.append(m['mam_result']['forwarded']['stanza']['body'])
        out('MAMALL', seen)
        iq = self.Iq()
        iq['type'] = 'get'
        iq['to'] = server
        iq['disco_items']
        chans = []
        pages = 0
        async for p in self['xep_0059'].iterate(iq, 'disco_items', amount=5):
            pages += 1
            chans += [i[0] for i in p['disco_items']['items'] if i[0].startswith('#sxl')]
        out('LIST', pages >= 3, len(chans), all(c.endswith('%irc.test.local@' + gw) for c in chans))

c = C()
c.connect((host, int(port)))
asyncio.get_event_loop().run_until_complete(c.disconnected)
out('DONE')
`

// slixmppBlocksFlow runs slixmppBlocksScript as alice at c2sAddr while the
// IRC user sxbob on the ngircd at ircAddr speaks in #sx once she joins.
func slixmppBlocksFlow(t *testing.T, ircAddr, c2sAddr, cafile string) {
	t.Helper()
	bob := dialIRC(t, ircAddr, "sxbob")
	for i := 0; i < 12; i++ {
		bob.send(fmt.Sprintf("JOIN #sxl%02d", i))
	}
	bob.send("JOIN #sx")
	bob.expect("366 sxbob #sx")
	go func() {
		deadline := time.After(40 * time.Second)
		for {
			select {
			case l, ok := <-bob.lines:
				if !ok {
					return
				}
				if strings.Contains(l, "sxalice") && strings.Contains(l, " JOIN ") {
					for i := 1; i <= 3; i++ {
						fmt.Fprintf(bob.conn, "PRIVMSG #sx :archived %d\r\n", i)
					}
					return
				}
			case <-deadline:
				return
			}
		}
	}()
	host, port := splitHostPort(t, c2sAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := servertest.RunPython(t, ctx, slixmppBlocksScript, host, port, "alice@localhost", "alicepw", cafile, "irc.localhost")
	if err != nil {
		t.Fatalf("%v\n--- stdout ---\n%s", err, out)
	}
	t.Logf("slixmpp:\n%s", out)
	for _, want := range []string{
		"COMMANDS ['configure']", // nodes; alice is no admin: no users command
		"FORM True",
		"CONFIGURED completed",
		"JOINED",
		"MAMPAGE ['archived 1', 'archived 2'] 3",
		"MAMALL ['archived 1', 'archived 2', 'archived 3']",
		"LIST True 12 True",
		"DONE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("slixmpp output lacks %q", want)
		}
	}
	if strings.Contains(out, "EXCEPTION") {
		t.Errorf("slixmpp script failed")
	}
}
