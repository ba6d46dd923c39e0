package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

const waitFor = 5 * time.Second

var debugIRC = os.Getenv("DEBUG_IRC") != ""

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ircClient is a plain IRC client over raw TCP, for the other side of the
// bridge in tests.
type ircClient struct {
	t     *testing.T
	nick  string
	conn  net.Conn
	lines chan string
	// ctcpVersion, when set, answers CTCP VERSION requests.
	ctcpVersion string
}

func dialIRC(t *testing.T, addr, nick string) *ircClient {
	t.Helper()
	return dialIRCVersion(t, addr, nick, "")
}

func dialIRCVersion(t *testing.T, addr, nick, version string) *ircClient {
	t.Helper()
	return dialIRCCaps(t, addr, nick, version, "")
}

// dialIRCCaps registers, asking for the IRCv3 capabilities caps first when
// not "".
func dialIRCCaps(t *testing.T, addr, nick, version, caps string) *ircClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ic := &ircClient{t: t, nick: nick, conn: c, lines: make(chan string, 1000), ctcpVersion: version}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ic.lines)
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if strings.HasPrefix(l, "PING ") {
				fmt.Fprintf(c, "PONG %s\r\n", l[5:])
			}
			if i := strings.Index(l, " PRIVMSG "+nick+" :\x01VERSION\x01"); i > 0 && version != "" {
				from := strings.TrimPrefix(l[:i], ":")
				from, _, _ = strings.Cut(from, "!")
				fmt.Fprintf(c, "NOTICE %s :\x01VERSION %s\x01\r\n", from, version)
			}
			ic.lines <- l
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	if caps != "" {
		ic.send("CAP REQ :" + caps)
	}
	ic.send("NICK " + nick)
	ic.send("USER " + nick + " 0 * :" + nick)
	if caps != "" {
		ic.expect("CAP * ACK")
		ic.send("CAP END")
	}
	ic.expect(" 001 ")
	return ic
}

func (c *ircClient) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("irc %s: %v", c.nick, err)
	}
}

// expect waits for a line containing want and returns it.
func (c *ircClient) expect(want string) string {
	c.t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("irc %s: connection closed waiting for %q", c.nick, want)
			}
			if strings.Contains(l, want) {
				return l
			}
			if debugIRC {
				c.t.Logf("irc %s skips: %s", c.nick, l)
			}
		case <-timer.C:
			c.t.Fatalf("irc %s: no line with %q", c.nick, want)
		}
	}
}

// next returns the next stanza for the client.
func next(t *testing.T, c *xmpptest.Client) *stanza.Stanza {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		st, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("%s: no stanza: %v", c.JID(), err)
		}
		// The router's echo of the client's own presence (RFC 6121 §4.2.2).
		if st.Kind == stanza.Presence && st.From == c.JID() && st.To == c.JID() {
			continue
		}
		return st
	}
}

// expectStanza returns the next stanza matching kind, type and from,
// skipping presence from the gateway domain (connection state) only.
func expectStanza(t *testing.T, c *xmpptest.Client, kind stanza.Kind, typ, from string) *stanza.Stanza {
	t.Helper()
	for {
		st := next(t, c)
		if st.Kind == kind && st.Type == typ && st.From.String() == from {
			return st
		}
		if st.Kind == stanza.Presence && st.From.Local() == "" {
			continue
		}
		t.Fatalf("%s: want %s type=%q from %s, got %s", c.JID(), kind, typ, from, st)
	}
}

// hasStatus reports whether the muc#user <x/> of st carries every status
// code.
func hasStatus(st *stanza.Stanza, codes ...string) bool {
	var x struct {
		Status []struct {
			Code string `xml:"code,attr"`
		} `xml:"status"`
	}
	st.UnmarshalChild("http://jabber.org/protocol/muc#user", "x", &x)
	for _, c := range codes {
		found := false
		for _, s := range x.Status {
			found = found || s.Code == c
		}
		if !found {
			return false
		}
	}
	return true
}

func presenceTo(t *testing.T, c *xmpptest.Client, typ, to string) {
	t.Helper()
	p := stanza.NewPresence(typ, jid.MustParse(to))
	c.MustSend(p)
}

func groupchat(t *testing.T, c *xmpptest.Client, room, body string) *stanza.Stanza {
	t.Helper()
	m := stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(room), body)
	c.MustSend(m)
	return m
}

func mustJID(t *testing.T, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// waitOn waits until nick is on IRC, or no longer on it (RFC 2812 §4.9
// ISON).
func waitOn(t *testing.T, c *ircClient, nick string, on bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c.send("ISON " + nick)
		l := c.expect(" 303 " + c.nick + " ")
		if strings.HasSuffix(l, ":") != on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still on IRC: %s", nick, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks fails the test if goroutines of the gateway or of IRC
// connections outlive it (registered first, so it runs after every other
// cleanup).
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			leak := ""
			for _, g := range strings.Split(stacks, "\n\n") {
				if strings.Contains(g, "transport/gateway.(*session)") || strings.Contains(g, "transport/irc.(*Conn)") {
					leak = g
					break
				}
			}
			if leak == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutine left behind:\n%s", leak)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
