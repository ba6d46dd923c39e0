package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// scriptedIRC is an IRC server on a loopback port for one connection: it
// completes the registration, then, when the client joins a channel,
// answers the JOIN and the channel modes (324) and runs onJoin(w, channel).
func scriptedIRC(t *testing.T, onJoin func(w io.Writer, channel string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-stop:
			case <-time.After(30 * time.Second):
			}
			nc.Close()
		}()
		r := bufio.NewReader(nc)
		nick := ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(strings.TrimRight(line, "\r\n"))
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "NICK":
				nick = f[1]
			case "USER":
				fmt.Fprintf(nc, ":srv 001 %s :Welcome %s!u@h\r\n", nick, nick)
			case "JOIN":
				fmt.Fprintf(nc, ":%s!u@h JOIN %s\r\n:srv 324 %s %s +nt\r\n", nick, f[1], nick, f[1])
				onJoin(nc, f[1])
			case "QUIT":
				return
			}
		}
	}()
	return ln.Addr().String()
}

// joinedUser registers alice with the gateway, brings her online and has
// her join room on the scripted server.
func joinedUser(t *testing.T, ircAddr string, maxOccupants int, room string) *xmpptest.Client {
	t.Helper()
	gw, err := New(Config{
		Domain: "irc.localhost", Networks: map[string]Network{"irc.test.local": PlainNetwork(ircAddr)},
		Default: "irc.test.local", Logger: quietLogger(), MaxOccupants: maxOccupants,
		ReconnectMin: time.Second, ReconnectMax: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := xmpptest.New(t, "irc.localhost", gw, xmpptest.WithLogger(quietLogger()))
	t.Cleanup(gw.Close)
	alice := env.Client("alice")
	alice.Available(0)
	if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><nick>alice</nick></query>"); err != nil {
		t.Fatal(err)
	}
	presenceTo(t, alice, "", "irc.localhost")
	presenceTo(t, alice, "", room+"@irc.localhost/alice")
	return alice
}

// untilBody reads alice's stanzas until a groupchat message with the body,
// counting the occupant presences of the room on the way.
func untilBody(t *testing.T, alice *xmpptest.Client, room, body string, within time.Duration) (presences int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		st, err := alice.Recv(ctx)
		if err != nil {
			break
		}
		if !utf8.ValidString(st.String()) {
			t.Fatalf("invalid UTF-8 reached XMPP: %q", st.String())
		}
		if st.Kind == stanza.Presence && st.From.Bare().String() == room+"@irc.localhost" {
			presences++
		}
		if st.Kind == stanza.Message && st.Body() == body {
			return presences
		}
	}
	t.Fatalf("no groupchat %q within %v (%d occupant presences)", body, within, presences)
	return 0
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestHostileIRCFloods (issue 18 item 14): a server answers the gateway's
// JOIN with 100,000 NAMES entries and 100,000 JOINs of distinct nicks. The
// gateway keeps at most Config.MaxOccupants occupants, tells the user as
// many presences, stays in bounded memory and goes on bridging.
func TestHostileIRCFloods(t *testing.T) {
	checkNoLeaks(t)
	const max = 20000 // Config.MaxOccupants by default
	addr := scriptedIRC(t, func(w io.Writer, ch string) {
		bw := bufio.NewWriterSize(w, 64<<10)
		for i := range 1000 { // NAMES: 1000 lines of 100 names
			fmt.Fprintf(bw, ":srv 353 alice = %s :", ch)
			for j := range 100 {
				fmt.Fprintf(bw, "@n%d_%d ", i, j)
			}
			bw.WriteString("\r\n")
		}
		fmt.Fprintf(bw, ":srv 366 alice %s :End of NAMES\r\n", ch)
		for i := range 100000 {
			fmt.Fprintf(bw, ":j%d!u@h JOIN %s\r\n", i, ch)
		}
		fmt.Fprintf(bw, ":bob!u@h PRIVMSG %s :after the flood\r\n", ch)
		bw.Flush()
	})
	heap0 := heapInuse()
	start := time.Now()
	alice := joinedUser(t, addr, 0, "#flood")
	n := untilBody(t, alice, "#flood", "after the flood", 60*time.Second)
	took := time.Since(start)
	if n > max+2 {
		t.Fatalf("%d occupant presences for a room capped at %d", n, max)
	}
	if g := heapInuse(); g > heap0+32<<20 {
		t.Fatalf("heap grew from %d to %d bytes", heap0, g)
	}
	t.Logf("%d occupant presences (cap %d), flood bridged in %v", n, max, took)
}

// TestHostileIRCMalformed (issue 18 item 14): numerics and commands with
// missing parameters, invalid UTF-8 in nicks, topics and text, and lines
// without CR reach the gateway after it joined a channel: nothing panics,
// no invalid UTF-8 reaches XMPP, and a good message after them is bridged.
func TestHostileIRCMalformed(t *testing.T) {
	checkNoLeaks(t)
	addr := scriptedIRC(t, func(w io.Writer, ch string) {
		fmt.Fprintf(w, ":srv 353 alice = %s :alice @bob\r\n:srv 366 alice %s :End\r\n", ch, ch)
		for _, cmd := range []string{"332", "333", "353", "366", "324", "329", "341", "367", "401", "403", "404",
			"433", "441", "442", "471", "473", "474", "475", "482"} {
			fmt.Fprintf(w, ":srv %s\r\n:srv %s alice\r\n", cmd, cmd)
		}
		for _, cmd := range []string{"JOIN", "PART", "KICK", "MODE", "NICK", "TOPIC", "PRIVMSG", "NOTICE", "QUIT", "INVITE"} {
			fmt.Fprintf(w, ":x!y@z %s\r\n:x!y@z %s %s\r\n", cmd, cmd, ch)
		}
		fmt.Fprintf(w, ":bob!u@h TOPIC %s :caf\xe9 \xff\xfe topic\r\n", ch)
		fmt.Fprintf(w, ":b\xffd!u@h JOIN %s\r\n", ch)
		fmt.Fprintf(w, ":b\xffd!u@h PRIVMSG %s :bad \xc3\x28 text\n", ch) // LF only
		fmt.Fprintf(w, ":bob!u@h PRIVMSG %s :good after bad\r\n", ch)
	})
	alice := joinedUser(t, addr, 0, "#bad")
	untilBody(t, alice, "#bad", "good after bad", 10*time.Second)
}
