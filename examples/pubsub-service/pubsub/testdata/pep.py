# slixmpp (xep_0060, xep_0163, xep_0115, xep_0059) against the xmppkit
# pubsub service serving the users' PEP through XEP-0355 delegation from a
# real server. Arguments: host port cafile. Prints one line per step; the Go
# test asserts on them.
import asyncio, logging, sys
import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET, register_stanza_plugin
from slixmpp.plugins.xep_0059 import Set
from slixmpp.plugins.xep_0060.stanza.pubsub import Pubsub

register_stanza_plugin(Pubsub, Set)  # XEP-0059 inside <pubsub/> (XEP-0060 §6.5.4)

host, port, ca = sys.argv[1:4]
logging.basicConfig(level=logging.ERROR)
MOOD = 'urn:xmppkit:test:mood'
PRIVATE = 'urn:xmppkit:test:private'
FEED = 'urn:xmppkit:test:feed'

def out(*a):
    print(*a, flush=True)

def client(jid, pw, interests=()):
    c = slixmpp.ClientXMPP(jid, pw)
    for p in ('xep_0030', 'xep_0004', 'xep_0059', 'xep_0060', 'xep_0115', 'xep_0163'):
        c.register_plugin(p)
    c.ca_certs = ca
    c.auto_authorize = True
    c.auto_subscribe = True
    c.events = asyncio.Queue()
    for ev in ('pubsub_publish', 'pubsub_retract', 'pubsub_delete'):
        c.add_event_handler(ev, lambda m, ev=ev, c=c: c.events.put_nowait((ev, m)))
    c.interests = interests
    return c

async def connect(c):
    fut = asyncio.get_event_loop().create_future()
    c.add_event_handler('session_start', lambda e: fut.done() or fut.set_result(True))
    c.connect((host, int(port)))
    await asyncio.wait_for(fut, 20)
    for ns in c.interests:
        c['xep_0030'].add_feature(ns + '+notify')
    await c['xep_0115'].update_caps(broadcast=False)
    await c.get_roster()
    c.send_presence()

async def fails(name, coro):
    try:
        await coro
        out('ERR', name, 'none')
    except IqError as e:
        err = e.iq['error']
        app = ''
        for child in err.xml:
            if child.tag.startswith('{http://jabber.org/protocol/pubsub#errors}'):
                app = child.tag.split('}')[1]
        out('ERR', name, err['condition'], app or '-')

async def event(c, want, timeout=10):
    try:
        kind, msg = await asyncio.wait_for(c.events.get(), timeout)
    except asyncio.TimeoutError:
        return None
    if kind != want:
        out('UNEXPECTED', kind)
    return msg

async def none(c, name, timeout=1.5):
    try:
        kind, msg = await asyncio.wait_for(c.events.get(), timeout)
        out('UNEXPECTED', name, kind, msg['from'])
    except asyncio.TimeoutError:
        pass

def options(c, fields):
    f = c['xep_0004'].make_form(ftype='submit')
    f.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f

def mood(text):
    return ET.fromstring("<mood xmlns='%s'><text>%s</text></mood>" % (MOOD, text))

