package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// saslIRC is an IRC server on a loopback port that offers SASL PLAIN and
// accepts only the password "right" (903, then 001 after CAP END); any
// other gets 904. It counts the connections.
func saslIRC(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				r := bufio.NewReader(nc)
				nick, ok := "*", false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(strings.TrimRight(line, "\r\n"))
					if len(f) < 2 {
						continue
					}
					switch {
					case f[0] == "NICK":
						nick = f[1]
					case f[0] == "CAP" && f[1] == "LS":
						fmt.Fprintf(nc, ":srv CAP * LS :sasl=PLAIN\r\n")
					case f[0] == "CAP" && f[1] == "REQ":
						fmt.Fprintf(nc, ":srv CAP * ACK :sasl\r\n")
					case f[0] == "AUTHENTICATE" && f[1] == "PLAIN":
						fmt.Fprintf(nc, "AUTHENTICATE +\r\n")
					case f[0] == "AUTHENTICATE":
						b, _ := base64.StdEncoding.DecodeString(f[1])
						if parts := strings.Split(string(b), "\x00"); len(parts) == 3 && parts[2] == "right" {
							ok = true
							fmt.Fprintf(nc, ":srv 903 %s :SASL authentication successful\r\n", nick)
						} else {
							fmt.Fprintf(nc, ":srv 904 %s :SASL authentication failed\r\n", nick)
						}
					case f[0] == "CAP" && f[1] == "END" && ok:
						fmt.Fprintf(nc, ":srv 001 %s :Welcome %s!u@h\r\n", nick, nick)
					case f[0] == "QUIT":
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// configureAs runs the Configure command at to with the values.
func configureAs(t *testing.T, c *xmpptest.Client, to string, values map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := command.Execute(ctx, c, jid.MustParse(to), "configure")
	if err != nil || st.Form == nil {
		t.Fatalf("configure %s: %v", to, err)
	}
	sub := &form.Form{Type: form.TypeSubmit}
	for k, v := range values {
		sub.Set("", k, v)
	}
	if st, err = st.Complete(ctx, c, sub); err != nil || st.Status != command.Completed {
		t.Fatalf("configure %s: %v %+v", to, err, st)
	}
}

// quietFor fails when a stanza other than presence from the gateway
// arrives within d.
func quietFor(t *testing.T, c *xmpptest.Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		st, err := c.Recv(ctx)
		if err != nil {
			return
		}
		if st.Kind == stanza.Presence && (st.From == c.JID() || st.From.Local() == "") {
			continue
		}
		t.Errorf("unexpected %s", st)
	}
}

// TestLoginRefusedHolds: a SASL refusal (904) is reported as not-authorized
// (not remote-server-not-found), the user is told once what to change, and
// the gateway does not connect again while the user stays online (not on
// its backoff, not for a join) until the server's settings change; then
// it connects at once.
func TestLoginRefusedHolds(t *testing.T) {
	checkNoLeaks(t)
	addr, conns := saslIRC(t)
	_, env := newEnv(t, addr, nil) // backoff 50 ms .. 200 ms
	alice := env.Client("alice")
	alice.Available(0)
	if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><nick>alice</nick></query>"); err != nil {
		t.Fatal(err)
	}
	const server = "irc.test.local@irc.localhost"
	configureAs(t, alice, server, map[string]string{setSASL: "PLAIN", setSASLUser: "alice", setSASLPassword: "wrong"})

	presenceTo(t, alice, "", "irc.localhost")
	p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "irc.localhost")
	if !strings.Contains(p.Payload(), "904") || !strings.Contains(p.Payload(), "will not connect") {
		t.Errorf("gateway state: %s", p)
	}
	m := expectStanza(t, alice, stanza.Message, stanza.TypeChat, "irc.localhost")
	if !strings.Contains(m.Body(), "SASL authentication failed") || !strings.Contains(m.Body(), server) {
		t.Errorf("notice: %s", m)
	}
	// Ten times the backoff: no retry, no second notice.
	quietFor(t, alice, 600*time.Millisecond)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections after a refused login, want 1", n)
	}
	// A join fails at once with not-authorized, without a connection.
	presenceTo(t, alice, "", "#r@irc.localhost/alice")
	e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#r@irc.localhost/alice")
	if err := e.Err(); err == nil || err.Condition != stanza.NotAuthorized || err.Type != stanza.Auth || !strings.Contains(err.Text, "904") {
		t.Errorf("join while refused: %s", e)
	}
	quietFor(t, alice, 200*time.Millisecond)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections after a join, want 1", n)
	}
	// A channel's settings do not cure a login: still held.
	configureAs(t, alice, "#r@irc.localhost", map[string]string{setPersistent: "false"})
	quietFor(t, alice, 200*time.Millisecond)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections after a channel setting, want 1", n)
	}
	// The right password: the gateway connects at once.
	configureAs(t, alice, server, map[string]string{setSASLPassword: "right"})
	for {
		p := next(t, alice)
		if p.Kind == stanza.Presence && p.From.String() == "irc.localhost" && p.Type == "" {
			if !strings.Contains(p.Payload(), "Connected to irc.test.local as alice") {
				t.Errorf("after the fix: %s", p)
			}
			break
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}
