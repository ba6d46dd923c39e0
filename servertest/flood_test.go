package servertest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// joined registers nick on the plain port of s and joins channel.
func joined(t *testing.T, s *Server, nick, channel string) (*ircConn, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	i := newIRC(t, c)
	i.register(s.Domain, nick)
	i.send("JOIN " + channel)
	i.until("366", func(l string) bool { return strings.Contains(l, " 366 ") })
	return i, c
}

// paste writes n PRIVMSGs to channel in one write, as a client without
// pacing does with a pasted text.
func paste(t *testing.T, c net.Conn, channel string, n int) []string {
	t.Helper()
	var b strings.Builder
	var lines []string
	for i := 1; i <= n; i++ {
		l := fmt.Sprintf("line %02d of the paste", i)
		lines = append(lines, l)
		fmt.Fprintf(&b, "PRIVMSG %s :%s\r\n", channel, l)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return lines
}

// received reads what peer sees of the paste from nick until want lines
// arrived or nick quit, and returns the lines and the QUIT ("" if none).
func received(t *testing.T, peer *ircConn, nick string, want int) (got []string, quit string) {
	t.Helper()
	for len(got) < want {
		l := peer.until("paste or quit", func(l string) bool {
			return strings.HasPrefix(l, ":"+nick+"!") && (strings.Contains(l, " PRIVMSG ") || strings.Contains(l, " QUIT "))
		})
		if strings.Contains(l, " QUIT ") {
			return got, l
		}
		got = append(got, l[strings.LastIndex(l, " :")+2:])
	}
	return got, ""
}

func TestInspircdFlood(t *testing.T) {
	t.Parallel()
	s := Inspircd(t, InspircdOptions{Flood: &InspircdFlood{Threshold: 10, Rate: 5}})
	dial := func(nick string) (*ircConn, net.Conn) { return joined(t, s, nick, "#f") }
	peer, _ := dial("peer")
	flooder, fc := dial("flooder")
	peer.until("flooder's join", func(l string) bool { return strings.HasPrefix(l, ":flooder!") })
	time.Sleep(1100 * time.Millisecond) // the join's penalty drains
	lines := paste(t, fc, "#f", 30)
	got, quit := received(t, peer, "flooder", len(lines))
	t.Logf("30 lines pasted at once: %d relayed, then %q", len(got), quit)
	if !strings.Contains(quit, "Excess Flood") {
		t.Errorf("the flooder was not disconnected for flooding: %d lines relayed, quit %q", len(got), quit)
	}
	for i, l := range got {
		if l != lines[i] {
			t.Fatalf("line %d relayed as %q, want %q", i, l, lines[i])
		}
	}
	// The flooder is told why.
	for {
		l, err := flooder.r.ReadString('\n')
		if err != nil {
			t.Fatalf("no ERROR for the flooder: %v", err)
		}
		if strings.HasPrefix(l, "ERROR ") {
			if !strings.Contains(l, "Excess Flood") {
				t.Errorf("flooder told %q", l)
			}
			break
		}
	}

	// The same 30 lines paced under the rate (5 at once, then 4 a
	// second) all arrive, and the sender stays.
	paced, pc := dial("paced")
	peer.until("paced's join", func(l string) bool { return strings.HasPrefix(l, ":paced!") })
	time.Sleep(1100 * time.Millisecond)
	t0 := time.Now()
	go func() {
		for i, l := range lines {
			if i >= 5 {
				time.Sleep(250 * time.Millisecond)
			}
			if _, err := fmt.Fprintf(pc, "PRIVMSG #f :%s\r\n", l); err != nil {
				return
			}
		}
	}()
	got, quit = received(t, peer, "paced", len(lines))
	if quit != "" || len(got) != len(lines) {
		t.Fatalf("paced: %d lines, then %q", len(got), quit)
	}
	for i, l := range got {
		if l != lines[i] {
			t.Fatalf("paced line %d relayed as %q, want %q", i, l, lines[i])
		}
	}
	t.Logf("30 lines paced at 5 + 4/s: all relayed in %v", time.Since(t0))
	paced.send("PING :still")
	paced.until("PONG", func(l string) bool { return strings.Contains(l, "PONG") && strings.Contains(l, "still") })
}

func TestNgircdFlood(t *testing.T) {
	t.Parallel()
	for _, flood := range []bool{false, true} {
		s := Ngircd(t, NgircdOptions{Flood: flood})
		dial := func(nick string) (*ircConn, net.Conn) { return joined(t, s, nick, "#f") }
		peer, _ := dial("peer")
		flooder, fc := dial("flooder")
		peer.until("flooder's join", func(l string) bool { return strings.HasPrefix(l, ":flooder!") })
		t0 := time.Now()
		lines := paste(t, fc, "#f", 12)
		got, quit := received(t, peer, "flooder", len(lines))
		took := time.Since(t0)
		t.Logf("Flood %v: 12 lines pasted at once: %d relayed in %v", flood, len(got), took)
		if quit != "" {
			t.Fatalf("Flood %v: the flooder quit: %q", flood, quit)
		}
		for i, l := range got {
			if l != lines[i] {
				t.Fatalf("line %d relayed as %q, want %q", i, l, lines[i])
			}
		}
		// ngircd relays 3 of a client's commands a second: 12 need 3 s.
		if flood && took < 2500*time.Millisecond {
			t.Errorf("with Flood, 12 lines relayed in %v: not held back", took)
		}
		if !flood && took > time.Second {
			t.Errorf("without Flood, 12 lines took %v", took)
		}
		flooder.send("PING :still")
		flooder.until("PONG", func(l string) bool { return strings.Contains(l, "PONG") && strings.Contains(l, "still") })
	}
}
