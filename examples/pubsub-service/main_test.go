package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// buildBinary compiles the service once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pubsub-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pubsub-service")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type proc struct {
	cmd  *exec.Cmd
	addr string
	out  *strings.Builder
	mu   *sync.Mutex
	done chan struct{}
}

// start runs the service binary on a free port with the data directory and
// waits for it to print its address.
func start(t *testing.T, data string) *proc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return startCmd(t, exec.Command(bin, "-listen", "127.0.0.1:0", "-data", data))
}

// startCmd runs cmd (the service binary) and waits for it to print its
// address.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	return startCmdUntil(t, cmd, "c2s listening on ")
}

// startCmdUntil runs cmd (the service binary) and waits for it to print a
// line starting with prefix; the rest of the line is the proc's addr.
func startCmdUntil(t *testing.T, cmd *exec.Cmd, prefix string) *proc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if a, ok := strings.CutPrefix(line, prefix); ok && !found {
				found = true
				addrc <- a
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("service exited: %s", p.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("service did not start: %s", p.output())
	}
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func login(t *testing.T, addr, resource string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{JID: jid.MustParse("dev@localhost/" + resource), Password: "devpass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

func do(ctx context.Context, c *client.Client, typ string, payload stanza.Element) (*stanza.Stanza, error) {
	return c.SendIQ(ctx, stanza.NewIQ(typ, jid.MustParse("pubsub.localhost"), payload))
}

// createMax creates a node keeping as many items as the service allows.
func createMax(node string) stanza.Element {
	return pubsub.CreateRequest(node, pubsub.NodeConfig("pubsub#max_items", "max"))
}

func v(ns, text string) stanza.Element { return stanza.TextElement(ns, "v", text) }

// TestCrashKeepsAcknowledged publishes from several sessions, SIGKILLs the
// service in the middle, restarts it on the same data: every publish that
// was acknowledged is there, with its payload.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	p := start(t, data)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := login(t, p.addr, "admin")
	if _, err := do(ctx, admin, "set", createMax("load")); err != nil {
		t.Fatal(err)
	}
	const writers = 4
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		c := login(t, p.addr, fmt.Sprintf("w%d", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				el := stanza.TextElement("urn:test", "n", fmt.Sprintf("%d & %d", w, i))
				payload := el.XML()
				_, err := do(ctx, c, "set", pubsub.PublishRequest("load", id, el, nil))
				if err != nil {
					return // the kill
				}
				mu.Lock()
				acked[id] = payload
				mu.Unlock()
			}
		}()
	}
	// Let some publishes through, then crash.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}

	p2 := start(t, data)
	c := login(t, p2.addr, "check")
	res, err := do(ctx, c, "get", pubsub.ItemsRequest("load", 0))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Payload()
	missing := 0
	for id, payload := range acked {
		if !strings.Contains(got, "<item id='"+id+"'>"+payload+"</item>") {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged publishes lost after SIGKILL", missing, len(acked))
	}
	t.Logf("%d acknowledged publishes all recovered after SIGKILL (%d items stored)", len(acked), strings.Count(got, "<item "))
}

// TestGracefulShutdown: SIGTERM ends the process with status 0, and what was
// published is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	p := start(t, data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := login(t, p.addr, "a")
	if _, err := do(ctx, c, "set", pubsub.CreateRequest("n", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := do(ctx, c, "set", pubsub.PublishRequest("n", "x", v("urn:v", "kept"), nil)); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("exit status %v: %s", p.cmd.ProcessState, p.output())
	}
	if !strings.Contains(p.output(), "shutting down") {
		t.Fatalf("output: %s", p.output())
	}
	p2 := start(t, data)
	c2 := login(t, p2.addr, "b")
	res, err := do(ctx, c2, "get", pubsub.ItemsRequest("n", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Payload(), "<item id='x'>"+v("urn:v", "kept").XML()+"</item>") {
		t.Fatalf("after restart: %s", res.Payload())
	}
}

// TestDemo runs the -demo path in-process against its own service.
func TestDemo(t *testing.T) {
	var out strings.Builder
	cfg := config{domain: "pubsub.localhost", listen: "127.0.0.1:1", user: "dev@localhost", password: "devpass"}
	if err := runDemo(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"created node", "subscribed", "published", "the subscriber received <event", "retrieved the items", "retracted", "deleted the node", "demo complete"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
