package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// TestRunEmbedded starts the command as a person would (embedded router,
// client listener), logs in over TCP with an XMPP client, joins a channel
// on a real ngircd, talks to a plain IRC client, and shuts down: the IRC
// side sees the QUIT.
func TestRunEmbedded(t *testing.T) {
	srv := servertest.Ngircd(t, servertest.NgircdOptions{})
	irc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer irc.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		r := bufio.NewReader(irc)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimRight(l, "\r\n")
		}
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("IRC: no line with %q", want)
			}
		}
	}
	fmt.Fprintf(irc, "NICK zed\r\nUSER zed 0 * :zed\r\nJOIN #main\r\n")
	expect("366 zed #main")

	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config{irc: srv.Addr, domain: "irc.localhost", data: t.TempDir(), listen: "127.0.0.1:0", user: "dev@localhost", password: "devpass"}
	go func() { done <- run(ctx, cfg, pw); pw.Close() }()
	defer func() { cancel(); <-done }()
	out := bufio.NewReader(pr)
	var addr string
	re := regexp.MustCompile(`connect to (\S+) as dev@localhost`)
	for addr == "" {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("output ended: %v", err)
		}
		if m := re.FindStringSubmatch(l); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, out)

	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	c, err := client.Dial(cctx, addr, client.Config{JID: jid.MustParse("dev@localhost"), Password: "devpass"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	room := "#main@irc.localhost"
	if err := c.Send(cctx, stanza.NewPresence("", jid.MustParse(room+"/dev"))); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := c.Recv(cctx)
		if err != nil {
			t.Fatalf("waiting for the self-presence: %v", err)
		}
		if st.Kind == stanza.Presence && st.From.String() == room+"/dev" && strings.Contains(st.Payload(), "code='110'") {
			break
		}
	}
	expect(":dev!~dev@127.0.0.1 JOIN :#main")
	if err := c.Send(cctx, stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(room), "hi from a real client")); err != nil {
		t.Fatal(err)
	}
	expect(":dev!~dev@127.0.0.1 PRIVMSG #main :hi from a real client")
	fmt.Fprintf(irc, "PRIVMSG #main :hello dev\r\n")
	for {
		st, err := c.Recv(cctx)
		if err != nil {
			t.Fatalf("waiting for the IRC message: %v", err)
		}
		if st.Kind == stanza.Message && st.Body() == "hello dev" && st.From.String() == room+"/zed" {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	expect(":dev!~dev@127.0.0.1 QUIT :")
}

// TestRunComponent starts the command attached to a real Prosody, then a
// real ejabberd, as the component irc.localhost (-server, -domain, -secret):
// a user of that server asks the gateway to translate an address (XEP-0100),
// and cancellation (as on SIGINT) ends the command cleanly.
func TestRunComponent(t *testing.T) {
	for _, name := range []string{"prosody", "ejabberd"} {
		t.Run(name, func(t *testing.T) {
			var xs *servertest.Server
			if name == "prosody" {
				xs = servertest.Prosody(t, servertest.ProsodyOptions{})
			} else {
				xs = servertest.Ejabberd(t, servertest.EjabberdOptions{})
			}
			runComponentTest(t, xs)
		})
	}
}

func runComponentTest(t *testing.T, pros *servertest.Server) {
	srv := servertest.Ngircd(t, servertest.NgircdOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config{irc: srv.Addr, network: "testnet", server: pros.ComponentAddr, domain: "irc.localhost", secret: servertest.Secret}
	go func() { done <- run(ctx, cfg, io.Discard) }()
	defer func() { cancel(); <-done }()

	cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer ccancel()
	c, err := client.Dial(cctx, pros.C2SAddr, client.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw", TLS: &tls.Config{RootCAs: certPool(t, pros.CertFile)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for {
		// The component may still be connecting: Prosody then answers with an error.
		res, err := c.SendIQ(cctx, stanza.NewIQ(stanza.TypeSet, jid.MustParse("irc.localhost"),
			stanza.MustElement("<query xmlns='jabber:iq:gateway'><prompt>#chan</prompt></query>")))
		if err == nil {
			if !strings.Contains(res.Payload(), "<jid>#chan@irc.localhost</jid>") {
				t.Fatalf("translation: %s", res)
			}
			break
		}
		if cctx.Err() != nil {
			t.Fatalf("gateway never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	done <- nil
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + file)
	}
	return p
}
