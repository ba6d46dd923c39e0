package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/servertest"

	"xmppkit.dev/examples/daemon"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// TestLinksFlag runs the -server path with -links 3 against xmppkit's
// router taking three links for the domain: all three come up, the service
// is ready, requests of many senders (spread over the links by the router)
// are served, and a bad -links is refused.
func TestLinksFlag(t *testing.T) {
	r, err := router.New(router.Config{Domains: []string{"localhost"}, Secrets: map[string]string{"pubsub.localhost": "s3cret"},
		Links: map[string]int{"pubsub.localhost": 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{server: addr.String(), domain: "pubsub.localhost", secret: "s3cret", memory: true, links: 3,
		health: daemon.NewHealth("starting"), stderr: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Components < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 links up\n%s", r.Stats().Components, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, why := cfg.health.Ready(); !ok {
		t.Fatalf("not ready with 3 links up: %s", why)
	}
	for i := range 12 {
		c, err := r.Connect(jid.MustParse(fmt.Sprintf("u%d@localhost/r", i)))
		if err != nil {
			t.Fatal(err)
		}
		iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("pubsub.localhost"))
		iq.SetPayloadElements(pubsub.CreateRequest(fmt.Sprintf("n%d", i), nil))
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.SendIQ(rctx, iq)
		rcancel()
		c.Close()
		if err != nil {
			t.Fatalf("create from u%d: %v", i, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "component pubsub.localhost at " + addr.String() + " over 3 links"; !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
	if _, err := parseConfig([]string{"-links", "0"}, io.Discard); err == nil {
		t.Fatal("-links 0 accepted")
	}
}

// The end-to-end tests on a 2-node ejabberd 23.01 cluster: several
// pubsub-service processes (the built binary) on one PostgreSQL database,
// their links spread over both nodes, clients on both nodes.
//
// The short form (make test) runs 2 instances (one per node) and asserts
// the guarantees; XMPPKIT_CLUSTER_LONG=1 runs 4 (two per node) with more
// publishes; XMPPKIT_CLUSTER_BENCH=1 runs TestClusterBench.

const clusterDomain = "pubsub.localhost"

var clusterSvc = jid.MustParse(clusterDomain)

// cluster is the ejabberd cluster, the database and the instances.
type cluster struct {
	t     *testing.T
	ej    *servertest.Cluster
	pg    *servertest.Server
	store string     // -store URL ("" for the journal)
	insts []*svcInst // by index; an instance restarted keeps its index
	fwd   []*forwarder
}

// svcInst is one pubsub-service process attached to node (through fwd).
type svcInst struct {
	*proc
	node    int
	links   int
	data    string
	metrics string // host:port of /metrics, /readyz
}

// forwarder is the TCP balancer in front of the nodes' component ports
// that docs/scaling.md recommends: a connection goes to the first of
// targets that accepts it, so an instance whose node went away reconnects
// to another node (and takes its freed slot there).
type forwarder struct {
	ln      net.Listener
	targets []string
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]bool
}

func newForwarder(t *testing.T, targets ...string) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, targets: targets, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) track(c net.Conn, on bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	if on {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		var up net.Conn
		for _, a := range f.targets {
			if up, err = net.DialTimeout("tcp", a, time.Second); err == nil {
				break
			}
		}
		if up == nil || !f.track(c, true) || !f.track(up, true) {
			c.Close()
			if up != nil {
				up.Close()
			}
			continue
		}
		f.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer f.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			f.track(dst, false)
			f.track(src, false)
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// newCluster starts PostgreSQL and a 2-node ejabberd cluster whose
// domain_balancing gives pubsub.localhost links slots (bare_source), with
// the users.
func newCluster(t *testing.T, links int, users []servertest.User) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL, a 2-node ejabberd cluster and the binary")
	}
	if _, err := buildBinary(); err != nil {
		t.Fatal(err)
	}
	pg := servertest.Postgres(t, servertest.PostgresOptions{})
	c := &cluster{t: t, pg: pg, store: pg.Database(t)}
	c.ej = servertest.EjabberdCluster(t, servertest.EjabberdClusterOptions{
		Components: []servertest.Component{{Domain: clusterDomain, Secret: servertest.Secret}},
		Users:      users,
		Balancing:  []servertest.Balancing{{Domain: clusterDomain, Type: "bare_source", Components: links}},
	})
	for i := range c.ej.Nodes {
		other := c.ej.Nodes[(i+1)%len(c.ej.Nodes)]
		c.fwd = append(c.fwd, newForwarder(t, c.ej.Nodes[i].ComponentAddr, other.ComponentAddr))
	}
	return c
}

// start runs an instance with links links to node (through its
// forwarder) and waits until it is ready (/readyz: a link is up).
func (c *cluster) start(node, links int, extra ...string) *svcInst {
	c.t.Helper()
	in := &svcInst{node: node, links: links, data: c.t.TempDir()}
	c.insts = append(c.insts, in)
	c.run(in, extra...)
	return in
}

func (c *cluster) run(in *svcInst, extra ...string) {
	c.t.Helper()
	bin, _ := buildBinary()
	args := []string{"-server", c.fwd[in.node].addr(), "-domain", clusterDomain, "-secret", servertest.Secret,
		"-links", strconv.Itoa(in.links), "-data", in.data, "-metrics", "127.0.0.1:0",
		// Keep every item the load publishes (max_items "max").
		"-max-items-per-node", "1000000"}
	if c.store != "" {
		args = append(args, "-store", c.store)
	}
	in.proc = startCmdUntil(c.t, exec.Command(bin, append(args, extra...)...), "metrics: http://")
	in.metrics, _, _ = strings.Cut(in.addr, "/")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + in.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("instance not ready: %v\n%s", err, in.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// login connects user to node i of the cluster (available, so that
// messages reach it).
func (c *cluster) login(i int, user, resource string) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.ej.Nodes[i].C2SAddr, client.Config{JID: jid.MustParse(user + "@localhost/" + resource),
		Password: user + "pw", AllowPlainWithoutTLS: true, RecvQueue: 4096})
	if err != nil {
		c.t.Fatalf("login %s on node %d: %v", user, i, err)
	}
	if err := cl.SendPresence(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cl.Close(ctx)
	})
	return cl
}

func users(prefix string, n int) []servertest.User {
	var us []servertest.User
	for i := range n {
		name := prefix + strconv.Itoa(i)
		us = append(us, servertest.User{Name: name, Password: name + "pw"})
	}
	return us
}

// iq sends a pubsub request to the service and waits up to 5 s.
func iq(cl *client.Client, typ string, payload stanza.Element) (*stanza.Stanza, error) {
	return iqWait(cl, typ, payload, 5*time.Second)
}

// iqWait is iq waiting up to d.
func iqWait(cl *client.Client, typ string, payload stanza.Element, d time.Duration) (*stanza.Stanza, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return cl.SendIQ(ctx, stanza.NewIQ(typ, clusterSvc, payload))
}

// eventItems returns the node and item ids of a pubsub#event
// notification, or ok false for any other stanza.
func eventItems(st *stanza.Stanza) (node string, ids []string, ok bool) {
	el, found := st.Child(pubsub.NSEvent, "event")
	if !found || st.Kind != stanza.Message {
		return "", nil, false
	}
	var ev struct {
		Items struct {
			Node string `xml:"node,attr"`
			Item []struct {
				ID string `xml:"id,attr"`
			} `xml:"item"`
		} `xml:"items"`
	}
	if err := el.Unmarshal(&ev); err != nil {
		return "", nil, false
	}
	for _, it := range ev.Items.Item {
		ids = append(ids, it.ID)
	}
	return ev.Items.Node, ids, true
}

// collector gathers a subscriber's notifications: per node, the item ids
// in the order received.
type collector struct {
	cl   *client.Client
	mu   sync.Mutex
	got  map[string][]string
	n    int
	done chan struct{}
}

func collect(cl *client.Client) *collector {
	k := &collector{cl: cl, got: map[string][]string{}, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			st, err := cl.Recv(context.Background())
			if err != nil {
				return
			}
			node, ids, ok := eventItems(st)
			if !ok {
				continue
			}
			k.mu.Lock()
			k.got[node] = append(k.got[node], ids...)
			k.n += len(ids)
			k.mu.Unlock()
		}
	}()
	return k
}

func (k *collector) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}

