package command_test

import (
	"context"
	"os"
	"testing"

	"xmppkit.dev/command"
	"xmppkit.dev/command/admin"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/internal/interop"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/servertest"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

// interopService is the service slixmpp drives: a one-stage command, a
// two-stage wizard, and the XEP-0133 online-users commands for alice.
func interopService(string) mux.Handler {
	var reg command.Registry
	reg.HandleFunc("uptime", "Show uptime", func(ctx context.Context, r *command.Request) (*command.Response, error) {
		return command.Done(command.InfoNote("up, " + r.From.Bare().String())), nil
	})
	reg.Add(command.Command{Node: "config", Name: "Configure", Handler: &command.Wizard{
		Steps: []command.Step{
			{Form: form.Form{Title: "Service", Fields: []form.Field{
				{Type: form.ListSingle, Var: "service", Label: "Service", Required: true,
					Options: []form.Option{{Value: "httpd"}, {Value: "jabberd"}}},
			}}},
			{Build: func(ctx context.Context, r *command.Request, prev []*form.Form) (form.Form, error) {
				s, _ := prev[0].Get("service")
				return form.Form{Title: "Port of " + s, Fields: []form.Field{
					{Type: form.TextSingle, Var: "port", Label: "Port", Required: true},
					{Type: form.JIDMulti, Var: "notify", Label: "Notify"},
				}}, nil
			}, Check: func(ctx context.Context, r *command.Request, f *form.Form) error {
				if _, ok, err := f.Int("port"); !ok || err != nil {
					return command.BadPayload("the port must be a number")
				}
				return nil
			}},
		},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			s, _ := forms[0].Get("service")
			p, _ := forms[1].Get("port")
			res := &form.Form{Type: form.TypeResult}
			res.Set(form.TextSingle, "summary", s+":"+p)
			res.Set(form.JIDMulti, "notified", forms[1].Values("notify")...)
			return command.Result(res, command.InfoNote("configured")), nil
		},
	}})
	admin.Commands{
		IsAdmin: func(e jid.JID) bool { return e.Local() == "alice" },
		OnlineUsers: func(context.Context) ([]jid.JID, error) {
			return []jid.JID{jid.MustParse("alice@localhost"), jid.MustParse("bob@localhost")}, nil
		},
	}.Add(&reg)
	m := mux.New()
	reg.Register(m)
	disco.New(m).Register(m)
	return m
}

