# slixmpp (xep_0060 plugin) against the xmppkit pubsub service attached to a
# real server as a component. Arguments: host port service cafile.
# Prints one line per step; the Go test asserts on them.
import asyncio, logging, sys
import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

host, port, svc, ca = sys.argv[1:5]
logging.basicConfig(level=logging.ERROR)
NODE = 'interop'
ATOM = "<entry xmlns='http://www.w3.org/2005/Atom'><title>hi &amp; bye</title></entry>"

def out(*a):
    print(*a, flush=True)

def client(jid, pw):
    c = slixmpp.ClientXMPP(jid, pw)
    for p in ('xep_0030', 'xep_0004', 'xep_0060'):
        c.register_plugin(p)
    c.ca_certs = ca
    c.events = asyncio.Queue()
    for ev in ('pubsub_publish', 'pubsub_retract', 'pubsub_purge', 'pubsub_delete', 'pubsub_config'):
        c.add_event_handler(ev, lambda m, ev=ev, c=c: c.events.put_nowait((ev, m)))
    return c

async def connect(c):
    fut = asyncio.get_event_loop().create_future()
    c.add_event_handler('session_start', lambda e: fut.done() or fut.set_result(True))
    c.connect((host, int(port)))
    await asyncio.wait_for(fut, 20)
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

async def event(c, want):
    kind, msg = await asyncio.wait_for(c.events.get(), 10)
    if kind != want:
        out('UNEXPECTED', kind)
    return msg

def submit(c, form_type, fields):
    f = c['xep_0004'].make_form(ftype='submit')
    f.add_field(var='FORM_TYPE', ftype='hidden', value=form_type)
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f

