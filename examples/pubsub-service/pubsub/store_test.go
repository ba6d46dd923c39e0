package pubsub

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

func dumpState(t testing.TB, svc *Service) string {
	t.Helper()
	var b strings.Builder
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.st.snapshot(func(op *Op) error {
		j, err := json.Marshal(op)
		b.Write(j)
		b.WriteByte('\n')
		return err
	})
	return b.String()
}

// TestFileStoreRestart: every kind of change survives closing and reopening
// the store, including after compaction.
func TestFileStoreRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *FileStore {
		fs, err := OpenFileStore(dir, true)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	e := newEnv(t, open())
	alice, bob := e.client("alice@localhost/a"), e.client("bob@localhost/b")
	alice.ok("set", NS, "<create node='n'/><configure>"+submit+"<field var='pubsub#max_items'><value>3</value></field></x></configure>")
	alice.ok("set", NS, "<create node='gone'/>")
	bob.ok("set", NS, "<subscribe node='n' jid='bob@localhost/b'/>")
	bob.ok("set", NS, "<subscribe node='gone' jid='bob@localhost/b'/>")
	alice.ok("set", NSOwner, "<affiliations node='n'><affiliation jid='carol@localhost' affiliation='publisher'/><affiliation jid='dave@localhost' affiliation='outcast'/></affiliations>")
	for i := 0; i < 5; i++ {
		alice.ok("set", NS, fmt.Sprintf("<publish node='n'><item id='i%d'><v xmlns='urn:v'>%d</v></item></publish>", i, i))
	}
	alice.ok("set", NS, "<retract node='n'><item id='i3'/></retract>")
	alice.ok("set", NSOwner, "<delete node='gone'/>")
	alice.ok("set", NSOwner, "<configure node='n'>"+submit+"<field var='pubsub#title'><value>kept</value></field></x></configure>")
	before := dumpState(t, e.svc)
	e.svc.Close()

	svc, err := New(Options{Store: open()})
	if err != nil {
		t.Fatal(err)
	}
	if after := dumpState(t, svc); after != before {
		t.Fatalf("state after restart:\n%s\nwant:\n%s", after, before)
	}
	if !strings.Contains(before, `"title":"kept"`) || !strings.Contains(before, `"item":"i4"`) || strings.Contains(before, `"item":"i3"`) ||
		strings.Contains(before, `"item":"i1"`) || strings.Contains(before, "gone") {
		t.Fatalf("unexpected state:\n%s", before)
	}
	svc.Close()

	// Enough publishes to make the log compact (CompactMin records, twice
	// the live state); the state after reopening is the same.
	fs := open()
	fs.CompactMin = 100
	defer func(n int) { compactCheckEvery = n }(compactCheckEvery)
	compactCheckEvery = 10
	e2 := newEnv(t, fs)
	c := e2.client("alice@localhost/a")
	for i := 0; i < 300; i++ {
		c.ok("set", NS, fmt.Sprintf("<publish node='n'><item id='x%d'><v xmlns='urn:v'/></item></publish>", i%7))
	}
	before = dumpState(t, e2.svc)
	e2.svc.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	if !strings.Contains(strings.Join(names, " "), "snapshot") {
		t.Fatalf("no compaction: files %v", names)
	}
	svc, err = New(Options{Store: open()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if after := dumpState(t, svc); after != before {
		t.Fatalf("state after compaction and restart:\n%s\nwant:\n%s", after, before)
	}
}
