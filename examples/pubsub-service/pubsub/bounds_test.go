package pubsub

import (
	"strings"
	"testing"

	"xmppkit.dev/stanza"
)

// TestBounds (issue 18 item 5): the service's state has bounds that hold
// by default; past one a request gets resource-constraint, and the
// totals are kept through replacements, retractions and a restart.
func TestBounds(t *testing.T) {
	dir := t.TempDir()
	fs, err := OpenFileStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOpts(t, Options{Store: fs, MaxNodes: 2, MaxItemBytes: 10 << 10, MaxSubscriptions: 2})
	c := e.client("alice@localhost/a")
	c.ok("set", NS, "<create node='a'/>")
	c.ok("set", NS, "<create node='b'/>")
	c.fail("set", NS, "<create node='c'/>", stanza.ResourceConstraint, "")

	item := func(id string, n int) string {
		return "<publish node='a'><item id='" + id + "'><v xmlns='urn:t'>" + strings.Repeat("x", n) + "</v></item></publish>"
	}
	c.ok("set", NS, item("1", 4000))
	c.ok("set", NS, item("2", 4000))
	c.fail("set", NS, item("3", 4000), stanza.ResourceConstraint, "")
	c.ok("set", NS, item("2", 5000)) // replacing counts the difference
	c.ok("set", NS, "<retract node='a'><item id='1'/></retract>")
	c.ok("set", NS, item("3", 4000))

	c.ok("set", NS, "<subscribe node='a' jid='alice@localhost/a'/>")
	c.ok("set", NS, "<subscribe node='b' jid='alice@localhost/a'/>")
	d := e.client("bob@localhost/b")
	d.fail("set", NS, "<subscribe node='a' jid='bob@localhost/b'/>", stanza.ResourceConstraint, "")
	e.svc.Close()

	// Replayed, the totals are the same: still full.
	fs, err = OpenFileStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	e = newEnvOpts(t, Options{Store: fs, MaxNodes: 2, MaxItemBytes: 10 << 10, MaxSubscriptions: 2})
	c = e.client("alice@localhost/a")
	c.fail("set", NS, item("4", 4000), stanza.ResourceConstraint, "")
	c.fail("set", NS, "<create node='c'/>", stanza.ResourceConstraint, "")
	c.ok("set", NSOwner, "<delete node='b'/>") // frees a node and a subscription
	c.ok("set", NS, "<create node='c'/>")
	e.client("bob@localhost/b").ok("set", NS, "<subscribe node='a' jid='bob@localhost/b'/>")
}
