package mam_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/internal/interop"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

type roomsIdentity struct{}

func (roomsIdentity) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() == "room" && q.Node == "" {
		return []disco.Identity{{Category: "conference", Type: "text", Name: "Room"}}
	}
	return nil
}

// roomService serves the history of room@<domain>: 120 messages, one a
// minute from 2024-05-01T12:00Z, by ann, ben and cid in turn.
func roomService(domain string) mux.Handler {
	arch := &mam.Memory{}
	room := jid.MustParse("room@" + domain)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 120 {
		nick := []string{"ann", "ben", "cid"}[i%3]
		msg, _ := mam.RoomMessage(room, nick, stanza.NewMessage(stanza.TypeGroupchat, room, fmt.Sprintf("m%03d", i)), jid.JID{})
		if _, err := arch.Append(room, mam.Message{Time: t0.Add(time.Duration(i) * time.Minute), With: jid.MustParse(nick + "@localhost"), Stanza: msg}); err != nil {
			panic(err)
		}
	}
	m := mux.New()
	(&mam.Handler{Archive: arch, Allow: func(ctx context.Context, requester, archive jid.JID, node string) error {
		if archive.Equal(room) {
			return nil
		}
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}}).Register(m)
	d := disco.New(m)
	d.AddProvider(roomsIdentity{})
	d.Register(m)
	return m
}