async def main():
    alice = client('alice@localhost', 'alicepw')
    bob = client('bob@localhost', 'bobpw')
    carol = client('carol@localhost', 'carolpw')
    await connect(alice); await connect(bob); await connect(carol)
    await asyncio.sleep(0.5)  # presence settles

    info = await alice['xep_0030'].get_info(jid=svc)
    ids = [(i[0], i[1]) for i in info['disco_info']['identities']]
    feats = info['disco_info']['features']
    out('DISCO', ('pubsub', 'service') in ids, 'http://jabber.org/protocol/pubsub#publish' in feats)

    # Clean up nodes left by an earlier run against a shared server.
    for n in (NODE, 'wl'):
        try:
            await alice['xep_0060'].delete_node(svc, n)
        except IqError:
            pass

    await alice['xep_0060'].create_node(svc, NODE)
    out('CREATE ok')
    await fails('create-again', alice['xep_0060'].create_node(svc, NODE))
    res = await alice['xep_0060'].create_node(svc, None)
    out('INSTANT', bool(res['pubsub']['create']['node']))
    await alice['xep_0060'].delete_node(svc, res['pubsub']['create']['node'])

    res = await alice['xep_0060'].get_node_config(svc, NODE)
    form = res['pubsub_owner']['configure']['form']
    out('CONFIG-FORM', 'pubsub#max_items' in form.get_fields(), 'pubsub#title' in form.get_fields())
    await alice['xep_0060'].set_node_config(svc, NODE, submit(alice, 'http://jabber.org/protocol/pubsub#node_config',
        {'pubsub#title': 'Interop', 'pubsub#max_items': '10'}))
    res = await alice['xep_0060'].get_node_config(svc, NODE)
    vals = res['pubsub_owner']['configure']['form'].get_values()
    out('CONFIGURED', vals.get('pubsub#title'), vals.get('pubsub#max_items'), vals.get('pubsub#persist_items'))

    res = await bob['xep_0060'].subscribe(svc, NODE)
    sub = res['pubsub']['subscription']
    out('SUBSCRIBE', sub['subscription'], sub['jid'], bool(sub['subid']))
    await fails('subscribe-other', bob['xep_0060'].subscribe(svc, NODE, subscribee='carol@localhost'))
    await fails('unsubscribe-not-subscribed', carol['xep_0060'].unsubscribe(svc, NODE))

    res = await alice['xep_0060'].publish(svc, NODE, id='item1', payload=ET.fromstring(ATOM))
    out('PUBLISH', res['pubsub']['publish']['item']['id'])
    msg = await event(bob, 'pubsub_publish')
    item = msg['pubsub_event']['items']['item']
    title = item['payload'].find('{http://www.w3.org/2005/Atom}title')
    out('EVENT', item['id'], title.text if title is not None else None, bool(msg['id']))
    res = await alice['xep_0060'].publish(svc, NODE, payload=ET.fromstring("<n xmlns='urn:x'>2</n>"))
    id2 = res['pubsub']['publish']['item']['id']
    out('PUBLISH-NOID', bool(id2))
    msg = await event(bob, 'pubsub_publish')
    out('EVENT2', msg['pubsub_event']['items']['item']['id'] == id2)

    res = await bob['xep_0060'].get_items(svc, NODE)
    out('ITEMS', [i['id'] for i in res['pubsub']['items']])
    res = await bob['xep_0060'].get_items(svc, NODE, max_items=1)
    out('ITEMS-MAX1', [i['id'] for i in res['pubsub']['items']])
    res = await bob['xep_0060'].get_items(svc, NODE, item_ids=['item1'])
    t = res['pubsub']['items']['substanzas'][0]['payload'].find('{http://www.w3.org/2005/Atom}title')
    out('ITEM-BYID', t.text)

    await fails('publish-forbidden', bob['xep_0060'].publish(svc, NODE, payload=ET.fromstring("<n xmlns='urn:x'/>")))
    await fails('publish-missing-node', alice['xep_0060'].publish(svc, 'nope', payload=ET.fromstring("<n xmlns='urn:x'/>")))
    await fails('items-missing-node', bob['xep_0060'].get_items(svc, 'nope'))
    opts = submit(alice, 'http://jabber.org/protocol/pubsub#publish-options', {'pubsub#access_model': 'whitelist'})
    await fails('publish-options', alice['xep_0060'].publish(svc, NODE, payload=ET.fromstring("<n xmlns='urn:x'/>"), options=opts))
    await fails('config-forbidden', bob['xep_0060'].get_node_config(svc, NODE))

    await alice['xep_0060'].retract(svc, NODE, 'item1', notify=True)
    msg = await event(bob, 'pubsub_retract')
    out('RETRACT', msg['pubsub_event']['items']['retract']['id'])
    await fails('retract-missing', alice['xep_0060'].retract(svc, NODE, 'item1'))

    res = await bob['xep_0060'].get_subscriptions(svc)
    out('SUBSCRIPTIONS', len(res['pubsub']['subscriptions']))
    res = await alice['xep_0060'].get_node_subscriptions(svc, NODE)
    out('NODE-SUBSCRIPTIONS', [s['jid'].bare for s in res['pubsub_owner']['subscriptions']])
    await alice['xep_0060'].modify_affiliations(svc, NODE, affiliations=[('carol@localhost', 'publisher')])
    res = await alice['xep_0060'].get_node_affiliations(svc, NODE)
    out('AFFILIATIONS', sorted((str(a['jid']), a['affiliation']) for a in res['pubsub_owner']['affiliations']))
    await carol['xep_0060'].publish(svc, NODE, id='c1', payload=ET.fromstring("<n xmlns='urn:x'>c</n>"))
    msg = await event(bob, 'pubsub_publish')
    out('CAROL-EVENT', msg['pubsub_event']['items']['item']['id'])

    await alice['xep_0060'].purge(svc, NODE)
    msg = await event(bob, 'pubsub_purge')
    out('PURGE', msg['pubsub_event']['purge']['node'])
    res = await bob['xep_0060'].get_items(svc, NODE)
    out('ITEMS-AFTER-PURGE', len(res['pubsub']['items']))

    await alice['xep_0060'].delete_node(svc, NODE)
    msg = await event(bob, 'pubsub_delete')
    out('DELETE', msg['pubsub_event']['delete']['node'])
    res = await bob['xep_0060'].get_subscriptions(svc)
    out('SUBSCRIPTIONS-AFTER-DELETE', len(res['pubsub']['subscriptions']))
    await fails('delete-again', alice['xep_0060'].delete_node(svc, NODE))

    cfg = submit(alice, 'http://jabber.org/protocol/pubsub#node_config', {'pubsub#access_model': 'whitelist'})
    await alice['xep_0060'].create_node(svc, 'wl', config=cfg)
    out('CREATE-WHITELIST ok')
    await fails('subscribe-whitelist', bob['xep_0060'].subscribe(svc, 'wl'))
    await fails('items-whitelist', bob['xep_0060'].get_items(svc, 'wl'))
    await alice['xep_0060'].modify_affiliations(svc, 'wl', affiliations=[('bob@localhost', 'member')])
    res = await bob['xep_0060'].subscribe(svc, 'wl')
    out('SUBSCRIBE-MEMBER', res['pubsub']['subscription']['subscription'])
    await alice['xep_0060'].delete_node(svc, 'wl')
    msg = await event(bob, 'pubsub_delete')
    out('DELETE', msg['pubsub_event']['delete']['node'])

    for c in (alice, bob, carol):
        c.disconnect()
    out('DONE')

asyncio.get_event_loop().run_until_complete(main())
