package pubsub

import (
	"context"
	_ "embed"
	"net"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/jid"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
)

//go:embed testdata/pep.py
var pepScript string

// pepWant is what the PEP script prints on both servers.
var pepWant = []string{
	"ROSTER both both",
	"DISCO-PEP True True True",
	"PUBLISH current",
	"BOB-EVENT alice@localhost urn:xmppkit:test:mood happy",
	"ALICE-EVENT alice@localhost",
	"BOB-ITEMS ['current']",
	"ALICE-ITEMS ['current']",
	"ERR carol-items not-authorized presence-subscription-required",
	"CONFIG presence 1 on_sub_and_presence",
	"BOB-EVENT2 calm",
	"BOB-ITEMS2 ['current']",
	"BOB2-LAST current",
	"PRIVATE ['b1', 'b2']",
	"ERR bob-private not-allowed closed-node",
	"ERR options-mismatch conflict precondition-not-met",
	"RSM-PAGES [['f4', 'f3'], ['f2', 'f1'], ['f0']]",
	"BOB-RETRACT current",
	"NODE-DELETED True",
	"ERR bob-create forbidden -",
	"DONE",
}

// pepServer attaches a service serving PEP, with the privileges, to a
// server started for the test, and waits until the server has delegated
// the pubsub namespaces and advertised the privileges.
func pepServer(t *testing.T, srv *servertest.Server) *Service {
	t.Helper()
	p := &privilege.Entity{Logger: quietLogger()}
	d := &delegation.Manager{Logger: quietLogger()}
	svc, err := New(Options{Privileges: p, Delegation: d, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := &component.Component{Addr: srv.ComponentAddr, Domain: svcDomain, Secret: servertest.Secret, Handler: svc.Handler(), Logger: quietLogger(),
		OnLink: func(component.LinkEvent) { p.Reset(); d.Reset() }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	server := jid.MustParse(servertest.LocalDomain)
	for _, ns := range []string{NS, NSOwner} {
		if err := d.Wait(wctx, server, ns); err != nil {
			t.Fatalf("%s not delegated: %v\n%s", ns, err, srv.LogTail(30))
		}
	}
	if _, err := p.Wait(wctx, server); err != nil {
		t.Fatalf("no privileges: %v", err)
	}
	return svc
}

func pepOptions() ([]servertest.Delegation, []servertest.Privileges) {
	return []servertest.Delegation{{Namespace: NS, Component: svcDomain}, {Namespace: NSOwner, Component: svcDomain}},
		[]servertest.Privileges{{Component: svcDomain, Roster: "get", Message: "outgoing", Presence: "roster"}}
}

// TestPEP runs slixmpp's XEP-0163 and XEP-0060 plugins, logged in to
// Prosody 0.12 (prosody-modules) and ejabberd 23.01, against this service
// serving their users' PEP through XEP-0355 delegation, with the XEP-0356
// roster, message and presence permissions.
func TestPEP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers and slixmpp")
	}
	dels, privs := pepOptions()
	comps := []servertest.Component{{Domain: svcDomain, Secret: servertest.Secret}}
	run := func(t *testing.T, srv *servertest.Server) {
		servertest.Python(t)
		if srv.Name != "router" {
			pepServer(t, srv)
		}
		host, port, _ := net.SplitHostPort(srv.C2SAddr)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		out, err := servertest.RunPython(t, ctx, pepScript, host, port, srv.CertFile)
		t.Logf("slixmpp PEP against %s:\n%s", srv.Name, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range pepWant {
			if !strings.Contains(out, want) {
				t.Errorf("%s: slixmpp output lacks %q", srv.Name, want)
			}
		}
		if strings.Contains(out, "UNEXPECTED") {
			t.Errorf("%s: unexpected notification", srv.Name)
		}
	}
	t.Run("router", func(t *testing.T) {
		run(t, pepRouter(t))
	})
	t.Run("prosody", func(t *testing.T) {
		run(t, servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Delegations: dels, Privileges: privs}))
	})
	t.Run("ejabberd", func(t *testing.T) {
		run(t, servertest.Ejabberd(t, servertest.EjabberdOptions{Components: comps, Delegations: dels, Privileges: privs}))
	})
}

// pepRouter runs the embedded router granting the service the same
// privileges and delegations, with the service attached in-process and a
// client listener: a servertest.Server with what run needs.
func pepRouter(t *testing.T) *servertest.Server {
	p := &privilege.Entity{Logger: quietLogger()}
	d := &delegation.Manager{Logger: quietLogger()}
	svc, err := New(Options{Privileges: p, Delegation: d, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{
		Domains:     []string{"localhost"},
		Users:       map[string]string{"alice@localhost": "alicepw", "bob@localhost": "bobpw", "carol@localhost": "carolpw"},
		Logger:      quietLogger(),
		Privileges:  []router.Privileges{{Component: svcDomain, Roster: "get", Message: "outgoing", Presence: "roster"}},
		Delegations: []router.Delegation{{Namespace: NS, Component: svcDomain}, {Namespace: NSOwner, Component: svcDomain}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Close(ctx)
		svc.Close()
	})
	if _, err := r.Attach(svcDomain, svc.Handler()); err != nil {
		t.Fatal(err)
	}
	l, addr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server := jid.MustParse("localhost")
	for _, ns := range []string{NS, NSOwner} {
		if err := d.Wait(ctx, server, ns); err != nil {
			t.Fatalf("%s not delegated by the router: %v", ns, err)
		}
	}
	if _, err := p.Wait(ctx, server); err != nil {
		t.Fatalf("no privileges from the router: %v", err)
	}
	return &servertest.Server{Name: "router", C2SAddr: addr.String(), CertFile: servertest.WriteCertPEM(t, l.Certificate())}
}