// mamScript drives the archive with slixmpp's xep_0313 and xep_0059: the
// fields, a first page, a walk forwards and one backwards over the whole
// archive, filters, metadata, and the error cases.
const mamScript = `
from datetime import datetime, timezone
room = 'room@' + svc

results = []

def bodies_of(r):
    got = [m['mam_result']['forwarded']['stanza']['body'] for m in results]
    results.clear()
    return got

def bodies(iq):
    return [m['mam_result']['forwarded']['stanza']['body'] for m in iq['mam']['results']]

async def raw(c, xml):
    iq = c.Iq()
    iq['type'] = 'set'
    iq['to'] = room
    iq.append(ET.fromstring(xml))
    try:
        r = await iq.send(timeout=10)
        return r
    except IqError as e:
        out('ERROR', *stanza_error(e))
        return None

def form(*fields):
    x = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>"
    for k, v in fields:
        x += "<field var='%s'><value>%s</value></field>" % (k, v)
    return x + "</x>"

async def run(c):
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    c.register_handler(Callback('mam results', MatchXPath('{jabber:client}message/{urn:xmpp:mam:2}result'), results.append))
    info = await c['xep_0030'].get_info(jid=room, timeout=10)
    out('DISCO', 'urn:xmpp:mam:2' in info['disco_info']['features'], 'urn:xmpp:mam:2#extended' in info['disco_info']['features'])
    f = await c['xep_0313'].get_fields(jid=room, timeout=10)
    out('FIELDS', ' '.join(f.get_fields().keys()))

    r = await c['xep_0313'].retrieve(jid=room, rsm={'max': 10}, timeout=10)
    b = bodies(r)
    fin = r['mam_fin']
    out('FIRST', len(b), b[0], b[-1], fin['rsm']['count'], fin['rsm']['first_index'], r.xml.find('{urn:xmpp:mam:2}fin').get('complete'))
    stamp = r['mam']['results'][0]['mam_result']['forwarded']['delay']['stamp']
    out('STAMP', stamp.isoformat(), r['mam']['results'][0]['mam_result']['forwarded']['stanza']['from'])

    seen = []
    async for m in c['xep_0313'].iterate(jid=room, rsm={'max': 25}):
        seen.append(m['mam_result']['forwarded']['stanza']['body'])
    out('FORWARD', len(seen), len(set(seen)), seen == sorted(seen))
    # slixmpp's iterate(reverse=True) stops after the first page whenever
    # the answer carries first index and count (it checks first + n ==
    # count, true for the last page): page backwards by hand with <before/>.
    seen, before, pages = [], '', 0
    results.clear()
    while True:
        r = await raw(c, "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>25</max><before>%s</before></set></query>" % before)
        pages += 1
        seen = bodies_of(r) + seen
        if r.xml.find('{urn:xmpp:mam:2}fin').get('complete') == 'true':
            break
        before = r['mam_fin']['rsm']['first']
    out('BACKWARD', pages, len(seen), len(set(seen)), seen == sorted(seen))

    r = await c['xep_0313'].retrieve(jid=room, with_jid=slixmpp.JID('ben@localhost'), rsm={'max': 100}, timeout=10)
    b = bodies(r)
    out('WITH', len(b), b[0], b[-1])
    r = await c['xep_0313'].retrieve(jid=room, start=datetime(2024, 5, 1, 13, 0, tzinfo=timezone.utc),
                                     end=datetime(2024, 5, 1, 13, 4, tzinfo=timezone.utc), timeout=10)
    out('TIME', bodies(r))

    md = await c['xep_0313'].get_archive_metadata(jid=room, timeout=10)
    m = md.xml.find('{urn:xmpp:mam:2}metadata')
    out('METADATA', m.find('{urn:xmpp:mam:2}start').get('timestamp'), m.find('{urn:xmpp:mam:2}end').get('timestamp'))

    r = await raw(c, "<query xmlns='urn:xmpp:mam:2' queryid='x'>" + form(('after-id', first_id(c))) + "</query>")
    await raw(c, "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>5</max><after>no-such-id</after></set></query>")
    await raw(c, "<query xmlns='urn:xmpp:mam:2'>" + form(('ids', 'no-such-id')) + "</query>")
    await raw(c, "<query xmlns='urn:xmpp:mam:2'>" + form(('{urn:example}fulltext', 'x')) + "</query>")
    await raw(c, "<query xmlns='urn:xmpp:mam:2'>" + form(('start', 'yesterday')) + "</query>")
    await raw(c, "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set></query>")
    last = await raw(c, "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set></query>")
    lid = last['mam_fin']['rsm']['last']
    r = await raw(c, "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>5</max><after>%s</after></set></query>" % lid)
    out('PAST', r.xml.find('{urn:xmpp:mam:2}fin').get('complete'), r['mam_fin']['rsm']['count'])
    iq = c.Iq()
    iq['type'] = 'set'
    iq['to'] = 'nobody@' + svc
    iq.append(ET.fromstring("<query xmlns='urn:xmpp:mam:2'/>"))
    try:
        await iq.send(timeout=10)
    except IqError as e:
        out('ERROR', *stanza_error(e))

def first_id(c):
    return 'unknown-id'
`

func TestSlixmppMAM(t *testing.T) {
	servertest.Python(t)
	interop.Each(t, roomService, func(t *testing.T, tg interop.Target) {
		got := interop.Slixmpp(t, tg, "alice", []string{"xep_0030", "xep_0004", "xep_0059", "xep_0297", "xep_0313"}, mamScript)
		interop.Expect(t, tg.Server, got, []string{
			"DISCO True True",
			"FIELDS FORM_TYPE with start end before-id after-id ids",
			"FIRST 10 m000 m009 120 0 None",
			"STAMP 2024-05-01T12:00:00+00:00 room@" + tg.Service + "/ann",
			"FORWARD 120 120 True",
			"BACKWARD 5 120 120 True",
			"WITH 40 m001 m118",
			"TIME ['m060', 'm061', 'm062', 'm063', 'm064']",
			"METADATA 2024-05-01T12:00:00Z 2024-05-01T13:59:00Z",
			"ERROR item-not-found ",
			"ERROR item-not-found ",
			"ERROR item-not-found ",
			"ERROR feature-not-implemented ",
			"ERROR bad-request ",
			"ERROR bad-request ",
			"PAST true 120",
			"ERROR item-not-found ",
		})
	})
}
