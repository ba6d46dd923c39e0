# slixmpp as a user of the gateway: registers in two steps through the
# XEP-0050 "register" command (a code, as networks that send one by SMS),
# then joins a group chat (XEP-0045) and checks occupant ids (XEP-0421),
# stanza ids (XEP-0359), reflections and reactions (XEP-0444) in the room.
#
# usage: groups.py JID PASSWORD GATEWAY HOST PORT CAFILE
import asyncio
import json
import sys

import slixmpp
from slixmpp.plugins.xep_0004.stanza import Form

jid, password, gateway, host, port, cafile = sys.argv[1:7]
room = "team@" + gateway
out = {"errors": []}
NS_CMD = "http://jabber.org/protocol/commands"


def occupant_id(st):
    el = st.xml.find("{urn:xmpp:occupant-id:0}occupant-id")
    return el.get("id") if el is not None else None


def stanza_id(st):
    el = st.xml.find("{urn:xmpp:sid:0}stanza-id")
    return (el.get("id"), el.get("by")) if el is not None else (None, None)


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        self.ca_certs = cafile
        for p in ["xep_0030", "xep_0004", "xep_0050", "xep_0045", "xep_0444", "xep_0359", "xep_0421"]:
            self.register_plugin(p)
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = True
        self.inbox = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("groupchat_message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("reactions", lambda m: self.inbox.put_nowait(m))
        # slixmpp's 'presence' event skips some presences of one bare JID
        # (a room's occupants): MUC presence comes through its own event.
        self.add_event_handler("presence", lambda p: self.inbox.put_nowait(p) if p["from"].bare != room else None)
        self.add_event_handler("groupchat_presence", lambda p: self.inbox.put_nowait(p))

    async def wait(self, what, pred, timeout=10):
        end = asyncio.get_event_loop().time() + timeout
        kept = []
        try:
            while True:
                left = end - asyncio.get_event_loop().time()
                if left <= 0:
                    out["errors"].append("timeout: " + what + " seen: " + " | ".join(str(k)[:300] for k in kept[-4:]))
                    return None
                try:
                    st = await asyncio.wait_for(self.inbox.get(), left)
                except asyncio.TimeoutError:
                    out["errors"].append("timeout: " + what + " seen: " + " | ".join(str(k)[:300] for k in kept[-4:]))
                    return None
                if pred(st):
                    return st
                kept.append(st)
        finally:
            for k in kept:
                self.inbox.put_nowait(k)

    async def command(self, node, action, sessionid=None, values=None):
        iq = self.Iq(stype="set", sto=gateway)
        iq["command"]["node"] = node
        iq["command"]["action"] = action
        if sessionid:
            iq["command"]["sessionid"] = sessionid
        if values is not None:
            f = Form()
            f["type"] = "submit"
            for k, v in values.items():
                f.add_field(var=k, value=v)
            iq["command"].append(f)
        return await iq.send()

    async def start(self, _):
        try:
            await self.run()
        except Exception as e:
            import traceback
            out["errors"].append("exception: %r %s" % (e, traceback.format_exc().splitlines()[-3:]))
        finally:
            print(json.dumps(out))
            sys.stdout.flush()
            self.disconnect()

    async def run(self):
        await self.get_roster()
        # Two-step registration through XEP-0050.
        r = await self.command("register", "execute")
        sid = r["command"]["sessionid"]
        out["step1"] = sorted(v for v in r["command"]["form"].get_fields() if v != "FORM_TYPE")
        r = await self.command("register", "next", sid, {"username": "alice", "password": "pw"})
        out["step2"] = sorted(v for v in r["command"]["form"].get_fields() if v != "FORM_TYPE")
        r = await self.command("register", "next", sid, {"code": "123456"})
        out["registered"] = r["command"]["status"]
        self.send_presence()
        p = await self.wait("gateway connected", lambda p: p.name == "presence" and p["from"].bare == gateway and p["status"] == "Connected")
        out["connected"] = p is not None

        # Join the room.
        self.plugin["xep_0045"].join_muc(room, "ally")
        me = await self.wait("self-presence", lambda p: p.name == "presence" and p["from"] == room + "/ally" and 110 in p["muc"]["status_codes"])
        if me is None:
            return
        out["self_codes"] = sorted(me["muc"]["status_codes"])
        out["self_oid"] = occupant_id(me)
        bob = await self.wait("bob's presence", lambda p: p.name == "presence" and p["from"] == room + "/bob")
        out["bob_oid"] = occupant_id(bob) if bob else None
        out["bob_affiliation"] = bob["muc"]["affiliation"] if bob else None
        m = await self.wait("bob's message", lambda m: m.name == "message" and m["body"] == "standup!")
        if m is None:
            return
        out["msg_oid"] = occupant_id(m)
        out["msg_sid"], out["msg_by"] = stanza_id(m)
        # A groupchat message comes back with its id and the network's id.
        mine = self.make_message(mto=room, mbody="morning", mtype="groupchat")
        mine.send()
        refl = await self.wait("the reflection", lambda m: m.name == "message" and m["id"] == mine["id"])
        out["reflection_from"] = str(refl["from"]) if refl else None
        out["reflection_sid"], _ = stanza_id(refl) if refl else (None, None)
        out["reflection_oid"] = occupant_id(refl) if refl else None
        # A reaction to bob's message names its stanza-id.
        react = self.make_message(mto=room, mtype="groupchat")
        self["xep_0444"].set_reactions(react, out["msg_sid"], ["🚀"])
        react.send()
        # carol reacts to ours.
        rx = await self.wait("carol's reaction", lambda m: m.name == "message" and m["from"] == room + "/carol" and m["reactions"]["id"] == out["reflection_sid"])
        out["carol_reaction"] = sorted(rx["reactions"].get_values()) if rx else None
        self.plugin["xep_0045"].leave_muc(room, "ally")
        await asyncio.sleep(0.5)


c = Client()
c.connect((host, int(port)))
c.loop.run_until_complete(c.disconnected)
