package pubsub

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/internal/servertest"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

//go:embed testdata/interop.py
var interopScript string

// TestInterop runs slixmpp's XEP-0060 plugin, logged in to real Prosody and
// ejabberd, against this service attached to each as the external component
// pubsub.localhost (neither server has its own pubsub module loaded).
func TestInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	for _, kind := range []servertest.Kind{servertest.KindProsody, servertest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			s := servertest.Shared(t, kind)
			servertest.Python(t)
			svc, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			c := &component.Component{Addr: s.ComponentAddr, Domain: svcDomain, Secret: servertest.Secret, Handler: svc.Handler(), Logger: quiet}
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
			host, port, _ := net.SplitHostPort(s.C2SAddr)
			pctx, pcancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer pcancel()
			out, err := servertest.RunPython(t, pctx, interopScript, host, port, svcDomain, s.CertFile)
			t.Logf("slixmpp against %s:\n%s", kind, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
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
			} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: slixmpp output lacks %q", kind, want)
				}
			}
			if strings.Contains(out, "UNEXPECTED") {
				t.Errorf("%s: unexpected notification", kind)
			}
		})
	}
}
