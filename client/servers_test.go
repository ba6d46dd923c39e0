package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// TestRealServers logs into Prosody and ejabberd with each mechanism, with
// and without STARTTLS, pings the server and sends a message to itself.
func TestRealServers(t *testing.T) {
	for _, kind := range []servertest.Kind{servertest.KindProsody, servertest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servertest.Shared(t, kind)
			pool := certPool(t, srv.CertFile)
			user := srv.Users[0]
			cases := []struct {
				name string
				mech string
				tls  bool
			}{
				{"SCRAM-SHA-1", client.ScramSHA1, false},
				{"PLAIN", client.Plain, false},
				{"STARTTLS+SCRAM-SHA-1", client.ScramSHA1, true},
				{"STARTTLS+PLAIN", client.Plain, true},
				{"STARTTLS+best", "", true},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					cfg := client.Config{
						JID:                  jid.MustParse(user.JID(srv.Domain) + "/xc-" + tc.name),
						Password:             user.Password,
						AllowPlainWithoutTLS: true,
					}
					if tc.mech != "" {
						cfg.Mechanisms = []string{tc.mech}
					}
					if tc.tls {
						cfg.TLS = &tls.Config{RootCAs: pool}
					}
					c, err := client.Dial(ctx, srv.C2SAddr, cfg)
					if err != nil {
						t.Fatalf("login: %v", err)
					}
					defer c.Close(ctx)
					if _, on := c.TLSState(); on != tc.tls {
						t.Errorf("TLS = %v, want %v", on, tc.tls)
					}
					if tc.mech != "" && c.Mechanism() != tc.mech {
						t.Errorf("mechanism %s, want %s", c.Mechanism(), tc.mech)
					}
					if c.JID().Bare().String() != user.JID(srv.Domain) || c.JID().Resource() == "" {
						t.Errorf("bound JID %s", c.JID())
					}
					if err := ping.Send(ctx, c, jid.MustParse(srv.Domain)); err != nil {
						t.Errorf("ping server: %v", err)
					}
					if info, err := disco.GetInfo(ctx, c, jid.MustParse(srv.Domain), ""); err != nil || !info.HasFeature(ping.NS) {
						t.Errorf("disco#info of the server: %+v, %v", info, err)
					}
					if err := c.SendPresence(ctx); err != nil {
						t.Fatal(err)
					}
					msg := stanza.NewMessage(stanza.TypeChat, c.JID(), "hello <self> & "+tc.name)
					if err := c.Send(ctx, msg); err != nil {
						t.Fatal(err)
					}
					for {
						st, err := c.Recv(ctx)
						if err != nil {
							t.Fatalf("waiting for own message: %v", err)
						}
						if st.Kind != stanza.Message {
							continue // own presence
						}
						if st.ID != msg.ID || st.Body() != "hello <self> & "+tc.name || st.From != c.JID() {
							t.Fatalf("got %s", st)
						}
						break
					}
					if err := c.Close(ctx); err != nil {
						t.Errorf("close: %v", err)
					}
				})
			}
			t.Run("client to client with a handler", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				m := mux.New()
				ping.Handler{}.Register(m)
				bob := srv.Users[1]
				b, err := client.Dial(ctx, srv.C2SAddr, client.Config{
					JID: jid.MustParse(bob.JID(srv.Domain) + "/handler"), Password: bob.Password,
					TLS: &tls.Config{RootCAs: pool}, Handler: m,
				})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close(ctx)
				a, err := client.Dial(ctx, srv.C2SAddr, client.Config{
					JID: jid.MustParse(user.JID(srv.Domain)), Password: user.Password, TLS: &tls.Config{RootCAs: pool},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close(ctx)
				res, err := a.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, b.JID(), stanza.Element{Space: ping.NS, Local: "ping"}))
				if err != nil || res.From != b.JID() {
					t.Errorf("ping bob's full JID through the server: %v, %v", res, err)
				}
				_, err = a.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, b.JID(), stanza.Element{Space: "urn:x:none", Local: "q"}))
				if !errors.Is(err, stanza.ErrServiceUnavailable) {
					t.Errorf("unhandled iq: %v, want service-unavailable from bob's mux", err)
				}
			})
			t.Run("resource conflict", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cfg := client.Config{JID: jid.MustParse(user.JID(srv.Domain) + "/twice"), Password: user.Password, TLS: &tls.Config{RootCAs: pool}}
				old, err := client.Dial(ctx, srv.C2SAddr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer old.Close(ctx)
				nw, err := client.Dial(ctx, srv.C2SAddr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer nw.Close(ctx)
				select {
				case <-old.Done():
				case <-ctx.Done():
					t.Fatal("the old session was not closed")
				}
				// Both servers replace the old session (RFC 6120 §7.7.2.2).
				if !errors.Is(old.Err(), stream.ErrConflict) {
					t.Errorf("old session ended with %v, want stream conflict", old.Err())
				}
				if _, err := old.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: ping.NS, Local: "ping"})); !errors.Is(err, client.ErrClosed) {
					t.Errorf("SendIQ on the closed session: %v", err)
				}
			})
			t.Run("wrong password", func(t *testing.T) {
				for _, mech := range []string{client.ScramSHA1, client.Plain} {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					_, err := client.Dial(ctx, srv.C2SAddr, client.Config{
						JID: jid.MustParse(user.JID(srv.Domain)), Password: "wrong",
						Mechanisms: []string{mech}, AllowPlainWithoutTLS: true,
					})
					var se *client.SASLError
					if !errors.Is(err, client.ErrNotAuthorized) || !errors.As(err, &se) || se.Local {
						t.Errorf("%s: err = %v, want the server's not-authorized", mech, err)
					}
				}
			})
			t.Run("PLAIN refused without TLS", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, err := client.Dial(ctx, srv.C2SAddr, client.Config{
					JID: jid.MustParse(user.JID(srv.Domain)), Password: user.Password,
					Mechanisms: []string{client.Plain},
				})
				if !errors.Is(err, client.ErrNoMechanism) {
					t.Errorf("err = %v, want ErrNoMechanism", err)
				}
			})
		})
	}
}