async def main():
    alice = client('alice@localhost', 'alicepw', (MOOD,))
    bob = client('bob@localhost', 'bobpw', (MOOD,))
    carol = client('carol@localhost', 'carolpw')
    await connect(alice); await connect(bob); await connect(carol)
    alice_jid, bob_jid = slixmpp.JID('alice@localhost'), slixmpp.JID('bob@localhost')

    # alice and bob see each other's presence (subscription both).
    roster = await alice.get_roster()
    if alice.client_roster[bob_jid]['subscription'] != 'both':
        alice.send_presence_subscription(pto=bob_jid)
        for _ in range(50):
            await asyncio.sleep(0.1)
            if alice.client_roster[bob_jid]['subscription'] == 'both' and bob.client_roster[alice_jid]['subscription'] == 'both':
                break
    out('ROSTER', alice.client_roster[bob_jid]['subscription'], bob.client_roster[alice_jid]['subscription'])
    bob.send_presence()
    alice.send_presence()
    await asyncio.sleep(1.5)  # presences and capabilities reach the service

    # Clean up what an earlier run left (a shared server).
    for n in (MOOD, PRIVATE, FEED):
        try:
            await alice['xep_0060'].delete_node(None, n)
        except (IqError, IqTimeout):
            pass
    while not alice.events.empty(): alice.events.get_nowait()
    while not bob.events.empty(): bob.events.get_nowait()

    info = await alice['xep_0030'].get_info(jid=alice_jid)
    ids = [(i[0], i[1]) for i in info['disco_info']['identities']]
    feats = info['disco_info']['features']
    out('DISCO-PEP', ('pubsub', 'pep') in ids, 'http://jabber.org/protocol/pubsub#publish-options' in feats,
        'http://jabber.org/protocol/pubsub#auto-create' in feats)

    # Auto-create on first publish (XEP-0163 §3), notifications to the
    # resources whose caps want the node (+notify), from alice's address.
    res = await alice['xep_0060'].publish(None, MOOD, id='current', payload=mood('happy'))
    out('PUBLISH', res['pubsub']['publish']['item']['id'])
    msg = await event(bob, 'pubsub_publish')
    if msg is None:
        out('BOB-EVENT none')
    else:
        item = msg['pubsub_event']['items']['item']
        text = item['payload'].find('{%s}text' % MOOD)
        out('BOB-EVENT', msg['from'].bare, msg['pubsub_event']['items']['node'], text.text if text is not None else None)
    msg = await event(alice, 'pubsub_publish')
    out('ALICE-EVENT', msg is not None and msg['from'].bare)
    await none(carol, 'carol')

    res = await bob['xep_0060'].get_items(alice_jid, MOOD)
    out('BOB-ITEMS', [i['id'] for i in res['pubsub']['items']])
    res = await alice['xep_0060'].get_items(None, MOOD)
    out('ALICE-ITEMS', [i['id'] for i in res['pubsub']['items']])
    await fails('carol-items', carol['xep_0060'].get_items(alice_jid, MOOD))
    res = await alice['xep_0060'].get_node_config(None, MOOD)
    vals = res['pubsub_owner']['configure']['form'].get_values()
    out('CONFIG', vals.get('pubsub#access_model'), vals.get('pubsub#max_items'), vals.get('pubsub#send_last_published_item'))

    # Replacing the singleton item: one item, notified again.
    await alice['xep_0060'].publish(None, MOOD, id='current', payload=mood('calm'))
    msg = await event(bob, 'pubsub_publish')
    out('BOB-EVENT2', msg is not None and msg['pubsub_event']['items']['item']['payload'].find('{%s}text' % MOOD).text)
    await event(alice, 'pubsub_publish')
    res = await bob['xep_0060'].get_items(alice_jid, MOOD)
    out('BOB-ITEMS2', [i['id'] for i in res['pubsub']['items']])

    # A second resource of bob comes online: the last item (on_sub_and_presence).
    bob2 = client('bob@localhost/second', 'bobpw', (MOOD,))
    await connect(bob2)
    msg = await event(bob2, 'pubsub_publish')
    out('BOB2-LAST', msg is not None and msg['pubsub_event']['items']['item']['id'])

    # Private storage the XEP-0223 way: publish-options create a whitelist
    # node with max_items=max; others are shut out; the same options match
    # again, other ones do not.
    opts = {'pubsub#persist_items': 'true', 'pubsub#access_model': 'whitelist',
            'pubsub#send_last_published_item': 'never', 'pubsub#max_items': 'max'}
    await alice['xep_0060'].publish(None, PRIVATE, id='b1', payload=ET.fromstring("<conf xmlns='%s'/>" % PRIVATE), options=options(alice, opts))
    await alice['xep_0060'].publish(None, PRIVATE, id='b2', payload=ET.fromstring("<conf xmlns='%s'/>" % PRIVATE), options=options(alice, opts))
    res = await alice['xep_0060'].get_items(None, PRIVATE)
    out('PRIVATE', sorted(i['id'] for i in res['pubsub']['items']))
    await fails('bob-private', bob['xep_0060'].get_items(alice_jid, PRIVATE))
    await fails('options-mismatch', alice['xep_0060'].publish(None, PRIVATE, id='b3',
        payload=ET.fromstring("<conf xmlns='%s'/>" % PRIVATE), options=options(alice, {'pubsub#access_model': 'open'})))
    await none(bob, 'bob-private-event')

    # Paging alice's feed with XEP-0059, newest first.
    for i in range(5):
        await alice['xep_0060'].publish(None, FEED, id='f%d' % i, payload=ET.fromstring("<e xmlns='%s'>%d</e>" % (FEED, i)),
                                        options=options(alice, {'pubsub#max_items': '10', 'pubsub#access_model': 'presence'}))
    pages = []
    iq = bob.Iq(sto=alice_jid, stype='get')
    iq['pubsub']['items']['node'] = FEED
    async for page in bob['xep_0059'].iterate(iq, 'pubsub', amount=2):
        pages.append([i['id'] for i in page['pubsub']['items']])
    out('RSM-PAGES', pages)

    # Retract and delete reach bob.
    await alice['xep_0060'].retract(None, MOOD, 'current', notify=True)
    msg = await event(bob, 'pubsub_retract')
    out('BOB-RETRACT', msg is not None and msg['pubsub_event']['items']['retract']['id'])
    await alice['xep_0060'].delete_node(None, MOOD)
    msg = await event(bob, 'pubsub_delete')
    out('NODE-DELETED', True)
    await fails('bob-create', bob['xep_0060'].create_node(alice_jid, 'urn:xmppkit:test:intruder'))

    for c in (alice, bob, bob2, carol):
        c.disconnect()
    out('DONE')

asyncio.get_event_loop().run_until_complete(main())
