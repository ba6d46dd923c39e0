package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/journal"
)

// runToExit runs the service binary with args and returns its combined
// output once it exits (it must exit within 20 s).
func runToExit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit: %s", args, out)
	}
	return string(out), err
}

// TestSecondInstanceRefused: a second service on the data directory of a
// running one exits at once, naming the first one's pid (issue 18 item 2:
// it took another port and opened the same journal).
func TestSecondInstanceRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	first := start(t, data)
	out, err := runToExit(t, "-listen", "127.0.0.1:0", "-data", data)
	want := "data directory " + data + " in use by pid " + strconv.Itoa(first.cmd.Process.Pid)
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("second instance: %v\n%s\nwant %q", err, out, want)
	}
	// The first one is unharmed.
	c := login(t, first.addr, "after")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := do(ctx, c, "set", pubsub.CreateRequest("still-mine", nil)); err != nil {
		t.Fatal(err)
	}
}

// TestBusyListenAddress: an address asked for with -listen that is taken is
// an error, not a silent move to another port.
func TestBusyListenAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := runToExit(t, "-listen", ln.Addr().String(), "-memory")
	if err == nil || !strings.Contains(out, "address already in use") || strings.Contains(out, "using another port") {
		t.Fatalf("busy -listen: %v\n%s", err, out)
	}
}

// publishSome starts the service on data, creates node n and publishes the
// items (id → payload), then stops it gracefully.
func publishSome(t *testing.T, data string, items ...string) {
	t.Helper()
	p := start(t, data)
	c := login(t, p.addr, "pub")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := do(ctx, c, "set", createMax("n")); err != nil {
		t.Fatal(err)
	}
	for _, id := range items {
		if _, err := do(ctx, c, "set", pubsub.PublishRequest("n", id, v("urn:t", id), nil)); err != nil {
			t.Fatal(err)
		}
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done
}

// fetch returns the items answer of node n.
func fetch(t *testing.T, p *proc) string {
	t.Helper()
	c := login(t, p.addr, "fetch")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := do(ctx, c, "get", pubsub.ItemsRequest("n", 0))
	if err != nil {
		t.Fatal(err)
	}
	return res.Payload()
}

func logFile(t *testing.T, data string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(data, "log-*"))
	for _, f := range m {
		if !strings.Contains(f, ".dropped-") {
			return f
		}
	}
	t.Fatalf("no log in %s", data)
	return ""
}

