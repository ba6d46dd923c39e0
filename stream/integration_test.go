package stream

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

// TestRealServers runs the XEP-0114 handshake, an iq round trip and a
// graceful close against Prosody and ejabberd, and checks that a wrong
// secret comes back as a typed stream error.
func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	for _, kind := range []servertest.Kind{servertest.KindProsody, servertest.KindEjabberd} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servertest.Shared(t, kind)
			t.Run("session", func(t *testing.T) {
				c := srv.Component(t)
				r, w, conn := handshake(t, srv.ComponentAddr, c.Domain, c.Secret)
				el, err := r.Next()
				if err != nil || !el.Is(NSComponent, "handshake") {
					t.Fatalf("handshake reply: %v", err)
				}
				iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse(srv.Domain), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})
				iq.From = jid.MustParse(c.Domain)
				if err := w.WriteStanza(iq); err != nil {
					t.Fatal(err)
				}
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				res, err := r.ReadStanza()
				if err != nil {
					t.Fatal(err)
				}
				if res.Type != stanza.TypeResult || res.ID != iq.ID || res.From.String() != srv.Domain {
					t.Errorf("ping reply: %s", res)
				}
				readDone := make(chan error, 1)
				go func() {
					for {
						if _, err := r.Next(); err != nil {
							readDone <- err
							return
						}
					}
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := w.Close(ctx); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := <-readDone; err != io.EOF {
					t.Errorf("server's close: %v", err)
				}
			})
			t.Run("wrong secret", func(t *testing.T) {
				c := srv.Component(t)
				r, w, conn := handshake(t, srv.ComponentAddr, c.Domain, "not the secret")
				defer func() { _ = w.Close(context.Background()) }()
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := r.Next()
				var se *Error
				if !errors.As(err, &se) || se.Condition != NotAuthorized || !se.Remote {
					t.Fatalf("Next = %v, want not-authorized from the peer", err)
				}
			})
		})
	}
}

// handshake connects, exchanges headers and sends the XEP-0114 handshake.
func handshake(t *testing.T, addr, domain, secret string) (*Reader, *Writer, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := NewReader(conn, ReaderOptions{NS: NSComponent})
	w := NewWriter(conn, r)
	if err := w.WriteHeader(Header{NS: NSComponent, To: domain}); err != nil {
		t.Fatal(err)
	}
	h, err := r.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if h.ID == "" || h.From != domain || h.Version != "" {
		t.Errorf("server header %+v", h)
	}
	sum := sha1.Sum([]byte(h.ID + secret))
	if err := w.WriteRaw([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		t.Fatal(err)
	}
	return r, w, conn
}
