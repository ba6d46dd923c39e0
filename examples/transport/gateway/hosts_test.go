package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/component"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// xmppConn is what a test device needs of an XMPP client: the in-memory
// client of the embedded router (xmpptest) and the c2s client of package
// client (for Prosody) both have it.
type xmppConn interface {
	Send(ctx context.Context, st *stanza.Stanza) error
	SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)
	Recv(ctx context.Context) (*stanza.Stanza, error)
	JID() jid.JID
}

// host is an XMPP server with the gateway irc.localhost attached, bridging
// to one ngircd: the embedded router in-process, or a real Prosody with the
// gateway as an XEP-0114 component.
type host struct {
	name string
	gw   *Gateway
	irc  *servertest.Server
	// dev logs in user/resource and sends initial presence.
	dev func(t *testing.T, user, resource string) *dev

	mu    sync.Mutex
	users int
}

// newUser returns a fresh account name, so that the cases do not share
// sessions.
func (h *host) newUser() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users++
	return fmt.Sprintf("u%02d", h.users)
}

const maxUsers = 32

// testNetwork is the ngircd at addr with fast pacing (the test server has
// no flood penalty).
func testNetwork(addr string) Network {
	n := PlainNetwork(addr)
	n.Throttle = irc.Throttle{Burst: 10, Interval: 5 * time.Millisecond}
	return n
}

