// Package storetest is the conformance suite of the pubsub.Store contract
// (see pubsub.Store): any implementation (MemoryStore, FileStore, a SQL
// store) runs it from a test of its own:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Config{
//			Open:   func(t *testing.T) pubsub.Store { return newEmptyStore(t) },
//			Reopen: func(t *testing.T, s pubsub.Store) pubsub.Store { s.Close(); return openAgain(t) },
//		})
//	}
//
// Each subtest gets a store of its own from Open (empty), and closes it.
// Reopen, when set, closes a store and opens it again on the same data:
// the durability subtests check that committed transactions survive and
// failed ones leave nothing.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/examples/pubsub-service/pubsub"
)

// Config says how to get stores.
type Config struct {
	// Open returns an empty store for one subtest.
	Open func(t *testing.T) pubsub.Store
	// Reopen closes s and opens the same data again; nil skips the
	// durability subtests.
	Reopen func(t *testing.T, s pubsub.Store) pubsub.Store
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c Config)
	}{
		{"Nodes", testNodes},
		{"NodePages", testNodePages},
		{"Affiliations", testAffiliations},
		{"Subscriptions", testSubscriptions},
		{"Items", testItems},
		{"ItemPages", testItemPages},
		{"Usage", testUsage},
		{"Rollback", testRollback},
		{"ReadOnly", testReadOnly},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentPublish", testConcurrentPublish},
		{"Durability", testDurability},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

var ctx = context.Background()

func open(t *testing.T, c Config) pubsub.Store {
	t.Helper()
	s := c.Open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// write runs fn in a transaction and waits for it to be durable.
func write(t *testing.T, s pubsub.Store, fn func(tx pubsub.Tx) error) error {
	t.Helper()
	wait, err := s.Write(ctx, fn)
	if err != nil {
		return err
	}
	return wait()
}

func must(t *testing.T, s pubsub.Store, fn func(tx pubsub.Tx) error) {
	t.Helper()
	if err := write(t, s, fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s pubsub.Store, fn func(tx pubsub.Tx) error) {
	t.Helper()
	if err := s.Read(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

var when = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func node(svc, id, creator string) *pubsub.Node {
	return &pubsub.Node{Key: pubsub.Key{Service: svc, Node: id}, Config: pubsub.DefaultConfig(), Created: when, Creator: creator}
}

func key(id string) pubsub.Key { return pubsub.Key{Node: id} }

func nodeIDs(nodes []*pubsub.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Node)
	}
	return out
}

func itemIDs(items []*pubsub.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func eq[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func testNodes(t *testing.T, c Config) {
	s := open(t, c)
	must(t, s, func(tx pubsub.Tx) error {
		n := node("", "news", "alice@x")
		n.Config.Title = "News"
		n.Config.ItemExpire = 60
		if err := tx.CreateNode(n); err != nil {
			return err
		}
		if err := tx.CreateNode(node("alice@x", "news", "alice@x")); err != nil {
			return err // another service: another node
		}
		if err := tx.CreateNode(node("", "other", "bob@x")); err != nil {
			return err
		}
		// Read your writes.
		if got, err := tx.Node(key("news")); err != nil || got.Config.Title != "News" {
			return fmt.Errorf("node in its transaction: %v %v", got, err)
		}
		return nil
	})
	err := write(t, s, func(tx pubsub.Tx) error { return tx.CreateNode(node("", "news", "carol@x")) })
	if !errors.Is(err, pubsub.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	read(t, s, func(tx pubsub.Tx) error {
		n, err := tx.Node(key("news"))
		if err != nil {
			return err
		}
		if n.Creator != "alice@x" || !n.Created.Equal(when) || n.Config.Title != "News" || n.Config.MaxItems != pubsub.DefaultConfig().MaxItems {
			t.Errorf("node read back: %+v", n)
		}
		if _, err := tx.Node(key("missing")); !errors.Is(err, pubsub.ErrNotFound) {
			t.Errorf("missing node: %v", err)
		}
		if c, _ := tx.CountNodes(""); c != 2 {
			t.Errorf("CountNodes = %d", c)
		}
		if c, _ := tx.CountNodes("alice@x"); c != 1 {
			t.Errorf("CountNodes(alice) = %d", c)
		}
		keys, _ := tx.NodesCreatedBy("alice@x")
		sort.Slice(keys, func(i, j int) bool { return keys[i].Service < keys[j].Service })
		eq(t, "NodesCreatedBy", keys, []pubsub.Key{{Node: "news"}, {Service: "alice@x", Node: "news"}})
		exp, _ := tx.ExpiringNodes()
		eq(t, "ExpiringNodes", exp, []pubsub.Key{key("news")})
		return nil
	})
	must(t, s, func(tx pubsub.Tx) error {
		cfg := pubsub.DefaultConfig()
		cfg.Title, cfg.MaxItems, cfg.AccessModel = "Changed", 7, pubsub.AccessWhitelist
		cfg.RosterGroups = []string{"a", "b"}
		cfg.Extra = map[string][]string{"x-custom": {"1"}}
		if err := tx.SetConfig(key("news"), cfg); err != nil {
			return err
		}
		if err := tx.SetConfig(key("missing"), cfg); !errors.Is(err, pubsub.ErrNotFound) {
			return fmt.Errorf("SetConfig of a missing node: %v", err)
		}
		return tx.SetAffiliation(pubsub.Affiliation{Key: key("other"), JID: "bob@x", Affiliation: pubsub.AffOwner})
	})
	read(t, s, func(tx pubsub.Tx) error {
		n, _ := tx.Node(key("news"))
		if n.Config.Title != "Changed" || n.Config.MaxItems != 7 || n.Config.AccessModel != pubsub.AccessWhitelist ||
			!slices.Equal(n.Config.RosterGroups, []string{"a", "b"}) || n.Config.Extra["x-custom"][0] != "1" {
			t.Errorf("config read back: %+v", n.Config)
		}
		if exp, _ := tx.ExpiringNodes(); len(exp) != 0 {
			t.Errorf("ExpiringNodes after the expiry was removed: %v", exp)
		}
		return nil
	})
	// Delete takes everything in the node with it.
	must(t, s, func(tx pubsub.Tx) error {
		k := key("other")
		if err := tx.PutSubscription(pubsub.Subscription{Key: k, JID: "carol@x/r", SubID: "s1", State: pubsub.SubSubscribed, Options: pubsub.DefaultSubOptions(), Created: when}); err != nil {
			return err
		}
		return tx.PutItem(k, &pubsub.Item{ID: "i", Publisher: "bob@x", Time: when, Payload: "<v xmlns='urn:v'/>"})
	})
	must(t, s, func(tx pubsub.Tx) error { return tx.DeleteNode(key("other")) })
	read(t, s, func(tx pubsub.Tx) error {
		if _, err := tx.Node(key("other")); !errors.Is(err, pubsub.ErrNotFound) {
			t.Errorf("deleted node: %v", err)
		}
		if subs, _ := tx.SubscriptionsOf("", "carol@x"); len(subs) != 0 {
			t.Errorf("subscriptions of a deleted node: %v", subs)
		}
		if affs, _ := tx.AffiliationsOf("", "bob@x"); len(affs) != 0 {
			t.Errorf("affiliations of a deleted node: %v", affs)
		}
		if keys, _ := tx.NodesCreatedBy("bob@x"); len(keys) != 0 {
			t.Errorf("NodesCreatedBy after delete: %v", keys)
		}
		return nil
	})
	if err := write(t, s, func(tx pubsub.Tx) error { return tx.DeleteNode(key("other")) }); !errors.Is(err, pubsub.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// A node of the same name can be created again, empty.
	must(t, s, func(tx pubsub.Tx) error { return tx.CreateNode(node("", "other", "dave@x")) })
	read(t, s, func(tx pubsub.Tx) error {
		if c, b, err := tx.ItemStats(key("other")); c != 0 || b != 0 || err != nil {
			t.Errorf("recreated node has items: %d %d %v", c, b, err)
		}
		return nil
	})
}

func testNodePages(t *testing.T, c Config) {
	s := open(t, c)
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	must(t, s, func(tx pubsub.Tx) error {
		for _, id := range []string{"d", "a", "g", "c", "f", "b", "e"} {
			if err := tx.CreateNode(node("", id, "o@x")); err != nil {
				return err
			}
		}
		return tx.CreateNode(node("p@x", "zz", "p@x"))
	})
	read(t, s, func(tx pubsub.Tx) error {
		for _, tc := range []struct {
			p    pubsub.Page
			want []string
		}{
			{pubsub.Page{}, ids},
			{pubsub.Page{Limit: 3}, ids[:3]},
			{pubsub.Page{After: "c", Limit: 3}, ids[3:6]},
			{pubsub.Page{After: "f", Limit: 3}, ids[6:]},
			{pubsub.Page{After: "g", Limit: 3}, nil},
			{pubsub.Page{After: "bb", Limit: 2}, []string{"c", "d"}}, // a position, not an id
			{pubsub.Page{Backward: true, Limit: 3}, ids[4:]},
			{pubsub.Page{Backward: true, After: "e", Limit: 3}, ids[1:4]},
			{pubsub.Page{Backward: true, After: "b", Limit: 3}, ids[:1]},
			{pubsub.Page{Backward: true, After: "a", Limit: 3}, nil},
		} {
			got, err := tx.Nodes("", tc.p)
			if err != nil {
				return err
			}
			eq(t, fmt.Sprintf("Nodes(%+v)", tc.p), nodeIDs(got), tc.want)
		}
		got, _ := tx.Nodes("p@x", pubsub.Page{})
		eq(t, "Nodes of another service", nodeIDs(got), []string{"zz"})
		return nil
	})
}

func testAffiliations(t *testing.T, c Config) {
	s := open(t, c)
	set := func(tx pubsub.Tx, n, j, a string) error {
		return tx.SetAffiliation(pubsub.Affiliation{Key: key(n), JID: j, Affiliation: a})
	}
	must(t, s, func(tx pubsub.Tx) error {
		for _, n := range []string{"n1", "n2"} {
			if err := tx.CreateNode(node("", n, "o@x")); err != nil {
				return err
			}
		}
		for _, e := range [][3]string{{"n1", "o@x", pubsub.AffOwner}, {"n1", "b@x", pubsub.AffPublisher},
			{"n1", "c@x", pubsub.AffOutcast}, {"n2", "b@x", pubsub.AffMember}, {"n1", "b@x", pubsub.AffPublishOnly}} {
			if err := set(tx, e[0], e[1], e[2]); err != nil {
				return err
			}
		}
		if err := set(tx, "missing", "b@x", pubsub.AffMember); !errors.Is(err, pubsub.ErrNotFound) {
			return fmt.Errorf("affiliation at a missing node: %v", err)
		}
		return nil
	})
	read(t, s, func(tx pubsub.Tx) error {
		affs, _ := tx.Affiliations(key("n1"))
		var got []string
		for _, a := range affs {
			got = append(got, a.JID+"="+a.Affiliation)
		}
		// Setting again keeps the place.
		eq(t, "Affiliations", got, []string{"o@x=owner", "b@x=publish-only", "c@x=outcast"})
		if a, _ := tx.Affiliation(key("n2"), "b@x"); a != pubsub.AffMember {
			t.Errorf("Affiliation = %q", a)
		}
		if a, _ := tx.Affiliation(key("n2"), "z@x"); a != pubsub.AffNone {
			t.Errorf("Affiliation of a stranger = %q", a)
		}
		of, _ := tx.AffiliationsOf("", "b@x")
		got = nil
		for _, a := range of {
			got = append(got, a.Node+"="+a.Affiliation)
		}
		eq(t, "AffiliationsOf", got, []string{"n1=publish-only", "n2=member"})
		return nil
	})
	must(t, s, func(tx pubsub.Tx) error { return set(tx, "n1", "b@x", pubsub.AffNone) })
	must(t, s, func(tx pubsub.Tx) error { return set(tx, "n1", "b@x", pubsub.AffMember) })
	read(t, s, func(tx pubsub.Tx) error {
		affs, _ := tx.Affiliations(key("n1"))
		var got []string
		for _, a := range affs {
			got = append(got, a.JID)
		}
		eq(t, "Affiliations after none and again", got, []string{"o@x", "c@x", "b@x"})
		return nil
	})
}

func sub(n, j, id, state string) pubsub.Subscription {
	return pubsub.Subscription{Key: key(n), JID: j, SubID: id, State: state, Options: pubsub.DefaultSubOptions(), Created: when}
}

func testSubscriptions(t *testing.T, c Config) {
	s := open(t, c)
	must(t, s, func(tx pubsub.Tx) error {
		for _, n := range []string{"n2", "n1"} {
			if err := tx.CreateNode(node("", n, "o@x")); err != nil {
				return err
			}
		}
		for _, x := range []pubsub.Subscription{sub("n1", "b@x/r1", "s1", pubsub.SubSubscribed), sub("n1", "c@x", "s2", pubsub.SubPending),
			sub("n1", "b@x", "s3", pubsub.SubSubscribed), sub("n2", "b@x/r2", "s4", pubsub.SubUnconfigured)} {
			if err := tx.PutSubscription(x); err != nil {
				return err
			}
		}
		if err := tx.PutSubscription(sub("missing", "b@x", "s9", pubsub.SubSubscribed)); !errors.Is(err, pubsub.ErrNotFound) {
			return fmt.Errorf("subscription to a missing node: %v", err)
		}
		return nil
	})
	// Replacing keeps the place; options and state round-trip.
	must(t, s, func(tx pubsub.Tx) error {
		x := sub("n1", "c@x", "s2", pubsub.SubSubscribed)
		x.Options.Deliver = false
		x.Options.ShowValues = []string{"away", "dnd"}
		x.Options.Expire = "presence"
		return tx.PutSubscription(x)
	})
	read(t, s, func(tx pubsub.Tx) error {
		subs, _ := tx.Subscriptions(key("n1"))
		var got []string
		for _, x := range subs {
			got = append(got, x.SubID+":"+x.JID+":"+x.State)
		}
		eq(t, "Subscriptions", got, []string{"s1:b@x/r1:subscribed", "s2:c@x:subscribed", "s3:b@x:subscribed"})
		if o := subs[1].Options; o.Deliver || !slices.Equal(o.ShowValues, []string{"away", "dnd"}) || o.Expire != "presence" {
			t.Errorf("options read back: %+v", o)
		}
		if !subs[0].Options.Deliver || !subs[0].Created.Equal(when) {
			t.Errorf("subscription read back: %+v", subs[0])
		}
		of, _ := tx.SubscriptionsOf("", "b@x")
		got = nil
		for _, x := range of {
			got = append(got, x.Node+":"+x.SubID)
		}
		eq(t, "SubscriptionsOf", got, []string{"n1:s1", "n1:s3", "n2:s4"})
		return nil
	})
	must(t, s, func(tx pubsub.Tx) error {
		if ok, err := tx.DeleteSubscription(key("n1"), "s1"); !ok || err != nil {
			return fmt.Errorf("DeleteSubscription: %v %v", ok, err)
		}
		if ok, err := tx.DeleteSubscription(key("n1"), "s1"); ok || err != nil {
			return fmt.Errorf("DeleteSubscription again: %v %v", ok, err)
		}
		return nil
	})
	read(t, s, func(tx pubsub.Tx) error {
		of, _ := tx.SubscriptionsOf("", "b@x")
		if len(of) != 2 {
			t.Errorf("SubscriptionsOf after delete: %v", of)
		}
		return nil
	})
}

// payloads that must round-trip byte for byte.
var payloads = []string{
	`<entry xmlns="http://www.w3.org/2005/Atom" xmlns:x='urn:x' xml:lang="fr"><title  x:a = "1&amp;2">Bonjour &lt;monde&gt; &#x263A;</title>` + "\n  <x:e/></entry>",
	"<v xmlns='urn:v'/>",
	"",
	"<big xmlns='urn:big'>" + strings.Repeat("0123456789", 10000) + "</big>",
}

func testItems(t *testing.T, c Config) {
	s := open(t, c)
	k := key("n")
	var seqs []int64
	must(t, s, func(tx pubsub.Tx) error {
		if err := tx.CreateNode(node("", "n", "o@x")); err != nil {
			return err
		}
		for i, p := range payloads {
			it := &pubsub.Item{ID: fmt.Sprintf("i%d", i), Publisher: "o@x", Time: when.Add(time.Duration(i) * time.Second), Payload: p}
			if err := tx.PutItem(k, it); err != nil {
				return err
			}
			seqs = append(seqs, it.Seq)
		}
		// Read your writes, with payloads.
		it, err := tx.Item(k, "i0")
		if err != nil || it.Payload != payloads[0] {
			return fmt.Errorf("item in its transaction: %v %v", it, err)
		}
		return nil
	})
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("Seq not increasing: %v", seqs)
		}
	}
	read(t, s, func(tx pubsub.Tx) error {
		for i, p := range payloads {
			it, err := tx.Item(k, fmt.Sprintf("i%d", i))
			if err != nil {
				return err
			}
			if it.Payload != p || it.Size != len(p) || it.Publisher != "o@x" || !it.Time.Equal(when.Add(time.Duration(i)*time.Second)) || it.Seq != seqs[i] {
				t.Errorf("item %d read back: id %s size %d seq %d time %v (payload equal %v)", i, it.ID, it.Size, it.Seq, it.Time, it.Payload == p)
			}
		}
		if _, err := tx.Item(k, "nope"); !errors.Is(err, pubsub.ErrNotFound) {
			t.Errorf("missing item: %v", err)
		}
		if _, err := tx.Item(key("nope"), "i0"); !errors.Is(err, pubsub.ErrNotFound) {
			t.Errorf("item of a missing node: %v", err)
		}
		meta, _ := tx.Items(k, pubsub.ItemQuery{Limit: 1})
		if len(meta) != 1 || meta[0].ID != "i3" || meta[0].Payload != "" || meta[0].Size != len(payloads[3]) {
			t.Errorf("newest without payload: %+v", meta)
		}
		byID, _ := tx.Items(k, pubsub.ItemQuery{IDs: []string{"i2", "nope", "i0"}, Payloads: true})
		if eq(t, "Items by id", itemIDs(byID), []string{"i2", "i0"}); byID[1].Payload != payloads[0] {
			t.Errorf("by id payload")
		}
		count, bytes, _ := tx.ItemStats(k)
		total := 0
		for _, p := range payloads {
			total += len(p)
		}
		if count != 4 || bytes != int64(total) {
			t.Errorf("ItemStats = %d %d, want 4 %d", count, bytes, total)
		}
		return nil
	})
	// Replacing an id makes it the newest, with a new Seq.
	var seq int64
	must(t, s, func(tx pubsub.Tx) error {
		it := &pubsub.Item{ID: "i1", Publisher: "p@x", Time: when, Payload: "<w xmlns='urn:w'>2</w>"}
		err := tx.PutItem(k, it)
		seq = it.Seq
		return err
	})
	if seq <= seqs[len(seqs)-1] {
		t.Fatalf("replacing Seq %d not above %v", seq, seqs)
	}
	must(t, s, func(tx pubsub.Tx) error {
		if ok, err := tx.DeleteItem(k, "i2"); !ok || err != nil {
			return fmt.Errorf("DeleteItem: %v %v", ok, err)
		}
		if ok, err := tx.DeleteItem(k, "i2"); ok || err != nil {
			return fmt.Errorf("DeleteItem again: %v %v", ok, err)
		}
		return nil
	})
	read(t, s, func(tx pubsub.Tx) error {
		all, _ := tx.Items(k, pubsub.ItemQuery{})
		eq(t, "Items newest first", itemIDs(all), []string{"i1", "i3", "i0"})
		it, _ := tx.Item(k, "i1")
		if it.Payload != "<w xmlns='urn:w'>2</w>" || it.Publisher != "p@x" {
			t.Errorf("replaced item: %+v", it)
		}
		count, bytes, _ := tx.ItemStats(k)
		if count != 3 || bytes != int64(len(payloads[0])+len(payloads[3])+len(it.Payload)) {
			t.Errorf("ItemStats after replace and delete = %d %d", count, bytes)
		}
		return nil
	})
	must(t, s, func(tx pubsub.Tx) error { return tx.Purge(k) })
	read(t, s, func(tx pubsub.Tx) error {
		if all, _ := tx.Items(k, pubsub.ItemQuery{}); len(all) != 0 {
			t.Errorf("items after purge: %v", itemIDs(all))
		}
		return nil
	})
	// Seq goes on above what a purge removed.
	must(t, s, func(tx pubsub.Tx) error {
		it := &pubsub.Item{ID: "after", Time: when}
		if err := tx.PutItem(k, it); err != nil {
			return err
		}
		if it.Seq <= seq {
			return fmt.Errorf("the Seq %d after purge not above %d", it.Seq, seq)
		}
		return nil
	})
}

func testItemPages(t *testing.T, c Config) {
	s := open(t, c)
	k := key("n")
	const n = 25
	must(t, s, func(tx pubsub.Tx) error {
		if err := tx.CreateNode(node("", "n", "o@x")); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := tx.PutItem(k, &pubsub.Item{ID: fmt.Sprintf("%02d", i), Time: when, Payload: fmt.Sprintf("<v xmlns='urn:v'>%d</v>", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, s, func(tx pubsub.Tx) error {
		// Newest first, page by page.
		var all []string
		after := ""
		for {
			page, err := tx.Items(k, pubsub.ItemQuery{After: after, Limit: 10, Payloads: true})
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			for _, it := range page {
				if it.Payload != "<v xmlns='urn:v'>"+strings.TrimLeft(it.ID, "0")+"</v>" && !(it.ID == "00" && it.Payload == "<v xmlns='urn:v'>0</v>") {
					t.Errorf("item %s payload %q", it.ID, it.Payload)
				}
			}
			all = append(all, itemIDs(page)...)
			after = page[len(page)-1].ID
		}
		var want []string
		for i := n - 1; i >= 0; i-- {
			want = append(want, fmt.Sprintf("%02d", i))
		}
		eq(t, "pages newest first", all, want)
		old, _ := tx.Items(k, pubsub.ItemQuery{OldestFirst: true, After: "04", Limit: 3})
		eq(t, "oldest first after 04", itemIDs(old), []string{"05", "06", "07"})
		if _, err := tx.Items(k, pubsub.ItemQuery{After: "nope"}); !errors.Is(err, pubsub.ErrNotFound) {
			t.Errorf("after an unknown id: %v", err)
		}
		return nil
	})
}

func testUsage(t *testing.T, c Config) {
	s := open(t, c)
	usage := func() pubsub.Usage {
		var u pubsub.Usage
		read(t, s, func(tx pubsub.Tx) error {
			var err error
			u, err = tx.Usage()
			return err
		})
		return u
	}
	if u := usage(); u != (pubsub.Usage{}) {
		t.Fatalf("empty store: %+v", u)
	}
	k := key("node")
	must(t, s, func(tx pubsub.Tx) error {
		if err := tx.CreateNode(node("", "node", "o@x")); err != nil {
			return err
		}
		if err := tx.SetAffiliation(pubsub.Affiliation{Key: k, JID: "o@x", Affiliation: pubsub.AffOwner}); err != nil {
			return err
		}
		if err := tx.PutSubscription(sub("node", "b@x/r", "s", pubsub.SubSubscribed)); err != nil {
			return err
		}
		return tx.PutItem(k, &pubsub.Item{ID: "it", Time: when, Payload: "<v xmlns='urn:v'/>"})
	})
	want := pubsub.Usage{Nodes: 1, Items: 1, Subscriptions: 1, ItemBytes: int64(len("it") + len("<v xmlns='urn:v'/>")),
		Bytes: pubsub.CostNode + 4 + pubsub.CostAffiliation + 3 + pubsub.CostSubscription + 5 + pubsub.CostItem + 2 + int64(len("<v xmlns='urn:v'/>"))}
	if u := usage(); u != want {
		t.Fatalf("usage %+v, want %+v", u, want)
	}
	must(t, s, func(tx pubsub.Tx) error {
		return tx.PutItem(k, &pubsub.Item{ID: "it", Time: when, Payload: "<v xmlns='urn:v'>longer</v>"})
	})
	grown := int64(len("<v xmlns='urn:v'>longer</v>") - len("<v xmlns='urn:v'/>"))
	want.Bytes += grown
	want.ItemBytes += grown
	if u := usage(); u != want {
		t.Fatalf("usage after replace %+v, want %+v", u, want)
	}
	must(t, s, func(tx pubsub.Tx) error { return tx.DeleteNode(k) })
	if u := usage(); u != (pubsub.Usage{}) {
		t.Fatalf("usage after deleting everything: %+v", u)
	}
}

// dump describes everything in the store, for comparisons.
func dump(t *testing.T, s pubsub.Store, services ...string) string {
	t.Helper()
	var b strings.Builder
	read(t, s, func(tx pubsub.Tx) error {
		for _, svc := range services {
			nodes, err := tx.Nodes(svc, pubsub.Page{})
			if err != nil {
				return err
			}
			for _, n := range nodes {
				fmt.Fprintf(&b, "node %q %q %s %s %+v\n", svc, n.Node, n.Creator, n.Created.UTC().Format(time.RFC3339Nano), n.Config)
				affs, _ := tx.Affiliations(n.Key)
				for _, a := range affs {
					fmt.Fprintf(&b, "  aff %s %s\n", a.JID, a.Affiliation)
				}
				subs, _ := tx.Subscriptions(n.Key)
				for _, x := range subs {
					fmt.Fprintf(&b, "  sub %s %s %s %+v %s\n", x.JID, x.SubID, x.State, x.Options, x.Created.UTC().Format(time.RFC3339Nano))
				}
				items, _ := tx.Items(n.Key, pubsub.ItemQuery{Payloads: true})
				for _, it := range items {
					fmt.Fprintf(&b, "  item %s %s %s %d %d %x\n", it.ID, it.Publisher, it.Time.UTC().Format(time.RFC3339Nano), it.Seq, it.Size, sha256.Sum256([]byte(it.Payload)))
				}
			}
		}
		u, _ := tx.Usage()
		fmt.Fprintf(&b, "usage %+v\n", u)
		return nil
	})
	return b.String()
}

// fill writes one of everything.
func fill(t *testing.T, s pubsub.Store) {
	must(t, s, func(tx pubsub.Tx) error {
		for _, n := range []*pubsub.Node{node("", "a", "o@x"), node("", "b", "o@x"), node("o@x", "urn:xmpp:avatar:data", "o@x")} {
			if err := tx.CreateNode(n); err != nil {
				return err
			}
			if err := tx.SetAffiliation(pubsub.Affiliation{Key: n.Key, JID: "o@x", Affiliation: pubsub.AffOwner}); err != nil {
				return err
			}
		}
		if err := tx.PutSubscription(sub("a", "b@x/r", "s1", pubsub.SubPending)); err != nil {
			return err
		}
		for i, p := range payloads {
			if err := tx.PutItem(key("a"), &pubsub.Item{ID: fmt.Sprint(i), Publisher: "o@x", Time: when, Payload: p}); err != nil {
				return err
			}
		}
		return tx.PutItem(pubsub.Key{Service: "o@x", Node: "urn:xmpp:avatar:data"}, &pubsub.Item{ID: "h", Publisher: "o@x", Time: when, Payload: payloads[1]})
	})
}

func testRollback(t *testing.T, c Config) {
	s := open(t, c)
	fill(t, s)
	before := dump(t, s, "", "o@x")
	boom := errors.New("boom")
	_, err := s.Write(ctx, func(tx pubsub.Tx) error {
		cfg := pubsub.DefaultConfig()
		cfg.Title = "rolled back"
		steps := []func() error{
			func() error { return tx.CreateNode(node("", "c", "o@x")) },
			func() error { return tx.SetConfig(key("a"), cfg) },
			func() error {
				return tx.SetAffiliation(pubsub.Affiliation{Key: key("a"), JID: "z@x", Affiliation: pubsub.AffMember})
			},
			func() error {
				return tx.SetAffiliation(pubsub.Affiliation{Key: key("a"), JID: "o@x", Affiliation: pubsub.AffNone})
			},
			func() error { return tx.PutSubscription(sub("a", "b@x/r", "s1", pubsub.SubSubscribed)) },
			func() error { return tx.PutSubscription(sub("a", "q@x", "s2", pubsub.SubSubscribed)) },
			func() error { _, err := tx.DeleteSubscription(key("a"), "s1"); return err },
			func() error { return tx.PutItem(key("a"), &pubsub.Item{ID: "new", Time: when, Payload: payloads[1]}) },
			func() error { return tx.PutItem(key("a"), &pubsub.Item{ID: "0", Time: when, Payload: payloads[1]}) },
			func() error { _, err := tx.DeleteItem(key("a"), "1"); return err },
			func() error { return tx.Purge(key("a")) },
			func() error { return tx.DeleteNode(key("b")) },
			func() error { return tx.DeleteNode(pubsub.Key{Service: "o@x", Node: "urn:xmpp:avatar:data"}) },
		}
		for _, st := range steps {
			if err := st(); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want the function's error", err)
	}
	if after := dump(t, s, "", "o@x"); after != before {
		t.Fatalf("a failed transaction left changes:\n%s\nwant:\n%s", after, before)
	}
	if c.Reopen != nil {
		s2 := c.Reopen(t, s)
		t.Cleanup(func() { s2.Close() })
		if after := dump(t, s2, "", "o@x"); after != before {
			t.Fatalf("a failed transaction left changes after reopening:\n%s\nwant:\n%s", after, before)
		}
	}
}

func testReadOnly(t *testing.T, c Config) {
	s := open(t, c)
	fill(t, s)
	err := s.Read(ctx, func(tx pubsub.Tx) error {
		for _, w := range []func() error{
			func() error { return tx.CreateNode(node("", "z", "o@x")) },
			func() error { return tx.PutItem(key("a"), &pubsub.Item{ID: "z", Time: when}) },
			func() error { _, err := tx.DeleteItem(key("a"), "0"); return err },
			func() error { return tx.DeleteNode(key("a")) },
			func() error { return tx.Purge(key("a")) },
		} {
			if err := w(); !errors.Is(err, pubsub.ErrReadOnly) {
				return fmt.Errorf("write in Read: %v, want ErrReadOnly", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testConcurrentCreate(t *testing.T, c Config) {
	s := open(t, c)
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = write(t, s, func(tx pubsub.Tx) error {
				if _, err := tx.Node(key("race")); err == nil {
					return pubsub.ErrExists
				}
				return tx.CreateNode(node("", "race", fmt.Sprintf("r%d@x", i)))
			})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, pubsub.ErrExists) && !errors.Is(err, pubsub.ErrConflict):
			t.Errorf("a losing create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates of one node committed, want 1", won)
	}
}

func testConcurrentPublish(t *testing.T, c Config) {
	s := open(t, c)
	must(t, s, func(tx pubsub.Tx) error { return tx.CreateNode(node("", "n", "o@x")) })
	const writers, each = 4, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]bool{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var seq int64
				err := write(t, s, func(tx pubsub.Tx) error {
					it := &pubsub.Item{ID: fmt.Sprintf("w%d-%d", w, i), Time: when, Payload: "<v xmlns='urn:v'/>"}
					err := tx.PutItem(key("n"), it)
					seq = it.Seq
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seqs[seq] {
					t.Errorf("Seq %d given twice", seq)
				}
				seqs[seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	read(t, s, func(tx pubsub.Tx) error {
		items, _ := tx.Items(key("n"), pubsub.ItemQuery{})
		if len(items) != writers*each {
			t.Errorf("%d items, want %d", len(items), writers*each)
		}
		for i := 1; i < len(items); i++ {
			if items[i].Seq >= items[i-1].Seq {
				t.Errorf("items not in descending Seq at %d", i)
			}
		}
		return nil
	})
}

func testDurability(t *testing.T, c Config) {
	if c.Reopen == nil {
		t.Skip("no Reopen")
	}
	s := c.Open(t)
	fill(t, s)
	must(t, s, func(tx pubsub.Tx) error {
		if err := tx.PutItem(key("a"), &pubsub.Item{ID: "1", Publisher: "q@x", Time: when, Payload: "<r xmlns='urn:r'/>"}); err != nil {
			return err
		}
		if _, err := tx.DeleteItem(key("a"), "2"); err != nil {
			return err
		}
		return tx.DeleteNode(key("b"))
	})
	before := dump(t, s, "", "o@x")
	var lastSeq int64
	read(t, s, func(tx pubsub.Tx) error {
		items, _ := tx.Items(key("a"), pubsub.ItemQuery{Limit: 1})
		lastSeq = items[0].Seq
		return nil
	})
	s2 := c.Reopen(t, s)
	defer s2.Close()
	if after := dump(t, s2, "", "o@x"); after != before {
		t.Fatalf("after reopening:\n%s\nwant:\n%s", after, before)
	}
	must(t, s2, func(tx pubsub.Tx) error {
		it := &pubsub.Item{ID: "later", Time: when}
		if err := tx.PutItem(key("a"), it); err != nil {
			return err
		}
		if it.Seq <= lastSeq {
			return fmt.Errorf("the Seq %d after reopening is not above %d", it.Seq, lastSeq)
		}
		return nil
	})
}
