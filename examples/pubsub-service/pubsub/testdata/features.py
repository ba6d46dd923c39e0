# slixmpp (xep_0060, xep_0059, xep_0050, xep_0004) against the xmppkit pubsub
# service attached to a real server (or the embedded router) with the
# XEP-0356 roster and presence permissions: the authorize access model with
# its approval forms and ad-hoc commands, the presence access model,
# XEP-0059 pages of items and of nodes, publish-only, the admin commands,
# and bad input. Arguments: host port service cafile. Prints one line per
# step; the Go test asserts on them.
import asyncio, logging, sys
import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET, register_stanza_plugin
from slixmpp.plugins.xep_0059 import Set
from slixmpp.plugins.xep_0060.stanza.pubsub import Pubsub

register_stanza_plugin(Pubsub, Set)  # XEP-0059 inside <pubsub/> (XEP-0060 §6.5.4)

host, port, svc, ca = sys.argv[1:5]
logging.basicConfig(level=logging.ERROR)
AUTH = 'http://jabber.org/protocol/pubsub#subscribe_authorization'
NODES = ('club', 'friends', 'n1', 'n2', 'n3', 'n4', 'n5')

def out(*a):
    print(*a, flush=True)

def client(jid, pw):
    c = slixmpp.ClientXMPP(jid, pw)
    for p in ('xep_0030', 'xep_0004', 'xep_0050', 'xep_0059', 'xep_0060'):
        c.register_plugin(p)
    c.ca_certs = ca
    c.auto_authorize = True
    c.auto_subscribe = True
    c.events = asyncio.Queue()
    c.forms = asyncio.Queue()
    c.errors = asyncio.Queue()
    for ev in ('pubsub_publish', 'pubsub_subscription'):
        c.add_event_handler(ev, lambda m, ev=ev, c=c: c.events.put_nowait((ev, m)))
    def on_message(m, c=c):
        if m['form']['type'] == 'form':
            c.forms.put_nowait(m)
    c.add_event_handler('message', on_message)
    c.add_event_handler('message_error', lambda m, c=c: c.errors.put_nowait(m))
    return c

async def connect(c):
    fut = asyncio.get_event_loop().create_future()
    c.add_event_handler('session_start', lambda e: fut.done() or fut.set_result(True))
    c.connect((host, int(port)))
    await asyncio.wait_for(fut, 20)
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

async def get(q, timeout=10):
    try:
        return await asyncio.wait_for(q.get(), timeout)
    except asyncio.TimeoutError:
        return None

def submit(c, form_type, fields):
    f = c['xep_0004'].make_form(ftype='submit')
    f.add_field(var='FORM_TYPE', ftype='hidden', value=form_type)
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f

def answer(c, req, allow):
    # The owner submits the approval form back, with the request's id (§8.6).
    f = req['form']
    m = c.make_message(mto=svc)
    m['id'] = req['id']
    m.append(submit(c, AUTH, {'pubsub#node': f.get_values()['pubsub#node'],
                                 'pubsub#subscriber_jid': str(f.get_values()['pubsub#subscriber_jid']),
                                 'pubsub#allow': 'true' if allow else 'false'}))
    m.send()

