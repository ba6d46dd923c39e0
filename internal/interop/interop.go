// Package interop runs one service behind each kind of server the SDK
// supports, for integration tests with a real client: attached in-process
// to the embedded router (with its c2s listener on loopback), and as an
// XEP-0114 component of a shared Prosody and a shared ejabberd
// (servertest.Shared). A test writes the client side once, as a slixmpp
// script, and runs it against every backend with Each and Slixmpp.
//
// A test package that uses it runs its tests through servertest.Main:
//
//	func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }
package interop

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
)

// Target is where a client logs in to reach the service under test.
type Target struct {
	Server  string // "router", "prosody" or "ejabberd"
	Host    string // the client listener (RFC 6120), STARTTLS offered
	Port    string
	CAFile  string // the certificate to verify STARTTLS against
	Service string // the service's domain on this server
	Domain  string // the domain of the accounts ("localhost")
	Users   []servertest.User
}

// JID returns the bare JID of the account name ("alice").
func (tg Target) JID(name string) string { return name + "@" + tg.Domain }

// Password returns the password of the account name.
func (tg Target) Password(name string) string {
	for _, u := range tg.Users {
		if u.Name == name {
			return u.Password
		}
	}
	return ""
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Each runs fn as one subtest per backend, each with a fresh handler from
// newHandler (given the service's domain) serving the Target's Service:
// "router" (attached in-process
// to a router.Router with the accounts of servertest.DefaultUsers),
// "prosody" and "ejabberd" (a component of the shared server, on a leased
// domain). A server that is not installed skips its subtest (fails under
// CI=true, see servertest.Require).
func Each(t *testing.T, newHandler func(domain string) mux.Handler, fn func(t *testing.T, tg Target)) {
	t.Helper()
	t.Run("router", func(t *testing.T) { fn(t, OnRouter(t, newHandler)) })
	t.Run("prosody", func(t *testing.T) { fn(t, OnServer(t, servertest.KindProsody, newHandler)) })
	t.Run("ejabberd", func(t *testing.T) { fn(t, OnServer(t, servertest.KindEjabberd, newHandler)) })
}

// OnRouter starts a router for the domain localhost with the default
// accounts, attaches newHandler's handler in-process as svc.localhost and
// listens for clients on loopback; everything stops when the test ends.
func OnRouter(t *testing.T, newHandler func(domain string) mux.Handler) Target {
	t.Helper()
	users := map[string]string{}
	for _, u := range servertest.DefaultUsers() {
		users[u.JID(servertest.LocalDomain)] = u.Password
	}
	r, err := router.New(router.Config{Domains: []string{servertest.LocalDomain}, Users: users, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("closing the router: %v", err)
		}
	})
	const svc = "svc." + servertest.LocalDomain
	if _, err := r.Attach(svc, newHandler(svc)); err != nil {
		t.Fatal(err)
	}
	srv, addr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr.String())
	return Target{Server: "router", Host: host, Port: port, CAFile: servertest.WriteCertPEM(t, srv.Certificate()),
		Service: svc, Domain: servertest.LocalDomain, Users: servertest.DefaultUsers()}
}

// OnServer connects newHandler's handler as a component of the shared
// server of the kind (Prosody or ejabberd), on a domain leased for the
// test, and waits for the handshake; the component stops when the test
// ends.
func OnServer(t *testing.T, kind servertest.Kind, newHandler func(domain string) mux.Handler) Target {
	t.Helper()
	srv := servertest.Shared(t, kind)
	comp := srv.Component(t)
	h := newHandler(comp.Domain)
	up := make(chan struct{}, 1)
	c := &component.Component{Addr: srv.ComponentAddr, Domain: comp.Domain, Secret: comp.Secret, Handler: h, Logger: quiet(),
		OnLink: func(ev component.LinkEvent) {
			if ev.Up {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = c.Close(cctx)
		cancel()
		<-done
	})
	select {
	case <-up:
	case err := <-done:
		t.Fatalf("%s component %s: %v", srv.Name, comp.Domain, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s component %s: no handshake in 15 s", srv.Name, comp.Domain)
	}
	host, port, _ := net.SplitHostPort(srv.C2SAddr)
	return Target{Server: srv.Name, Host: host, Port: port, CAFile: srv.CertFile, Service: comp.Domain,
		Domain: srv.Domain, Users: srv.Users}
}

// prelude is the slixmpp client every script runs in: it logs in as the
// given account (STARTTLS verified), registers the plugins named, sends
// presence and runs the script's body as the coroutine run(self); out()
// prints a line. Arguments: host port jid password cafile service, then
// the script's own.
const prelude = `
import asyncio, logging, sys
import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

host, port, jid, pw, ca, svc = sys.argv[1:7]
args = sys.argv[7:]
logging.basicConfig(level=logging.ERROR)

def out(*a):
    print(*a, flush=True)

def stanza_error(e):
    """condition and application condition of an IqError"""
    err = e.iq.xml.find('{jabber:client}error')
    app = ''
    if err is not None:
        for c in err:
            if not c.tag.startswith('{urn:ietf:params:xml:ns:xmpp-stanzas}'):
                app = c.tag.split('}')[1]
    return e.iq['error']['condition'], app

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw)
        for p in PLUGINS:
            self.register_plugin(p)
        self.ca_certs = ca
        self.add_event_handler('session_start', self.start)

    async def start(self, ev):
        try:
            self.send_presence()
            await run(self)
        except Exception as e:
            out('EXCEPTION', type(e).__name__, e)
        self.disconnect()

`

const epilogue = `
c = C()
c.connect((host, int(port)))
asyncio.get_event_loop().run_until_complete(c.disconnected)
out('DONE')
`

// Slixmpp runs a slixmpp script against the target as the account user:
// plugins are the slixmpp plugins to register ("xep_0050"), body defines
// async def run(c) using out(...) and stanza_error(e), args are more
// arguments (args[i] in the script). It returns the printed lines; the
// test fails when the script fails or never prints DONE.
func Slixmpp(t *testing.T, tg Target, user string, plugins []string, body string, args ...string) []string {
	t.Helper()
	var pl []string
	for _, p := range plugins {
		pl = append(pl, "'"+p+"'")
	}
	script := "\nPLUGINS = [" + strings.Join(pl, ", ") + "]\n" + prelude + body + epilogue
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{tg.Host, tg.Port, tg.JID(user), tg.Password(user), tg.CAFile, tg.Service}, args...)
	stdout, err := servertest.RunPython(t, ctx, script, all...)
	if err != nil {
		t.Fatalf("slixmpp on %s: %v\n--- stdout ---\n%s", tg.Server, err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "DONE" {
		t.Fatalf("slixmpp on %s did not finish:\n%s", tg.Server, stdout)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "EXCEPTION") {
			t.Fatalf("slixmpp on %s: %s\n--- stdout ---\n%s", tg.Server, l, stdout)
		}
	}
	return lines[:len(lines)-1]
}

// Expect checks that got holds want line for line (a want line ending in
// "*" matches any line with that prefix) and reports the differences.
func Expect(t *testing.T, server string, got, want []string) {
	t.Helper()
	var diffs []string
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		ok := g == w || (strings.HasSuffix(w, "*") && strings.HasPrefix(g, strings.TrimSuffix(w, "*")))
		if !ok {
			diffs = append(diffs, "line "+strconv.Itoa(i+1)+":\n  got  "+g+"\n  want "+w)
		}
	}
	if len(diffs) > 0 {
		t.Errorf("slixmpp on %s:\n%s\n--- all output ---\n%s", server, strings.Join(diffs, "\n"), strings.Join(got, "\n"))
	}
}
