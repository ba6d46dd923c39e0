package pubsub

import (
	"context"
	_ "embed"
	"net"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
)

//go:embed testdata/features.py
var featuresScript string

// featuresWant is what the features script prints on every host.
var featuresWant = []string{
	"SUB pending",
	"ERR pending-items not-authorized not-subscribed",
	"AUTH-FORM True club bob@localhost True",
	"STRANGER forbidden",
	"ERR still-pending not-authorized not-subscribed",
	"APPROVED subscribed",
	"LAST news",
	"ITEMS ['news']",
	"GET-PENDING-NODES ['club']",
	"GET-PENDING completed",
	"GET-PENDING-FORM carol@localhost",
	"MANAGE-PENDING completed",
	"DENIED none",
	"ERR bob-get-pending forbidden -",
	"MODELS ['open', 'presence', 'roster', 'authorize', 'whitelist']",
	"FRIEND subscribed",
	"ERR stranger-subscribe not-authorized presence-subscription-required",
	"ERR stranger-items not-authorized presence-subscription-required",
	"ITEM-PAGES [['i6', 'i5', 'i4'], ['i3', 'i2', 'i1'], ['i0', 'news']]",
	"NODE-PAGES ['club', 'friends', 'n1', 'n2', 'n3', 'n4', 'n5']",
	"PUBLISH-ONLY c1",
	"ERR publish-only-items forbidden -",
	"ERR publish-only-retract-other forbidden -",
	"ADMIN True False",
	"LIST-NODES ['club', 'friends', 'n1', 'n2', 'n3', 'n4', 'n5']",
	"ERR unknown-field not-acceptable -",
	"ERR bad-value not-acceptable -",
	"ERR others-subid bad-request invalid-jid",
	"ERR bad-options bad-request invalid-options",
	"BOB-STILL ['subscribed']",
	"DONE",
}

var featurePrivileges = []servertest.Privileges{{Component: svcDomain, Roster: "get", Presence: "roster"}}

func featureService(t *testing.T) (*Service, *privilege.Entity) {
	p := &privilege.Entity{Logger: quietLogger()}
	svc, err := New(Options{Privileges: p, Admins: []jid.JID{jid.MustParse("alice@localhost")}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return svc, p
}

func waitGrants(t *testing.T, p *privilege.Entity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx, jid.MustParse(servertest.LocalDomain)); err != nil {
		t.Fatalf("no privileges: %v", err)
	}
}

// TestFeatures runs slixmpp's XEP-0060, XEP-0059 and XEP-0050 plugins
// against the service with the XEP-0356 roster and presence permissions,
// on the embedded router, Prosody 0.12 (prosody-modules) and ejabberd
// 23.01.
func TestFeatures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers and slixmpp")
	}
	run := func(t *testing.T, name, c2sAddr, cafile string) {
		host, port, _ := net.SplitHostPort(c2sAddr)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		out, err := servertest.RunPython(t, ctx, featuresScript, host, port, svcDomain, cafile)
		t.Logf("slixmpp against %s:\n%s", name, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range featuresWant {
			if !strings.Contains(out, want) {
				t.Errorf("%s: slixmpp output lacks %q", name, want)
			}
		}
	}
	t.Run("router", func(t *testing.T) {
		servertest.Python(t)
		svc, p := featureService(t)
		r, err := router.New(router.Config{
			Domains:    []string{"localhost"},
			Users:      map[string]string{"alice@localhost": "alicepw", "bob@localhost": "bobpw", "carol@localhost": "carolpw"},
			Logger:     quietLogger(),
			Privileges: []router.Privileges{{Component: svcDomain, Roster: "get", Presence: "roster"}},
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
		waitGrants(t, p)
		run(t, "router", addr.String(), servertest.WriteCertPEM(t, l.Certificate()))
	})
	comps := []servertest.Component{{Domain: svcDomain, Secret: servertest.Secret}}
	for _, kind := range []servertest.Kind{servertest.KindProsody, servertest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			servertest.Python(t)
			var srv *servertest.Server
			if kind == servertest.KindProsody {
				srv = servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Privileges: featurePrivileges})
			} else {
				srv = servertest.Ejabberd(t, servertest.EjabberdOptions{Components: comps, Privileges: featurePrivileges})
			}
			svc, p := featureService(t)
			c := &component.Component{Addr: srv.ComponentAddr, Domain: svcDomain, Secret: servertest.Secret, Handler: svc.Handler(),
				Logger: quietLogger(), OnLink: func(component.LinkEvent) { p.Reset() }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				<-done
				svc.Close()
			})
			waitGrants(t, p)
			run(t, string(kind), srv.C2SAddr, srv.CertFile)
		})
	}
}