async def main():
    alice = client('alice@localhost', 'alicepw')
    bob = client('bob@localhost', 'bobpw')
    carol = client('carol@localhost', 'carolpw')
    await connect(alice); await connect(bob); await connect(carol)
    bob_jid, alice_jid = slixmpp.JID('bob@localhost'), slixmpp.JID('alice@localhost')
    if alice.client_roster[bob_jid]['subscription'] != 'both':
        alice.send_presence_subscription(pto=bob_jid)
        for _ in range(50):
            await asyncio.sleep(0.1)
            if alice.client_roster[bob_jid]['subscription'] == 'both' and bob.client_roster[alice_jid]['subscription'] == 'both':
                break
    alice.send_presence(); bob.send_presence()
    await asyncio.sleep(0.5)
    for n in NODES:
        try:
            await alice['xep_0060'].delete_node(svc, n)
        except (IqError, IqTimeout):
            pass

    # The authorize access model (XEP-0060 §4.5, §8.6).
    await alice['xep_0060'].create_node(svc, 'club', config=submit(alice, 'http://jabber.org/protocol/pubsub#node_config',
                                                                 {'pubsub#access_model': 'authorize'}))
    await alice['xep_0060'].publish(svc, 'club', id='news', payload=ET.fromstring("<n xmlns='urn:x'>members only</n>"))
    res = await bob['xep_0060'].subscribe(svc, 'club')
    out('SUB', res['pubsub']['subscription']['subscription'])
    await fails('pending-items', bob['xep_0060'].get_items(svc, 'club'))
    req = await get(alice.forms)
    vals = req['form'].get_values() if req else {}
    out('AUTH-FORM', vals.get('FORM_TYPE') in (AUTH, [AUTH]), vals.get('pubsub#node'), str(vals.get('pubsub#subscriber_jid')), 'pubsub#allow' in vals)
    # Someone who does not own the node answers: forbidden, still pending.
    answer(carol, req, True)
    err = await get(carol.errors)
    out('STRANGER', err is not None and err['error']['condition'])
    await fails('still-pending', bob['xep_0060'].get_items(svc, 'club'))
    answer(alice, req, True)
    ev = await get(bob.events)
    out('APPROVED', ev is not None and ev[1]['pubsub_event']['subscription']['subscription'])
    ev = await get(bob.events)
    out('LAST', ev is not None and ev[1]['pubsub_event']['items']['item']['id'])
    res = await bob['xep_0060'].get_items(svc, 'club')
    out('ITEMS', [i['id'] for i in res['pubsub']['items']])

    # get-pending (§8.7) and manage-pending through XEP-0050.
    await carol['xep_0060'].subscribe(svc, 'club')
    await get(alice.forms)
    res = await alice['xep_0050'].send_command(svc, 'http://jabber.org/protocol/pubsub#get-pending')
    sid = res['command']['sessionid']
    opts = [o['value'] for o in res['command']['form'].get_fields()['pubsub#node']['options']]
    out('GET-PENDING-NODES', opts)
    res = await alice['xep_0050'].send_command(svc, 'http://jabber.org/protocol/pubsub#get-pending', action='complete',
                                               sessionid=sid, payload=submit(alice, AUTH, {'pubsub#node': 'club'}))
    out('GET-PENDING', res['command']['status'])
    req = await get(alice.forms)
    out('GET-PENDING-FORM', req is not None and str(req['form'].get_values()['pubsub#subscriber_jid']))
    res = await alice['xep_0050'].send_command(svc, 'urn:xmppkit:pubsub#manage-pending')
    sid = res['command']['sessionid']
    res = await alice['xep_0050'].send_command(svc, 'urn:xmppkit:pubsub#manage-pending', action='next',
                                               sessionid=sid, payload=submit(alice, AUTH, {'pubsub#node': 'club'}))
    f = alice['xep_0004'].make_form(ftype='submit')
    f.add_field(var='FORM_TYPE', ftype='hidden', value=AUTH)
    f.add_field(var='deny', ftype='list-multi', value=['carol@localhost'])
    res = await alice['xep_0050'].send_command(svc, 'urn:xmppkit:pubsub#manage-pending', action='complete', sessionid=sid, payload=f)
    out('MANAGE-PENDING', res['command']['status'])
    ev = await get(carol.events)
    out('DENIED', ev is not None and ev[1]['pubsub_event']['subscription']['subscription'])
    await fails('bob-get-pending', bob['xep_0050'].send_command(svc, 'http://jabber.org/protocol/pubsub#get-pending'))

    # The presence access model through the XEP-0356 roster permission.
    res = await alice['xep_0060'].get_node_config(svc)
    models = [o['value'] for o in res['pubsub_owner']['default']['form'].get_fields()['pubsub#access_model']['options']]
    out('MODELS', models)
    await alice['xep_0060'].create_node(svc, 'friends', config=submit(alice, 'http://jabber.org/protocol/pubsub#node_config',
                                                                    {'pubsub#access_model': 'presence'}))
    res = await bob['xep_0060'].subscribe(svc, 'friends')
    out('FRIEND', res['pubsub']['subscription']['subscription'])
    await fails('stranger-subscribe', carol['xep_0060'].subscribe(svc, 'friends'))
    await fails('stranger-items', carol['xep_0060'].get_items(svc, 'friends'))

    # Items paged with XEP-0059, newest first.
    for i in range(7):
        await alice['xep_0060'].publish(svc, 'club', id='i%d' % i, payload=ET.fromstring("<n xmlns='urn:x'>%d</n>" % i))
    while not bob.events.empty(): bob.events.get_nowait()
    iq = bob.Iq(sto=svc, stype='get')
    iq['pubsub']['items']['node'] = 'club'
    pages = []
    async for page in bob['xep_0059'].iterate(iq, 'pubsub', amount=3):
        pages.append([i['id'] for i in page['pubsub']['items']])
    out('ITEM-PAGES', pages)

    # Nodes paged with XEP-0059 (disco#items).
    for n in NODES[2:]:
        await alice['xep_0060'].create_node(svc, n)
    seen = []
    it = await bob['xep_0030'].get_items(svc, iterator=True)
    it.amount = 3
    async for page in it:
        seen.extend(i[1] for i in page['disco_items']['items'])
    out('NODE-PAGES', sorted(seen))

    # publish-only (XEP-0060 §4.1).
    await alice['xep_0060'].modify_affiliations(svc, 'club', affiliations=[('carol@localhost', 'publish-only')])
    res = await carol['xep_0060'].publish(svc, 'club', id='c1', payload=ET.fromstring("<n xmlns='urn:x'>carol</n>"))
    out('PUBLISH-ONLY', res['pubsub']['publish']['item']['id'])
    await fails('publish-only-items', carol['xep_0060'].get_items(svc, 'club'))
    await fails('publish-only-retract-other', carol['xep_0060'].retract(svc, 'club', 'i0'))

    # The admin commands (alice administers the service).
    cmds = await alice['xep_0050'].get_commands(svc)
    nodes = [i[1] for i in cmds['disco_items']['items']]
    bobs = await bob['xep_0050'].get_commands(svc)
    out('ADMIN', 'urn:xmppkit:pubsub:admin#list-nodes' in nodes,
        'urn:xmppkit:pubsub:admin#list-nodes' in [i[1] for i in bobs['disco_items']['items']])
    res = await alice['xep_0050'].send_command(svc, 'urn:xmppkit:pubsub:admin#list-nodes')
    sid = res['command']['sessionid']
    res = await alice['xep_0050'].send_command(svc, 'urn:xmppkit:pubsub:admin#list-nodes', action='complete', sessionid=sid,
                                               payload=submit(alice, 'urn:xmppkit:pubsub:admin', {'max': '100'}))
    out('LIST-NODES', sorted(i['node'] for i in res['command']['form'].get_items() if i['node'] in NODES))

    # Bad input: nothing changes.
    await fails('unknown-field', alice['xep_0060'].set_node_config(svc, 'club', submit(alice,
        'http://jabber.org/protocol/pubsub#node_config', {'pubsub#no_such_option': '1'})))
    await fails('bad-value', alice['xep_0060'].set_node_config(svc, 'club', submit(alice,
        'http://jabber.org/protocol/pubsub#node_config', {'pubsub#max_items': 'lots'})))
    res = await bob['xep_0060'].get_subscriptions(svc, 'club')
    subid = res['pubsub']['subscriptions']['substanzas'][0]['subid']
    await fails('others-subid', carol['xep_0060'].unsubscribe(svc, 'club', subscribee='bob@localhost', subid=subid))
    iq = bob.Iq(sto=svc, stype='set')
    opts = ET.Element('{http://jabber.org/protocol/pubsub}options', node='club', jid='bob@localhost', subid=subid)
    opts.append(submit(bob, 'http://jabber.org/protocol/pubsub#subscribe_options', {'pubsub#deliver': 'maybe'}).xml)
    iq['pubsub'].xml.append(opts)
    await fails('bad-options', iq.send())
    res = await bob['xep_0060'].get_subscriptions(svc, 'club')
    out('BOB-STILL', [s['subscription'] for s in res['pubsub']['subscriptions']])

    for n in NODES:
        try:
            await alice['xep_0060'].delete_node(svc, n)
        except (IqError, IqTimeout):
            pass
    for c in (alice, bob, carol):
        c.disconnect()
    out('DONE')

asyncio.get_event_loop().run_until_complete(main())
