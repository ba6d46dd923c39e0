package pubsub

import (
	"context"
	_ "embed"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

//go:embed testdata/interop.py
var interopScript string

// interopWant is what the slixmpp script must print whatever server it is
// logged in to.
var interopWant = []string{
	"DISCO True True",
	"CREATE ok",
	"ERR create-again conflict -",
	"INSTANT True",
	"CONFIG-FORM True True",
	"CONFIGURED Interop 10 True",
	"SUBSCRIBE subscribed bob@localhost True",
	"ERR subscribe-other bad-request invalid-jid",
	"ERR unsubscribe-not-subscribed unexpected-request not-subscribed",
	"PUBLISH item1",
	"EVENT item1 hi & bye True",
	"PUBLISH-NOID True",
	"EVENT2 True",
	"ITEMS ['item1', ",
	"ITEMS-MAX1 ['",
	"ITEM-BYID hi & bye",
	"ERR publish-forbidden forbidden -",
	"ERR publish-missing-node item-not-found -",
	"ERR items-missing-node item-not-found -",
	"ERR publish-options conflict precondition-not-met",
	"ERR config-forbidden forbidden -",
	"RETRACT item1",
	"ERR retract-missing item-not-found -",
	"SUBSCRIPTIONS 1",
	"NODE-SUBSCRIPTIONS ['bob@localhost']",
	"AFFILIATIONS [('alice@localhost', 'owner'), ('carol@localhost', 'publisher')]",
	"CAROL-EVENT c1",
	"PURGE interop",
	"ITEMS-AFTER-PURGE 0",
	"DELETE interop",
	"SUBSCRIPTIONS-AFTER-DELETE 0",
	"ERR delete-again item-not-found -",
	"CREATE-WHITELIST ok",
	"ERR subscribe-whitelist not-allowed closed-node",
	"ERR items-whitelist not-allowed closed-node",
	"SUBSCRIBE-MEMBER subscribed",
	"DELETE wl",
	"DONE",
}

// runInterop runs the slixmpp script against the service at svcDomain,
// logging in alice, bob and carol at the client listener c2sAddr (STARTTLS
// verified against cafile), and checks its output.
func runInterop(t *testing.T, server, c2sAddr, cafile string, timeout time.Duration) {
	t.Helper()
	host, port, err := net.SplitHostPort(c2sAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := servertest.RunPython(t, ctx, interopScript, host, port, svcDomain, cafile)
	t.Logf("slixmpp against %s:\n%s", server, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range interopWant {
		if !strings.Contains(out, want) {
			t.Errorf("%s: slixmpp output lacks %q", server, want)
		}
	}
	if strings.Contains(out, "UNEXPECTED") {
		t.Errorf("%s: unexpected notification", server)
	}
}

// TestInterop runs slixmpp's XEP-0060 plugin, logged in to real Prosody and
// ejabberd, against this service attached to each as the external component
// pubsub.localhost (neither server has its own pubsub module loaded), and
// the same against the embedded router (interopRouter).
func TestInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers and slixmpp")
	}
	t.Run("router", interopRouter)
	for _, kind := range []servertest.Kind{servertest.KindProsody, servertest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			s := servertest.Shared(t, kind)
			servertest.Python(t)
			svc, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			c := &component.Component{Addr: s.ComponentAddr, Domain: svcDomain, Secret: servertest.Secret, Handler: svc.Handler(), Logger: quietLogger()}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				c.Close(cctx)
				ccancel()
				cancel()
				<-done
				svc.Close()
			}()
			deadline := time.Now().Add(20 * time.Second)
			for c.Stats().State != component.StateConnected {
				if time.Now().After(deadline) {
					t.Fatalf("component did not connect to %s", kind)
				}
				time.Sleep(20 * time.Millisecond)
			}
			runInterop(t, string(kind), s.C2SAddr, s.CertFile, 90*time.Second)
		})
	}
}

// interopRouter runs the slixmpp script against the service attached
// in-process to the embedded router (package router), the clients logged in
// over TCP at its c2s listener with STARTTLS, verified against the
// listener's self-signed certificate, and SCRAM.
func interopRouter(t *testing.T) {
	servertest.Python(t)
	r, err := router.New(router.Config{
		Domains: []string{"localhost"},
		Users:   map[string]string{"alice@localhost": "alicepw", "bob@localhost": "bobpw", "carol@localhost": "carolpw"},
		Logger:  quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("router close: %v", err)
		}
		svc.Close()
	}()
	if _, err := r.Attach(svcDomain, svc.Handler()); err != nil {
		t.Fatal(err)
	}
	l, addr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ca := servertest.WriteCertPEM(t, l.Certificate())
	runInterop(t, "router", addr.String(), ca, 30*time.Second)
}