func (k *collector) items(node string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.got[node]...)
}

// waitCount waits until every collector has n events or the timeout.
func waitCount(ks []*collector, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, k := range ks {
			if k.count() < n {
				all = false
			}
		}
		if all || time.Now().After(deadline) {
			return all
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// servedBy returns, for each user, the instances whose log shows a request
// from it (instances run with -v log every request).
func (c *cluster) servedBy(user string) []int {
	var out []int
	for i, in := range c.insts {
		if strings.Contains(in.output(), "from="+user+"@localhost/") {
			out = append(out, i)
		}
	}
	return out
}

// load is publishers publishing to their own nodes as fast as the
// acknowledgements come, each with a new item id per attempt.
type load struct {
	mu    sync.Mutex
	acked map[string][]string      // node -> acknowledged ids, in order
	times map[string][]time.Time   // node -> acknowledgement times
	fails map[string]int           // node -> failed attempts
	errs  map[string]*stanza.Error // node -> last stanza error
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startLoad(pubs map[string]*client.Client, prefix string, timeout time.Duration) *load {
	l := &load{acked: map[string][]string{}, times: map[string][]time.Time{}, fails: map[string]int{},
		errs: map[string]*stanza.Error{}, stop: make(chan struct{})}
	for node, cl := range pubs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("%s%06d", prefix, k)
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := cl.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, clusterSvc,
					pubsub.PublishRequest(node, id, stanza.TextElement("urn:test", "n", id), nil)))
				cancel()
				l.mu.Lock()
				if err == nil {
					l.acked[node] = append(l.acked[node], id)
					l.times[node] = append(l.times[node], time.Now())
				} else {
					l.fails[node]++
					var se *stanza.Error
					if errors.As(err, &se) {
						l.errs[node] = se
					}
				}
				l.mu.Unlock()
				if err != nil && cl.Err() != nil {
					return // the client's node went away
				}
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ids := range l.acked {
		n += len(ids)
	}
	return n
}

// maxGap is the longest time node went without an acknowledgement
// between from and to (the edges count as acknowledgements' bounds).
func (l *load) maxGap(node string, from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, gap := from, time.Duration(0)
	for _, at := range l.times[node] {
		if at.Before(from) {
			continue
		}
		if at.After(to) {
			at = to
		}
		gap = max(gap, at.Sub(prev))
		prev = at
		if at.Equal(to) {
			break
		}
	}
	return max(gap, to.Sub(prev))
}

// stored returns which of ids the service has in node, asking for them by
// id (an answer without ids is cut at the stanza size limit).
func stored(t *testing.T, cl *client.Client, node string, ids []string) map[string]bool {
	t.Helper()
	have := map[string]bool{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 50)]
		ids = ids[len(chunk):]
		res, err := iq(cl, stanza.TypeGet, pubsub.ItemsRequest(node, 0, chunk...))
		if err != nil {
			t.Fatalf("items of %s: %v", node, err)
		}
		el, ok := res.Child(pubsub.NS, "pubsub")
		if !ok {
			t.Fatalf("items of %s: %s", node, res)
		}
		var p struct {
			Items struct {
				Item []struct {
					ID string `xml:"id,attr"`
				} `xml:"item"`
			} `xml:"items"`
		}
		if err := el.Unmarshal(&p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items.Item {
			have[it.ID] = true
		}
	}
	return have
}

