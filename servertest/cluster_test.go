package servertest

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// componentLink does the XEP-0114 §3 handshake and returns the open
// connection.
func componentLink(t *testing.T, addr string, c Component) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Write([]byte("<stream:stream xmlns='jabber:component:accept' " +
		"xmlns:stream='http://etherx.jabber.org/streams' to='" + c.Domain + "'>"))
	if err != nil {
		t.Fatal(err)
	}
	buf, err := readUntilFunc(conn, nil, func(b []byte) bool { return streamID.Match(b) })
	m := streamID.FindSubmatch(buf)
	if m == nil {
		t.Fatalf("no stream header from %s: %q (%v)", addr, buf, err)
	}
	sum := sha1.Sum(append(m[1], c.Secret...))
	if _, err := conn.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		t.Fatal(err)
	}
	if buf, err := readUntil(conn, nil, "<handshake/>", "</stream:stream>"); !bytes.Contains(buf, []byte("<handshake/>")) {
		t.Fatalf("%s: handshake for %s: %q (%v)", addr, c.Domain, buf, err)
	}
	return conn
}

func TestEjabberdCluster(t *testing.T) {
	t.Parallel()
	c := EjabberdCluster(t, EjabberdClusterOptions{})
	if len(c.Nodes) != 2 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	for i := range c.Nodes {
		got, err := c.Members(i)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.NodeNames) {
			t.Errorf("node %d sees members %q, want %q", i, got, c.NodeNames)
		}
	}
	a, b := c.Nodes[0], c.Nodes[1]
	if a.C2SAddr == b.C2SAddr || a.ComponentAddr == b.ComponentAddr || a.HTTPAddr == b.HTTPAddr {
		t.Fatalf("nodes share addresses: %+v %+v", a, b)
	}
	// The accounts, registered through the first node, log in on both.
	for _, s := range c.Nodes {
		if _, out := c2sAuth(t, s, "alice", "alicepw"); !strings.Contains(out, "<success") {
			t.Errorf("alice on %s: %s", s.C2SAddr, out)
		}
	}
	// A stanza crosses the cluster: c1 on the first node to c2 on the second.
	route := func(what string, from, to *Server) {
		t.Helper()
		c1 := componentLink(t, from.ComponentAddr, a.Components[0])
		c2 := componentLink(t, to.ComponentAddr, b.Components[1])
		// c2's route reaches the first node a moment after c2's handshake
		// on the second: until it has, a stanza bounces. Wait for it.
		send := func(body string) {
			msg := "<message from='" + a.Components[0].Domain + "' to='" + b.Components[1].Domain + "' id='" + body + "'><body>" + body + "</body></message>"
			if _, err := c1.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		var seen []byte
		for n := 0; !bytes.Contains(seen, []byte("<body>warm")); n++ {
			if n == 100 {
				t.Fatalf("%s: c2's route never reached the sending node", what)
			}
			send("warm" + strconv.Itoa(n))
			_ = c2.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 4096)
			k, _ := c2.Read(buf)
			seen = append(seen, buf[:k]...)
		}
		// Four more: each must reach c2's link, not another link that
		// also registered c2's route (what global_routes: false prevents).
		for i := range 4 {
			body := what + strconv.Itoa(i)
			send(body)
			if buf, err := readUntil(c2, nil, "<body>"+body+"</body>"); !bytes.Contains(buf, []byte("<body>"+body+"</body>")) {
				t.Fatalf("%s: c2's link got %q (%v)", body, buf, err)
			}
		}
		c1.Close()
		c2.Close()
	}
	route("local", a, a)
	route("across", a, b)

	// Killing one node leaves the other serving; started again, it rejoins.
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Members(0); err != nil || !slices.Equal(got, c.NodeNames[:1]) {
		t.Errorf("after killing %s: members %q, %v", c.NodeNames[1], got, err)
	}
	if _, out := c2sAuth(t, a, "bob", "bobpw"); !strings.Contains(out, "<success") {
		t.Errorf("bob on the surviving node: %s", out)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Members(0)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, c.NodeNames) {
		t.Errorf("after restarting %s: members %q, %v", c.NodeNames[1], got, err)
	}
	route("again", a, b)
	start, _ := b.Timings()
	t.Logf("ejabberd cluster: node restart ready in %v", start)
}
