package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// The flood cases run against an InspIRCd whose connect class disconnects
// a client when its penalty reaches 20 commands, draining 5 a second
// (servertest.InspircdFlood): a 30-line paste written at once gets a raw
// IRC client disconnected ("Excess Flood") after 20 lines; the gateway,
// paced at 5 lines and then 4 a second, delivers the same 30 lines whole
// and in order and stays; with its pacing turned off the server drops it
// too, and the user is told. InspIRCd drains the penalty once a second,
// so what a client may send in any one second (the burst, one second of
// pacing, and what the registration and the join cost) must stay under
// the threshold: with threshold 10 and 5 a second, the gateway's burst of
// 5 plus 4 a second was dropped after 7 lines (measured). TestInspircdFloodDefaults
// runs InspIRCd's default class against the gateway's default pacing.
var floodServer = servertest.InspircdFlood{Threshold: 20, Rate: 5}

// floodNetworks adds to the gateway's configuration the networks of the
// flood cases: "throttled" (paced under the server's rate) and "unpaced"
// (pacing off), both over the plain port.
func floodNetworks(ircd *servertest.Server) func(*Config) {
	return func(cfg *Config) {
		throttled := PlainNetwork(ircd.Addr)
		throttled.Throttle = irc.Throttle{Burst: 5, Interval: 250 * time.Millisecond}
		unpaced := PlainNetwork(ircd.Addr)
		unpaced.Throttle = irc.Throttle{Interval: -1}
		cfg.Networks["throttled"] = throttled
		cfg.Networks["unpaced"] = unpaced
	}
}

var floodCases = []struct {
	name string
	run  func(t *testing.T, h *host)
}{
	{"flood/raw-client-disconnected", caseFloodRaw},
	{"flood/throttled-paste-whole", caseFloodThrottled},
	{"flood/unpaced-gateway-disconnected", caseFloodUnpaced},
}

func TestInspircdFloodRouter(t *testing.T) { runFloodCases(t, routerHostWith) }

// hostWith makes a host bridging to an IRC server, with configuration
// edits: routerHostWith, prosodyHostWith.
type hostWith func(t *testing.T, ircd *servertest.Server, edits ...func(*Config)) *host

func runFloodCases(t *testing.T, with hostWith) {
	checkNoLeaks(t)
	f := floodServer
	ircd := servertest.Inspircd(t, servertest.InspircdOptions{TLS: true, Flood: &f})
	h := with(t, ircd, floodNetworks(ircd))
	for _, c := range floodCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// TestInspircdFloodDefaults: InspIRCd's default connect class (threshold
// 10, one command a second, no fake lag) against the gateway's default
// pacing (irc.DefaultThrottle: 5 lines, then one a second): a raw client
// writing the 30 lines at once is dropped, the gateway's paste arrives
// whole in about 27 s.
func TestInspircdFloodDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a paste at one line a second takes 27 s")
	}
	checkNoLeaks(t)
	ircd := servertest.Inspircd(t, servertest.InspircdOptions{TLS: true, Flood: &servertest.InspircdFlood{}})
	h := routerHostWith(t, ircd, func(cfg *Config) {
		n := PlainNetwork(ircd.Addr)
		n.Throttle = irc.Throttle{} // DefaultThrottle
		cfg.Networks["throttled"] = n
	})
	t.Run("flood/raw-client-disconnected", func(t *testing.T) { caseFloodRaw(t, h) })
	t.Run("flood/throttled-paste-whole", func(t *testing.T) { caseFloodThrottled(t, h) })
}

func TestInspircdFloodProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the router runs these cases")
	}
	runFloodCases(t, prosodyHostWith)
}

// pasteLines are the 30 lines of the paste.
func pasteLines() []string {
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("line %02d of the paste", i))
	}
	return lines
}

// floodWatcher is the IRC user in channel who watches the paste.
func floodWatcher(t *testing.T, h *host, nick, channel string) *ircClient {
	w := dialIRC(t, h.irc.Addr, nick)
	w.send("JOIN " + channel)
	w.expect("366 " + nick + " " + channel)
	return w
}

