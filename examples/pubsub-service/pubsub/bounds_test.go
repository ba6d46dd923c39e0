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
	opts := Options{Store: fs, MaxNodes: 2, MaxItemBytes: 10 << 10, MaxSubscriptions: 2}
	env := newEnvOpts(t, opts)
	c := env.client("alice@localhost/a")
	c.ok("set", NS, e("create", "node", "a"))
	c.ok("set", NS, e("create", "node", "b"))
	c.fail("set", NS, stanza.ResourceConstraint, "", e("create", "node", "c"))

	item := func(id string, n int) *node {
		return e("publish", "node", "a").kids(e("item", "id", id).with(stanza.TextElement("urn:t", "v", strings.Repeat("x", n))))
	}
	c.ok("set", NS, item("1", 4000))
	c.ok("set", NS, item("2", 4000))
	c.fail("set", NS, stanza.ResourceConstraint, "", item("3", 4000))
	c.ok("set", NS, item("2", 5000)) // replacing counts the difference
	c.ok("set", NS, e("retract", "node", "a").kids(e("item", "id", "1")))
	c.ok("set", NS, item("3", 4000))

	c.ok("set", NS, e("subscribe", "node", "a", "jid", "alice@localhost/a"))
	c.ok("set", NS, e("subscribe", "node", "b", "jid", "alice@localhost/a"))
	d := env.client("bob@localhost/b")
	d.fail("set", NS, stanza.ResourceConstraint, "", e("subscribe", "node", "a", "jid", "bob@localhost/b"))
	env.svc.Close()

	// Replayed, the totals are the same: still full.
	if opts.Store, err = OpenFileStore(dir, true); err != nil {
		t.Fatal(err)
	}
	env = newEnvOpts(t, opts)
	c = env.client("alice@localhost/a")
	c.fail("set", NS, stanza.ResourceConstraint, "", item("4", 4000))
	c.fail("set", NS, stanza.ResourceConstraint, "", e("create", "node", "c"))
	c.ok("set", NSOwner, e("delete", "node", "b")) // frees a node and a subscription
	c.ok("set", NS, e("create", "node", "c"))
	env.client("bob@localhost/b").ok("set", NS, e("subscribe", "node", "a", "jid", "bob@localhost/b"))
}