// commandScript drives the service's commands with slixmpp's xep_0050:
// the command list, a one-stage command, the wizard through slixmpp's own
// session workflow (start_command, continue_command, complete_command) and
// again by hand with prev and cancel, and every error case of §4.4.
const commandScript = `
def form(c, **fields):
    f = c['xep_0004'].make_form(ftype='submit')
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f

async def cmd(c, node, action='execute', sessionid=None, payload=None):
    try:
        r = await c['xep_0050'].send_command(svc, node, action=action, sessionid=sessionid, payload=payload, timeout=10)
        return r
    except IqError as e:
        cond, app = stanza_error(e)
        out('ERROR', node, action, cond, app)
        return None

def actions(r):
    a = r['command'].xml.find('{http://jabber.org/protocol/commands}actions')
    if a is None:
        return '-'
    return a.get('execute', '') + ':' + ','.join(x.tag.split('}')[1] for x in a)

async def run(c):
    items = await c['xep_0050'].get_commands(svc, timeout=10)
    out('LIST', ' | '.join(sorted(i[2] for i in items['disco_items']['items'])))
    info = await c['xep_0030'].get_info(jid=svc, node='config', timeout=10)
    out('NODE', [i[0] + '/' + i[1] for i in info['disco_info']['identities']], sorted(info['disco_info']['features']))

    r = await cmd(c, 'uptime')
    out('UPTIME', r['command']['status'], r['command']['notes'])

    # slixmpp's own workflow: a callback per stage.
    done = asyncio.get_event_loop().create_future()
    def stage(iq, session):
        f = iq['command']['form']
        if iq['command']['status'] == 'completed':
            done.set_result(iq)
            return
        out('FLOW', f['title'], actions(iq))
        if f['title'] == 'Service':
            session['payload'] = form(c, service='jabberd')
            c['xep_0050'].continue_command(session)
        else:
            session['payload'] = form(c, port='5347', notify=['bob@localhost', 'carol@localhost'])
            c['xep_0050'].complete_command(session)
    def error(iq, session):
        done.set_exception(Exception('error %s' % iq['error']['condition']))
    c['xep_0050'].start_command(svc, 'config', {'next': stage, 'error': error})
    res = await asyncio.wait_for(done, 10)
    vals = res['command']['form'].get_values()
    out('FLOWDONE', vals['summary'], ','.join(vals['notified']), res['command']['notes'])

    # By hand: bad submissions, prev, a stranger's session, cancel.
    r = await cmd(c, 'config')
    sid = r['command']['sessionid']
    await cmd(c, 'config', 'next', sid, form(c, service='nginx'))
    await cmd(c, 'config', 'next', sid, form(c))
    await cmd(c, 'config', 'complete', sid, form(c, service='httpd'))
    await cmd(c, 'config', 'prev', sid)
    r = await cmd(c, 'config', 'next', sid, form(c, service='httpd'))
    out('STAGE2', r['command']['form']['title'], actions(r))
    await cmd(c, 'config', 'next', sid, form(c, port='eighty'))
    r = await cmd(c, 'config', 'prev', sid)
    out('BACK', r['command']['form']['title'], r['command']['form'].get_values()['service'])
    r = await cmd(c, 'config', 'cancel', sid)
    out('CANCEL', r['command']['status'])
    await cmd(c, 'config', 'next', sid, form(c, service='httpd'))
    await cmd(c, 'config', 'next', 'forged-session-id', form(c, service='httpd'))
    await cmd(c, 'config', 'jump')
    await cmd(c, 'nope')

    r = await cmd(c, admin + '#get-online-users-num')
    if r is not None:
        out('ONLINE', r['command']['form'].get_values()['onlineusersnum'])
`

func TestSlixmppCommands(t *testing.T) {
	servertest.Python(t)
	interop.Each(t, interopService, func(t *testing.T, tg interop.Target) {
		body := commandScript + "\nadmin = '" + admin.NS + "'\n"
		want := []string{
			"LIST Configure | Get List of Online Users | Get Number of Online Users | Send Announcement to Online Users | Show uptime",
			"NODE ['automation/command-node'] ['http://jabber.org/protocol/commands', 'http://jabber.org/protocol/disco#info', 'jabber:x:data']",
			"UPTIME completed [('info', 'up, alice@localhost')]",
			"FLOW Service next:next",
			"FLOW Port of jabberd complete:prev,complete",
			"FLOWDONE jabberd:5347 bob@localhost,carol@localhost [('info', 'configured')]",
			"ERROR config next bad-request bad-payload",
			"ERROR config next bad-request bad-payload",
			"ERROR config complete bad-request bad-action",
			"ERROR config prev bad-request bad-action",
			"STAGE2 Port of httpd complete:prev,complete",
			"ERROR config next bad-request bad-action",
			"BACK Service httpd",
			"CANCEL canceled",
			"ERROR config next not-allowed session-expired",
			"ERROR config next bad-request bad-sessionid",
			"ERROR config jump bad-request malformed-action",
			"ERROR nope execute item-not-found ",
			"ONLINE 2",
		}
		got := interop.Slixmpp(t, tg, "alice", []string{"xep_0004", "xep_0030", "xep_0050"}, body)
		interop.Expect(t, tg.Server, got, want)

		// bob is no admin: the list lacks the admin commands, and they are forbidden.
		bobBody := `
async def run(c):
    items = await c['xep_0050'].get_commands(svc, timeout=10)
    out('LIST', ' | '.join(sorted(i[2] for i in items['disco_items']['items'])))
    try:
        await c['xep_0050'].send_command(svc, admin + '#get-online-users-num', timeout=10)
        out('EXECUTED')
    except IqError as e:
        out('ERROR', *stanza_error(e))
` + "\nadmin = '" + admin.NS + "'\n"
		got = interop.Slixmpp(t, tg, "bob", []string{"xep_0004", "xep_0030", "xep_0050"}, bobBody)
		interop.Expect(t, tg.Server, got, []string{"LIST Configure | Show uptime", "ERROR forbidden "})
	})
}