// pasteRoom has an IRC user watcher in channel, joins a fresh user to it
// through the gateway's network (as its user name), and returns the
// watcher, the user's device, the user and the room's address.
func pasteRoom(t *testing.T, h *host, watcher, channel, network string) (*ircClient, *dev, string, string) {
	t.Helper()
	w := floodWatcher(t, h, watcher, channel)
	u := h.newUser()
	d := h.dev(t, u, "x")
	roomJID := channel + "%" + network + "@irc.localhost"
	d.join(roomJID + "/" + u)
	d.joinSequence(roomJID, u, []string{watcher}, "110")
	w.expect(":" + u + "!")
	return w, d, u, roomJID
}

// relayed reads what w sees from nick until all lines arrived in order or
// nick quit; it returns how many arrived and the QUIT line ("" if none).
func relayed(t *testing.T, w *ircClient, nick string, lines []string) (int, string) {
	t.Helper()
	n := 0
	for n < len(lines) {
		l := w.expect(":" + nick + "!")
		switch {
		case strings.Contains(l, " QUIT "):
			return n, l
		case strings.Contains(l, " PRIVMSG "):
			if !strings.HasSuffix(l, " :"+lines[n]) {
				t.Fatalf("line %d: got %q, want %q", n+1, l, lines[n])
			}
			n++
		}
	}
	return n, ""
}

// caseFloodRaw: a raw IRC client writes the 30 lines at once: the server
// relays the first ones, then disconnects it for flooding.
func caseFloodRaw(t *testing.T, h *host) {
	w := floodWatcher(t, h, "fwatch1", "#flood1")
	raw := dialIRC(t, h.irc.Addr, "rawpaste")
	raw.send("JOIN #flood1")
	raw.expect("366 rawpaste #flood1")
	w.expect(":rawpaste!")
	time.Sleep(1100 * time.Millisecond) // the join's penalty drains
	lines := pasteLines()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("PRIVMSG #flood1 :" + l + "\r\n")
	}
	if _, err := raw.conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	n, quit := relayed(t, w, "rawpaste", lines)
	t.Logf("raw client: %d of 30 lines relayed, then %q", n, quit)
	if !strings.Contains(quit, "Excess Flood") || n == len(lines) {
		t.Fatalf("raw client: %d lines, quit %q: not disconnected for flooding", n, quit)
	}
	if l := raw.expect("ERROR "); !strings.Contains(l, "Excess Flood") {
		t.Errorf("the raw client was told %q", l)
	}
}

// caseFloodThrottled: the gateway's paced paste of the same 30 lines
// arrives whole and in order, and the user stays connected.
func caseFloodThrottled(t *testing.T, h *host) {
	w, d, u, roomJID := pasteRoom(t, h, "fwatch2", "#flood2", "throttled")
	lines := pasteLines()
	start := time.Now()
	d.groupchat(roomJID, strings.Join(lines, "\n"))
	n, quit := relayed(t, w, u, lines)
	took := time.Since(start)
	if n != len(lines) || quit != "" {
		t.Fatalf("throttled paste: %d of 30 lines, then %q", n, quit)
	}
	t.Logf("throttled paste: 30 lines relayed in order in %v", took)
	w.send("ISON " + u)
	if l := w.expect(" 303 fwatch2 "); !strings.HasSuffix(l, u) {
		t.Errorf("disconnected after the paste: %s", l)
	}
	d.none(300*time.Millisecond, "presence from the room", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.From.Bare().String() == roomJID && st.Type == stanza.TypeUnavailable
	})
}

// caseFloodUnpaced: with the gateway's pacing turned off the server drops
// the gateway's connection as it drops a raw client, and the user learns
// it from the room: an unavailable self-presence with the server's reason.
func caseFloodUnpaced(t *testing.T, h *host) {
	w, d, u, roomJID := pasteRoom(t, h, "fwatch3", "#flood3", "unpaced")
	time.Sleep(1100 * time.Millisecond)
	lines := pasteLines()
	d.groupchat(roomJID, strings.Join(lines, "\n"))
	n, quit := relayed(t, w, u, lines)
	t.Logf("unpaced gateway: %d of 30 lines relayed, then %q", n, quit)
	if !strings.Contains(quit, "Excess Flood") {
		t.Fatalf("unpaced gateway: %d lines, quit %q", n, quit)
	}
	out := d.expect("unavailable self-presence", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && st.From.String() == roomJID+"/"+u
	})
	t.Logf("the user is told: %s", out)
	if !strings.Contains(out.String(), "Excess Flood") {
		t.Errorf("the user is not told why: %s", out)
	}
}
