# slixmpp as a user of the gateway: registers (XEP-0077 with a data form),
# takes the contacts (roster push or subscription requests), and checks every
# mapped feature both ways with slixmpp's own plugins. The Go test plays the
# legacy network; "go" asks its contact bob to send everything once.
#
# usage: client.py JID PASSWORD GATEWAY HOST PORT CAFILE
# prints one JSON object: what was seen, and the ids to check on the Go side.
import asyncio
import json
import sys

import slixmpp
from slixmpp.plugins.xep_0004.stanza import Form

jid, password, gateway, host, port, cafile = sys.argv[1:7]
bob = "bob@" + gateway
out = {"errors": []}


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        self.ca_certs = cafile
        for p in ["xep_0030", "xep_0004", "xep_0077", "xep_0280", "xep_0308",
                  "xep_0444", "xep_0461", "xep_0333", "xep_0184", "xep_0085",
                  "xep_0424", "xep_0359", "xep_0054", "xep_0060", "xep_0084",
                  "xep_0199"]:
            self.register_plugin(p)
        self["xep_0184"].auto_ack = True
        self["xep_0184"].auto_request = False
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = True
        self.inbox = asyncio.Queue()
        self.seen_presence = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(("message", m)))
        self.add_event_handler("carbon_sent", lambda m: self.inbox.put_nowait(("carbon_sent", m)))
        # 'message' is only for messages with a body: the others come
        # through their plugins' events.
        for ev in ["receipt_received", "reactions", "marker_displayed", "chatstate_composing"]:
            self.add_event_handler(ev, lambda m: self.inbox.put_nowait(("message", m)))
        self.add_event_handler("presence", lambda p: self.seen_presence.put_nowait(p))

    async def wait(self, what, pred, timeout=10):
        end = asyncio.get_event_loop().time() + timeout
        kept = []
        try:
            while True:
                left = end - asyncio.get_event_loop().time()
                if left <= 0:
                    out["errors"].append("timeout: " + what)
                    return None
                try:
                    kind, m = await asyncio.wait_for(self.inbox.get(), left)
                except asyncio.TimeoutError:
                    out["errors"].append("timeout: " + what)
                    return None
                if pred(kind, m):
                    return m
                kept.append((kind, m))
        finally:
            for k in kept:
                self.inbox.put_nowait(k)

    async def wait_presence(self, what, pred, timeout=10):
        end = asyncio.get_event_loop().time() + timeout
        while True:
            left = end - asyncio.get_event_loop().time()
            if left <= 0:
                out["errors"].append("timeout: " + what)
                return None
            try:
                p = await asyncio.wait_for(self.seen_presence.get(), left)
            except asyncio.TimeoutError:
                out["errors"].append("timeout: " + what)
                return None
            if pred(p):
                return p

    async def start(self, _):
        try:
            await self.run()
        except Exception as e:  # report, never hang
            import traceback
            out["errors"].append("exception: %r %s" % (e, traceback.format_exc().splitlines()[-3:]))
        finally:
            print(json.dumps(out))
            sys.stdout.flush()
            self.disconnect()

    async def run(self):
        await self.get_roster()
        await self["xep_0280"].enable()
        # XEP-0077: the form, then a submission.
        iq = await self["xep_0077"].get_registration(jid=gateway)
        form = iq["register"]["form"]
        out["form_fields"] = sorted(v for v in form.get_fields() if v != "FORM_TYPE")
        sub = self.Iq(stype="set", sto=gateway)
        f = Form()
        f["type"] = "submit"
        f.add_field(var="FORM_TYPE", ftype="hidden", value="jabber:iq:register")
        f.add_field(var="username", value="alice")
        f.add_field(var="password", value="pw")
        sub["register"].append(f)
        await sub.send()
        self.send_presence()
        p = await self.wait_presence("gateway connected",
                                     lambda p: p["from"].bare == gateway and p["type"] == "available" and p["status"] == "Connected")
        out["connected"] = p is not None
        # bob: pushed into the roster, or asking to subscribe.
        for _ in range(100):
            if bob in self.client_roster and self.client_roster[bob]["subscription"] in ("both", "to", "from"):
                break
            await asyncio.sleep(0.05)
        out["roster"] = self.client_roster[bob]["subscription"] if bob in self.client_roster else "missing"
        out["roster_name"] = self.client_roster[bob]["name"] if bob in self.client_roster else ""

        # user -> network: a message with a receipt request.
        hello = self.make_message(mto=bob, mbody="hello bob", mtype="chat")
        hello["request_receipt"] = True
        hello["chat_state"] = "active"
        hello.send()
        out["hello_id"] = hello["id"]
        r = await self.wait("receipt", lambda k, m: k == "message" and m["receipt"] == hello["id"])
        out["receipt"] = r is not None

        # network -> user: bob sends everything once.
        self.send_message(mto=bob, mbody="go", mtype="chat")
        m1 = await self.wait("bob's message", lambda k, m: k == "message" and m["from"].bare == bob and m["body"] == "from bob")
        if m1 is None:
            return
        out["m1_id"] = m1["id"]
        out["m1_origin"] = m1["origin_id"]["id"]
        c = await self.wait("correction", lambda k, m: k == "message" and m["replace"]["id"] == m1["id"])
        out["correction"] = c["body"] if c else None
        rx = await self.wait("reaction", lambda k, m: k == "message" and m["reactions"]["id"] == hello["id"])
        out["reaction"] = sorted(rx["reactions"].get_values()) if rx else None
        rp = await self.wait("reply", lambda k, m: k == "message" and m["reply"]["id"] == hello["id"])
        out["reply"] = rp["body"] if rp else None
        d = await self.wait("displayed", lambda k, m: k == "message" and m["displayed"]["id"] == hello["id"])
        out["displayed"] = d is not None
        cs = await self.wait("composing", lambda k, m: k == "message" and m["chat_state"] == "composing" and m["from"].bare == bob)
        out["composing"] = cs is not None
        rt = await self.wait("retraction", lambda k, m: k == "message" and m["apply_to"]["id"] == m1["id"])
        out["retraction"] = rt is not None

        # user -> network: each feature through slixmpp's plugins.
        fix = self.make_message(mto=bob, mbody="hello Bob", mtype="chat")
        fix["replace"]["id"] = hello["id"]
        fix.send()
        self["xep_0444"].send_reactions(bob, m1["id"], ["👍"])
        self["xep_0461"].send_reply(bob + "", m1["id"], mto=bob, mbody="yes", mtype="chat")
        self["xep_0333"].send_marker(bob, m1["id"], "displayed")
        cm = self.make_message(mto=bob, mtype="chat")
        cm["chat_state"] = "composing"
        cm.send()
        self["xep_0424"].send_retraction(bob, hello["id"])
        # Own message from the network's other client: a sent carbon.
        self.send_message(mto=bob, mbody="own", mtype="chat")
        own = await self.wait("own message carbon", lambda k, m: k == "carbon_sent" and m["carbon_sent"]["body"] == "sent elsewhere")
        if own is not None:
            fwd = own["carbon_sent"]
            out["own"] = {"from": str(fwd["from"].bare), "to": str(fwd["to"].bare), "body": fwd["body"]}
        else:
            note = await self.wait("own message note", lambda k, m: k == "message" and "sent elsewhere" in m["body"], timeout=3)
            out["own_note"] = note["body"] if note else None

        # Avatars: vCard (XEP-0054/0153) and PEP (XEP-0084) at the puppet.
        self.send_message(mto=bob, mbody="avatar", mtype="chat")
        def photo(p):
            el = p.xml.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
            return el.text if el is not None else None
        pr = await self.wait_presence("avatar hash in presence",
                                      lambda p: p["from"].bare == bob and photo(p))
        out["photo_hash"] = photo(pr) if pr else None
        vc = await self["xep_0054"].get_vcard(jid=bob)
        nick = vc["vcard_temp"]["NICKNAME"]
        out["vcard_nick"] = ",".join(nick) if isinstance(nick, list) else nick
        out["vcard_photo_bytes"] = len(vc["vcard_temp"]["PHOTO"]["BINVAL"] or b"")
        meta = await self["xep_0060"].get_items(bob, "urn:xmpp:avatar:metadata")
        items = list(meta["pubsub"]["items"])
        out["pep_avatar_id"] = items[0]["id"] if items else None
        data = await self["xep_0060"].get_items(bob, "urn:xmpp:avatar:data", item_ids=[out["pep_avatar_id"]])
        out["pep_avatar_bytes"] = len(list(data["pubsub"]["items"])[0]["payload"].text or "")
        self.send_message(mto=bob, mbody="done", mtype="chat")
        await asyncio.sleep(0.3)


c = Client()
c.connect((host, int(port)))
c.loop.run_until_complete(c.disconnected)