// TestDamagedJournal (issue 18 item 3): a flipped bit in the last complete
// record stops the service with what would be lost and the flag to proceed;
// with -drop-corrupt it starts with the records before the damage, logs
// what it dropped and keeps it beside the log; then it starts on its own. A
// log cut in the middle of its last record (a torn write) starts on its
// own, saying what it dropped.
func TestDamagedJournal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	publishSome(t, data, "i1", "i2", "i3")
	path := logFile(t, data)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x01 // inside the last record ("publish i3")
	os.WriteFile(path, b, 0o600)

	out, err := runToExit(t, "-listen", "127.0.0.1:0", "-data", data)
	if err == nil || !strings.Contains(out, "checksum mismatch") || !strings.Contains(out, "-drop-corrupt") {
		t.Fatalf("damaged journal: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(path); string(after) != string(b) {
		t.Fatal("a refused start changed the log")
	}

	bin, _ := buildBinary()
	p := startCmd(t, exec.Command(bin, "-listen", "127.0.0.1:0", "-data", data, "-drop-corrupt"))
	got := fetch(t, p)
	if !strings.Contains(got, "<item id='i2'>") || strings.Contains(got, "<item id='i3'>") {
		t.Fatalf("after -drop-corrupt: %s", got)
	}
	if o := p.output(); !strings.Contains(o, "recovery dropped bytes") || !strings.Contains(o, "offset=") || !strings.Contains(o, "kept=") {
		t.Fatalf("no record of what was dropped: %s", o)
	}
	kept, _ := filepath.Glob(path + ".dropped-*")
	if len(kept) != 1 {
		t.Fatalf("kept files %q", kept)
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done

	// Torn: cut inside the last record. Starts without the flag.
	p = start(t, data)
	c := login(t, p.addr, "more")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := do(ctx, c, "set", pubsub.PublishRequest("n", "i4", v("urn:t", "i4"), nil)); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done
	b, _ = os.ReadFile(path)
	os.WriteFile(path, b[:len(b)-10], 0o600)
	p = start(t, data)
	if got := fetch(t, p); !strings.Contains(got, "<item id='i2'>") || strings.Contains(got, "<item id='i4'>") {
		t.Fatalf("after a torn write: %s", got)
	}
	if o := p.output(); !strings.Contains(o, "torn=true") {
		t.Fatalf("torn record dropped silently: %s", o)
	}
}

// TestInvalidItemOnDisk (issue 18 item 4): a record with valid checksums
// holding an item that is not well-formed XML stops the service at start
// (fetching it panicked the handler); -drop-corrupt skips it, keeps it in a
// file, and the node's other items are served.
func TestInvalidItemOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	publishSome(t, data, "good")
	l, err := journal.Open(data, journal.Options{}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// A record in the store's first form (one change, the payload
	// inline), which the store still reads.
	rec, _ := json.Marshal(map[string]any{"op": "publish", "node": "n", "item": "bad", "payload": "<v xmlns='urn:t'><unclosed></v>", "t": 1})
	if err := l.AppendSync(rec); err != nil {
		t.Fatal(err)
	}
	l.Close()

	out, err := runToExit(t, "-listen", "127.0.0.1:0", "-data", data)
	if err == nil || !strings.Contains(out, `item "bad"`) || !strings.Contains(out, "well-formed") {
		t.Fatalf("bad item on disk: %v\n%s", err, out)
	}
	bin, _ := buildBinary()
	p := startCmd(t, exec.Command(bin, "-listen", "127.0.0.1:0", "-data", data, "-drop-corrupt"))
	if got := fetch(t, p); !strings.Contains(got, "<item id='good'>") || strings.Contains(got, "bad") {
		t.Fatalf("items: %s", got)
	}
	if m, _ := filepath.Glob(filepath.Join(data, "rejected-*.jsonl")); len(m) != 1 {
		t.Fatalf("rejected files %q", m)
	}
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done
	// Compacted away: the next start needs no flag.
	p = start(t, data)
	if got := fetch(t, p); !strings.Contains(got, "<item id='good'>") {
		t.Fatalf("items: %s", got)
	}
}

// TestLargeItems (issue 18 item 1): items of 300 KB and 440 KB are
// published, fetched and notified over TCP through the embedded router, and
// the client stays connected; an item over pubsub.MaxPayloadBytes is
// refused with payload-too-big instead of being stored unreadable.
func TestLargeItems(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := start(t, t.TempDir())
	pub := login(t, p.addr, "publisher")
	sub := login(t, p.addr, "subscriber-with-a-rather-longer-resource")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := do(ctx, pub, "set", createMax("n")); err != nil {
		t.Fatal(err)
	}
	if _, err := do(ctx, sub, "set", pubsub.SubscribeRequest("n", sub.JID())); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{300 << 10, 440 << 10} {
		id := "big" + strconv.Itoa(n)
		el := v("urn:t", strings.Repeat("x", n))
		payload := el.XML()
		if _, err := do(ctx, pub, "set", pubsub.PublishRequest("n", id, el, nil)); err != nil {
			t.Fatalf("publish %d: %v", n, err)
		}
		// The notification reaches the subscriber.
		for {
			st, err := sub.Recv(ctx)
			if err != nil {
				t.Fatalf("subscriber: %v", err)
			}
			if strings.Contains(st.Payload(), "id='"+id+"'") {
				if !strings.Contains(st.Payload(), payload) {
					t.Fatalf("notification without the payload")
				}
				break
			}
		}
		res, err := do(ctx, sub, "get", pubsub.ItemsRequest("n", 1))
		if err != nil {
			t.Fatalf("fetch %d: %v", n, err)
		}
		if !strings.Contains(res.Payload(), "<item id='"+id+"'>"+payload+"</item>") {
			t.Fatalf("fetch %d: %d bytes without the item", n, len(res.Payload()))
		}
	}
	// Both items in one answer (over 384 KiB: the newest that fit, at
	// least one).
	if res, err := do(ctx, sub, "get", pubsub.ItemsRequest("n", 0)); err != nil || !strings.Contains(res.Payload(), "big450560") {
		t.Fatalf("all items: %v", err)
	}
	_, err := do(ctx, pub, "set", pubsub.PublishRequest("n", "huge", v("urn:t", strings.Repeat("x", pubsub.MaxPayloadBytes)), nil))
	if err == nil || !strings.Contains(err.Error(), "not-acceptable") {
		t.Fatalf("oversized item: %v", err)
	}
	// Still connected.
	if _, err := do(ctx, pub, "get", pubsub.ItemsRequest("n", 1)); err != nil {
		t.Fatal(err)
	}
}