// hostConfig bridges to the ngircd as four networks: irc.test.local (the
// default, plaintext), and over its TLS listener "secure" (verified with
// the CA file), "untrusted" (system roots only: the certificate fails) and
// "pinned" (system roots, but the certificate's fingerprint is pinned). The
// TLS networks list the plaintext port after the TLS one, as a fallback
// that must never be used after a certificate error.
func hostConfig(t *testing.T, ircd *servertest.Server) Config {
	t.Helper()
	tlsNet := func() Network {
		n := testNetwork(ircd.Addr)
		n.Endpoints = append([]Endpoint{{Addr: ircd.TLSAddr, TLS: true}}, n.Endpoints...)
		return n
	}
	secure := tlsNet()
	pool, err := LoadCAs(ircd.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	secure.RootCAs = pool
	pinned := tlsNet()
	pinned.Pins = []string{ircd.CertSHA256()}
	paced := testNetwork(ircd.Addr)
	paced.Throttle = irc.Throttle{Burst: 5, Interval: 100 * time.Millisecond}
	return Config{
		Domain: "irc.localhost",
		Networks: map[string]Network{
			"irc.test.local": testNetwork(ircd.Addr),
			"secure":         secure,
			"untrusted":      tlsNet(),
			"pinned":         pinned,
			"paced":          paced,
		},
		Default:      "irc.test.local",
		Logger:       quietLogger(),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		CTCPTimeout:  3 * time.Second,
		Admins:       []jid.JID{jid.MustParse("admin@localhost")},
	}
}

// hostConfigPlain is the configuration of a gateway bridging to the one
// plaintext IRC server at addr.
func hostConfigPlain(addr string) Config {
	return Config{
		Domain:       "irc.localhost",
		Networks:     map[string]Network{"irc.test.local": testNetwork(addr)},
		Default:      "irc.test.local",
		Logger:       quietLogger(),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
	}
}

// routerHost is the embedded router (package router through xmpptest) with
// the gateway attached in-process.
func routerHost(t *testing.T) *host { return routerHostWith(t, ngircdTLS(t)) }

// ngircdTLS is the ngircd of the cases: plaintext and TLS listeners.
func ngircdTLS(t *testing.T) *servertest.Server {
	return servertest.Ngircd(t, servertest.NgircdOptions{TLS: true})
}

// inspircdTLS is the InspIRCd of the IRCv3 and SASL cases, with Anope
// linked for SASL and one account, saslacct.
func inspircdTLS(t *testing.T) *servertest.Server {
	return servertest.Inspircd(t, servertest.InspircdOptions{TLS: true, SASL: true,
		Users: []servertest.User{{Name: "saslacct", Password: "saslpw"}}})
}

// routerHostWith is routerHost bridging to ircd; edits change the
// gateway's configuration first (more networks, other pacing).
func routerHostWith(t *testing.T, ircd *servertest.Server, edits ...func(*Config)) *host {
	cfg := hostConfig(t, ircd)
	for _, e := range edits {
		e(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := xmpptest.New(t, "irc.localhost", gw, xmpptest.WithLogger(quietLogger()))
	t.Cleanup(gw.Close)
	h := &host{name: "router", gw: gw, irc: ircd}
	h.dev = func(t *testing.T, user, res string) *dev {
		c := env.Client(user + "/" + res)
		c.Available(0)
		return &dev{t: t, c: c}
	}
	return h
}

// prosodyHost is a real Prosody with the gateway as the component
// irc.localhost; devices log in over TCP with STARTTLS.
func prosodyHost(t *testing.T) *host { return prosodyHostWith(t, ngircdTLS(t)) }

// testUsers are the accounts of the XMPP servers: u01... and admin.
func testUsers() []servertest.User {
	var users []servertest.User
	for i := 1; i <= maxUsers; i++ {
		users = append(users, servertest.User{Name: fmt.Sprintf("u%02d", i), Password: "pw"})
	}
	return append(users, servertest.User{Name: "admin", Password: "pw"})
}

func prosodyHostWith(t *testing.T, ircd *servertest.Server, edits ...func(*Config)) *host {
	return componentHost(t, "prosody", ircd, servertest.Prosody(t, servertest.ProsodyOptions{Users: testUsers()}), edits...)
}

// ejabberdHost is a real ejabberd with the gateway as a component.
func ejabberdHost(t *testing.T) *host {
	ircd := ngircdTLS(t)
	return componentHost(t, "ejabberd", ircd, servertest.Ejabberd(t, servertest.EjabberdOptions{Users: testUsers()}))
}

// componentHost attaches the gateway to the XMPP server pros as the
// component irc.localhost; devices log in over TCP with STARTTLS. edits
// change the gateway's configuration first.
func componentHost(t *testing.T, name string, ircd, pros *servertest.Server, edits ...func(*Config)) *host {
	cfg := hostConfig(t, ircd)
	for _, e := range edits {
		e(&cfg)
	}
	comp := &component.Component{Addr: pros.ComponentAddr, Domain: "irc.localhost", Secret: servertest.Secret, Logger: quietLogger()}
	cfg.Sender = comp
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	comp.Handler = gw
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	t.Cleanup(func() { gw.Close(); cancel(); <-done })
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(pros.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	h := &host{name: name, gw: gw, irc: ircd}
	h.dev = func(t *testing.T, user, res string) *dev {
		t.Helper()
		cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer ccancel()
		c, err := client.Dial(cctx, pros.C2SAddr, client.Config{
			JID: jid.MustParse(user + "@localhost/" + res), Password: "pw",
			TLS: &tls.Config{RootCAs: pool},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Close(ctx)
		})
		d := &dev{t: t, c: c}
		d.send(stanza.NewPresence("", jid.JID{}))
		return d
	}
	// The component may still be connecting: wait until the gateway answers.
	probe := h.dev(t, "u"+fmt.Sprint(maxUsers), "probe")
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := probe.c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("irc.localhost"), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never answered through Prosody: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

// dev is one XMPP client device of a test user.
type dev struct {
	t       *testing.T
	c       xmppConn
	backlog []*stanza.Stanza
}

func (d *dev) jid() jid.JID { return d.c.JID() }

func (d *dev) send(st *stanza.Stanza) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := d.c.Send(ctx, st); err != nil {
		d.t.Fatalf("%s: send: %v", d.jid(), err)
	}
}

// presence sends presence of the type to the address, with payload.
func (d *dev) presence(typ, to string, payload ...stanza.Element) {
	d.t.Helper()
	p := stanza.NewPresence(typ, jid.MustParse(to))
	p.SetPayloadElements(payload...)
	d.send(p)
}

// join sends a XEP-0045 join (with the muc <x/>) to room/nick.
func (d *dev) join(occupant string, x ...func(*stanza.Builder)) {
	d.t.Helper()
	b := stanza.NewBuilder(NSMUC, "x")
	for _, f := range x {
		f(b)
	}
	d.presence("", occupant, b.Element())
}

func (d *dev) groupchat(room, body string) *stanza.Stanza {
	d.t.Helper()
	m := stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(room), body)
	d.send(m)
	return m
}

func (d *dev) iq(typ, to string, payload stanza.Element) (*stanza.Stanza, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	return d.c.SendIQ(ctx, stanza.NewIQ(typ, jid.MustParse(to), payload))
}

// expect returns the first stanza (from the backlog, then as they come)
// that match accepts; others wait in the backlog for later expectations.
func (d *dev) expect(what string, match func(*stanza.Stanza) bool) *stanza.Stanza {
	d.t.Helper()
	for i, st := range d.backlog {
		if match(st) {
			d.backlog = append(d.backlog[:i:i], d.backlog[i+1:]...)
			return st
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		st, err := d.c.Recv(ctx)
		if err != nil {
			var got []string
			for _, b := range d.backlog {
				got = append(got, b.String())
			}
			d.t.Fatalf("%s: no %s: %v; received meanwhile:\n%s", d.jid(), what, err, strings.Join(got, "\n"))
		}
		if match(st) {
			return st
		}
		if len(d.backlog) < 1000 {
			d.backlog = append(d.backlog, st)
		}
	}
}

// peekNoResult reports, after a short wait, that no further MAM result
// from the room is waiting (the page ended before max).
func (d *dev) peekNoResult(roomJID string) bool {
	isResult := func(st *stanza.Stanza) bool {
		_, ok := st.Child("urn:xmpp:mam:2", "result")
		return ok && st.From.String() == roomJID
	}
	for _, st := range d.backlog {
		if isResult(st) {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for {
		st, err := d.c.Recv(ctx)
		if err != nil {
			return true
		}
		d.backlog = append(d.backlog, st)
		if isResult(st) {
			return false
		}
	}
}

// forget drops what waits in the backlog from the address.
func (d *dev) forget(from string) {
	kept := d.backlog[:0]
	for _, st := range d.backlog {
		if st.From.String() != from {
			kept = append(kept, st)
		}
	}
	d.backlog = kept
}

// from is expect for a stanza of the kind and type from the address.
func (d *dev) from(kind stanza.Kind, typ, from string) *stanza.Stanza {
	d.t.Helper()
	return d.expect(fmt.Sprintf("%s type=%q from %s", kind, typ, from), func(st *stanza.Stanza) bool {
		return st.Kind == kind && st.Type == typ && st.From.String() == from
	})
}

// body waits for a message with the body from the address.
func (d *dev) body(from, body string) *stanza.Stanza {
	d.t.Helper()
	return d.expect(fmt.Sprintf("message %q from %s", body, from), func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && st.From.String() == from && st.Body() == body
	})
}

// none fails if a stanza that match accepts arrives within dur (or waits
// in the backlog).
func (d *dev) none(dur time.Duration, what string, match func(*stanza.Stanza) bool) {
	d.t.Helper()
	for _, st := range d.backlog {
		if match(st) {
			d.t.Fatalf("%s: unexpected %s: %s", d.jid(), what, st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	for {
		st, err := d.c.Recv(ctx)
		if err != nil {
			return
		}
		if match(st) {
			d.t.Fatalf("%s: unexpected %s: %s", d.jid(), what, st)
		}
		d.backlog = append(d.backlog, st)
	}
}

// joinSequence checks the XEP-0045 §7.2.3 order for a join of room (bare,
// as spelled) as nick: the others' presence (with the wanted nicks among
// them), the self-presence with the codes, then the subject; it returns
// the self-presence.
func (d *dev) joinSequence(roomJID, nick string, others []string, codes ...string) *stanza.Stanza {
	d.t.Helper()
	seen := map[string]bool{}
	var self *stanza.Stanza
	for self == nil {
		p := d.expect("presence from "+roomJID, func(st *stanza.Stanza) bool {
			return st.Kind == stanza.Presence && st.From.Bare().String() == roomJID
		})
		if p.Type != "" {
			d.t.Fatalf("%s: join of %s failed: %s", d.jid(), roomJID, p)
		}
		if p.From.Resource() == nick && hasStatus(p, "110") {
			self = p
			break
		}
		seen[p.From.Resource()] = true
	}
	for _, o := range others {
		if !seen[o] {
			d.t.Errorf("%s: %s not among the occupants %v before the self-presence", d.jid(), o, seen)
		}
	}
	if !hasStatus(self, codes...) {
		d.t.Errorf("%s: self-presence lacks status %v: %s", d.jid(), codes, self)
	}
	subj := d.expect("subject from "+roomJID, func(st *stanza.Stanza) bool {
		_, ok := st.Child("", "subject")
		return st.Kind == stanza.Message && st.From.Bare().String() == roomJID && ok
	})
	_ = subj
	return self
}

// ircPeer is the plain IRC client on the other side, answering CTCP
// VERSION like a real client.
func ircPeer(t *testing.T, addr, nick string) *ircClient {
	return dialIRCVersion(t, addr, nick, "testirc 1.0")
}
