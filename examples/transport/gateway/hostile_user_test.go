package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// What the user is told when the IRC server misbehaves (the floods and
// malformed lines themselves are in hostile_test.go).

// TestRegistrationNeverCompletes: a server that talks but never sends 001
// fails the join with an error the user reads, within the registration
// timeout, and leaves nothing running.
func TestRegistrationNeverCompletes(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go io.Copy(io.Discard, bufio.NewReader(c))
		for i := 0; i < 100; i++ { // talk, so that the link looks alive
			if _, err := fmt.Fprintf(c, ":srv NOTICE * :*** still looking up your host\r\n"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	gw, err := New(Config{
		Domain: "irc.localhost", Networks: map[string]Network{"irc.test.local": testNetwork(ln.Addr().String())},
		Default: "irc.test.local", Logger: quietLogger(), ReconnectMin: time.Hour, RegisterTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := xmpptest.New(t, "irc.localhost", gw, xmpptest.WithLogger(quietLogger()))
	t.Cleanup(gw.Close)
	alice := env.Client("alice")
	start := time.Now()
	presenceTo(t, alice, "", "#h@irc.localhost/alice")
	e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#h@irc.localhost/alice")
	if err := e.Err(); err == nil || !strings.Contains(err.Text, "registration") {
		t.Errorf("error: %s", e)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("told after %v", d)
	}
}

// TestJoinFloodTold: past MaxOccupants the room stops listing joins and
// tells the user so, once.
func TestJoinFloodTold(t *testing.T) {
	checkNoLeaks(t)
	addr := scriptedIRC(t, func(w io.Writer, ch string) {
		bw := bufio.NewWriter(w)
		fmt.Fprintf(bw, ":srv 353 alice = %s :alice\r\n:srv 366 alice %s :End\r\n", ch, ch)
		for i := 0; i < 500; i++ {
			fmt.Fprintf(bw, ":j%d!u@h JOIN %s\r\n", i, ch)
		}
		fmt.Fprintf(bw, ":bob!u@h PRIVMSG %s :after the flood\r\n", ch)
		bw.Flush()
	})
	alice := joinedUser(t, addr, 100, "#told")
	told := 0
	for {
		st := next(t, alice)
		if st.Kind == stanza.Message && strings.Contains(st.Body(), "more users than the gateway shows") {
			told++
		}
		if st.Kind == stanza.Message && st.Body() == "after the flood" {
			break
		}
	}
	if told != 1 {
		t.Errorf("told %d times", told)
	}
}