// checkEvents checks what each subscriber received of node: no id twice,
// in publish order (the ids are increasing), and returns how many of the
// acknowledged ids it missed.
func checkEvents(t *testing.T, ks []*collector, node, prefix string, acked []string) (missed int) {
	t.Helper()
	for _, k := range ks {
		seen := map[string]bool{}
		last := ""
		for _, id := range k.items(node) {
			if !strings.HasPrefix(id, prefix) {
				continue
			}
			if seen[id] {
				t.Errorf("%s got %s/%s twice", k.cl.JID(), node, id)
			}
			if id < last {
				t.Errorf("%s got %s/%s after %s", k.cl.JID(), node, id, last)
			}
			seen[id], last = true, id
		}
		for _, id := range acked {
			if !seen[id] {
				missed++
			}
		}
	}
	return missed
}

// TestCluster: two (long form: four) instances on one PostgreSQL database,
// attached to both nodes of an ejabberd cluster (bare_source,
// component_number = their links); publishers and subscribers on both
// nodes. Then the faults: SIGKILL of an instance under load, and one
// ejabberd node stopped.
func TestCluster(t *testing.T) {
	perNode, publishes := 1, 30
	if os.Getenv("XMPPKIT_CLUSTER_LONG") != "" {
		perNode, publishes = 2, 300
	}
	const pubsN, subsN = 4, 4
	t0 := time.Now()
	c := newCluster(t, 2*perNode, append(users("pub", pubsN), users("sub", subsN)...))
	for range perNode {
		for node := range 2 {
			c.start(node, 1, "-v")
		}
	}
	t.Logf("PostgreSQL, the cluster and %d instances up in %v", len(c.insts), time.Since(t0).Round(time.Millisecond))

	pubs := map[string]*client.Client{} // by the node it publishes to
	pubNode := map[string]int{}         // cluster node of the publisher
	var names []string
	for i := range pubsN {
		node := "n" + strconv.Itoa(i)
		pubs[node] = c.login(i%2, "pub"+strconv.Itoa(i), "p")
		pubNode[node] = i % 2
		names = append(names, node)
	}
	// Of two creates of one node from both cluster nodes, one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = iq(pubs[names[i]], stanza.TypeSet, pubsub.CreateRequest("race", nil))
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), stanza.NewError(stanza.Conflict, "")) {
		t.Fatalf("two creates of one node: %v, %v (want one success and one conflict)", errs[0], errs[1])
	}
	for _, n := range names {
		if _, err := iq(pubs[n], stanza.TypeSet, pubsub.CreateRequest(n, pubsub.NodeConfig("pubsub#max_items", "max"))); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	var subs []*collector
	for i := range subsN {
		cl := c.login(i%2, "sub"+strconv.Itoa(i), "s")
		subs = append(subs, collect(cl))
		for _, n := range names {
			if _, err := iq(cl, stanza.TypeSet, pubsub.SubscribeRequest(n, cl.JID())); err != nil {
				t.Fatalf("subscribe %s to %s: %v", cl.JID(), n, err)
			}
		}
	}

	t.Run("every event once in order", func(t *testing.T) {
		t1 := time.Now()
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range publishes {
					id := fmt.Sprintf("a%06d", k)
					if _, err := iq(pubs[n], stanza.TypeSet, pubsub.PublishRequest(n, id, stanza.TextElement("urn:test", "n", id), nil)); err != nil {
						t.Errorf("publish %s/%s: %v", n, id, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		want := pubsN * publishes
		if !waitCount(subs, want, 20*time.Second) {
			for _, k := range subs {
				t.Logf("%s: %d of %d events", k.cl.JID(), k.count(), want)
			}
		}
		t.Logf("%d publishes, %d events in %v", want, want*subsN, time.Since(t1).Round(time.Millisecond))
		for _, k := range subs {
			for _, n := range names {
				got := k.items(n)
				ok := len(got) == publishes
				for i := 0; ok && i < publishes; i++ {
					ok = got[i] == fmt.Sprintf("a%06d", i)
				}
				if !ok {
					t.Errorf("%s got %d events of %s, not each of the %d once in order: %v", k.cl.JID(), len(got), n, publishes, got)
				}
			}
		}
		// The work was shared: every instance served requests.
		for i := range c.insts {
			if !strings.Contains(c.insts[i].output(), "from=") {
				t.Errorf("instance %d served nothing", i)
			}
		}
		for _, n := range names {
			t.Logf("%s (publisher on node %d) served by instance %v", n, pubNode[n], c.servedBy("pub"+n[1:]))
		}
	})
	if t.Failed() {
		return
	}

	t.Run("SIGKILL of an instance under load", func(t *testing.T) {
		victim := c.insts[0]
		l := startLoad(pubs, "b", 2*time.Second)
		time.Sleep(500 * time.Millisecond)
		before := l.count()
		killAt := time.Now()
		victim.cmd.Process.Signal(syscall.SIGKILL)
		<-victim.done
		// The rejoin, as systemd's Restart= would, after a second: a link
		// that logs in before ejabberd handled the dead one's close may
		// find no free slot and never get a stanza (docs/scaling.md).
		time.Sleep(time.Second)
		c.run(victim, "-v")
		rejoined := time.Now()
		time.Sleep(2500 * time.Millisecond)
		l.end()
		end := time.Now()
		time.Sleep(time.Second) // the last notifications
		t.Logf("killed instance 0 after %d acknowledged publishes; restarted 1 s later, ready after %v; %d acknowledged in all",
			before, rejoined.Sub(killAt).Round(time.Millisecond), l.count())
		missed := 0
		for _, n := range names {
			who := c.servedBy("pub" + n[1:])
			gap := l.maxGap(n, killAt, end)
			onVictim := slices.Contains(who, 0)
			t.Logf("%s (instance %v): longest wait for an acknowledgement %v, %d failed attempts", n, who, gap.Round(time.Millisecond), l.fails[n])
			if !onVictim && gap > time.Second {
				t.Errorf("%s, served by a surviving instance, waited %v", n, gap)
			}
			if ts := l.times[n]; len(ts) == 0 || !ts[len(ts)-1].After(rejoined) {
				t.Errorf("%s not served after the killed instance rejoined", n)
			}
			have := stored(t, pubs[n], n, l.acked[n])
			for _, id := range l.acked[n] {
				if !have[id] {
					t.Errorf("acknowledged %s/%s lost", n, id)
				}
			}
			m := checkEvents(t, subs, n, "b", l.acked[n])
			if !onVictim && m > 0 {
				t.Errorf("%s: subscribers missed %d events of a surviving instance's publishes", n, m)
			}
			missed += m
		}
		t.Logf("events of acknowledged publishes missed by subscribers: %d (the killed instance's notifications not yet written when it died)", missed)
	})
	if t.Failed() {
		return
	}

	t.Run("one ejabberd node stopped", func(t *testing.T) {
		on0 := map[string]*client.Client{}
		for n, cl := range pubs {
			if pubNode[n] == 0 {
				on0[n] = cl
			}
		}
		l := startLoad(on0, "c", 2*time.Second)
		time.Sleep(500 * time.Millisecond)
		stopAt := time.Now()
		if err := c.ej.Nodes[1].Stop(); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		time.Sleep(2500 * time.Millisecond)
		l.end()
		end := time.Now()
		t.Logf("node 2 stopped in %v", stopped.Sub(stopAt).Round(time.Millisecond))
		for n := range on0 {
			who := c.servedBy("pub" + n[1:])
			local := true
			for _, i := range who {
				local = local && c.insts[i].node == 0
			}
			gap := l.maxGap(n, stopAt, end)
			t.Logf("%s (instance %v): longest wait for an acknowledgement %v, %d failed attempts", n, who, gap.Round(time.Millisecond), l.fails[n])
			if local && gap > time.Second {
				t.Errorf("%s, served by an instance on the surviving node, waited %v", n, gap)
			}
			if ts := l.times[n]; len(ts) == 0 || !ts[len(ts)-1].After(end.Add(-time.Second)) {
				t.Errorf("%s not served in the last second", n)
			}
			have := stored(t, on0[n], n, l.acked[n])
			lost := 0
			for _, id := range l.acked[n] {
				if !have[id] {
					lost++
				}
			}
			if lost > 0 {
				t.Errorf("%s: %d of %d acknowledged publishes lost", n, lost, len(l.acked[n]))
			}
		}
	})
}

// TestClusterBench (XMPPKIT_CLUSTER_BENCH=1; XMPPKIT_CLUSTER_BENCH_SECONDS,
// default 5) measures publishes/s and events/s in one run, on one 2-node
// ejabberd cluster with component_number 4: one instance on the journal,
// then 1, 2 and 4 instances on PostgreSQL (4 links in all each time: -links
// 4, 2, 1), 100 subscribers (50 per node) of 4 nodes, 16 publishers (8 per
// node) publishing as fast as the acknowledgements come.
func TestClusterBench(t *testing.T) {
	if os.Getenv("XMPPKIT_CLUSTER_BENCH") == "" {
		t.Skip("XMPPKIT_CLUSTER_BENCH=1 runs it")
	}
	secs := 5
	if s, err := strconv.Atoi(os.Getenv("XMPPKIT_CLUSTER_BENCH_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	const pubsN, subsN, nodesN, links = 16, 100, 4, 4
	c := newCluster(t, links, append(users("pub", pubsN), users("sub", subsN)...))
	pg := c.store
	pgPid := c.pg.Pid()
	var pubCl []*client.Client
	for i := range pubsN {
		pubCl = append(pubCl, c.login(i%2, "pub"+strconv.Itoa(i), "p"))
	}
	var subs []*collector
	for i := range subsN {
		subs = append(subs, collect(c.login(i%2, "sub"+strconv.Itoa(i), "s")))
	}
	type result struct {
		name       string
		pubs, evts float64
	}
	var results []result
	run := func(name, store string, instances int) {
		c.store = store
		c.insts = nil
		for i := range instances {
			c.start(i%2, links/instances)
		}
		c.waitLinks()
		defer func() {
			for _, in := range c.insts {
				in.kill()
			}
			// ejabberd must see the links gone before new ones log in,
			// or these may find no free slot (docs/scaling.md), and
			// it still delivers the backlog of notifications.
			time.Sleep(2 * time.Second)
		}()
		var names []string
		for i := range nodesN {
			n := fmt.Sprintf("%s-%d", name, i)
			names = append(names, n)
			if _, err := iqWait(pubCl[i], stanza.TypeSet, pubsub.CreateRequest(n, nil), 30*time.Second); err != nil {
				t.Fatalf("create %s: %v", n, err)
			}
		}
		var wg sync.WaitGroup
		for _, k := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, n := range names {
					if _, err := iqWait(k.cl, stanza.TypeSet, pubsub.SubscribeRequest(n, k.cl.JID()), 30*time.Second); err != nil {
						t.Errorf("subscribe: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		var pubByNode []map[string]*client.Client
		for i, cl := range pubCl {
			pubByNode = append(pubByNode, map[string]*client.Client{names[i%nodesN]: cl})
		}
		events := func() int {
			n := 0
			for _, k := range subs {
				n += k.count()
			}
			return n
		}
		var instPids []int
		for _, in := range c.insts {
			instPids = append(instPids, in.cmd.Process.Pid)
		}
		cpu := func() [3]int64 {
			return [3]int64{cpuTicks(false, c.ej.Nodes[0].Pid(), c.ej.Nodes[1].Pid()), cpuTicks(false, instPids...), cpuTicks(true, pgPid)}
		}
		var loads []*load
		c0 := cpu()
		e0, t0 := events(), time.Now()
		for _, m := range pubByNode {
			loads = append(loads, startLoad(m, "x", 10*time.Second))
		}
		time.Sleep(time.Duration(secs) * time.Second)
		e1, t1 := events(), time.Now()
		c1 := cpu()
		acked := 0
		for _, l := range loads {
			l.end()
			acked += l.count()
		}
		d := t1.Sub(t0).Seconds()
		r := result{name: name, pubs: float64(acked) / d, evts: float64(e1-e0) / d}
		results = append(results, r)
		share := func(k int) float64 { return float64(c1[k]-c0[k]) / 100 / d } // cores busy (100 ticks/s)
		t.Logf("%-14s %8.0f publishes/s %9.0f events/s; cores busy: ejabberd %.2f, instances %.2f, postgres %.2f", name, r.pubs, r.evts, share(0), share(1), share(2))
		time.Sleep(500 * time.Millisecond) // the last notifications drain
	}
	run("journal-1", "", 1)
	run("pg-1", pg, 1)
	run("pg-2", pg, 2)
	run("pg-4", pg, 4)
	base := results[0]
	for _, r := range results {
		t.Logf("%-14s publishes/s %8.0f (x%.2f of journal-1)  events/s %9.0f (x%.2f)", r.name, r.pubs, r.pubs/base.pubs, r.evts, r.evts/base.evts)
	}
}

// waitLinks waits until every instance has all its links up (readiness
// needs one).
func (c *cluster) waitLinks() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, in := range c.insts {
		for !strings.Contains(in.output(), "links_up="+strconv.Itoa(in.links)) {
			if time.Now().After(deadline) {
				c.t.Fatalf("an instance's %d links are not all up:\n%s", in.links, in.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// cpuTicks is the CPU time (user + system, clock ticks) of the processes
// pids and, with kids, of their child processes (PostgreSQL's backends).
func cpuTicks(kids bool, pids ...int) int64 {
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	ents, _ := os.ReadDir("/proc")
	var n int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:])) // f[0] is the state (field 3)
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if !want[pid] && !(kids && want[ppid]) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		n += u + st
	}
	return n
}
