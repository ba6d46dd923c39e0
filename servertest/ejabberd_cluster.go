package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EjabberdClusterOptions configures a cluster of ejabberd nodes. The zero
// value gives two nodes with the defaults of a shared server.
type EjabberdClusterOptions struct {
	// Nodes is the number of nodes; default 2.
	Nodes int
	// Components every node accepts (XEP-0114). Nil means
	// DefaultComponents(); an empty non-nil slice means none.
	Components []Component
	// Users to register (once, for the whole cluster). Nil means
	// DefaultUsers().
	Users []User
	// Balancing configures how each node spreads the stanzas for a
	// component domain over its several connections (ejabberd's
	// domain_balancing).
	Balancing []Balancing
}

// Balancing is ejabberd's domain_balancing for one component domain.
type Balancing struct {
	Domain string
	// Type is random, source, destination, bare_source or
	// bare_destination: what the connection is chosen by.
	Type string
	// Components is component_number: the number of fixed slots (2 to
	// 1000) that connections fill in the order they log in; a stanza
	// whose slot is empty is dropped. Zero leaves it unset.
	Components int
}

// balancingConfig is the domain_balancing section for bs, or "".
func balancingConfig(bs []Balancing) string {
	if len(bs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("domain_balancing:\n")
	for _, d := range bs {
		fmt.Fprintf(&b, "  %s:\n    type: %s\n", yamlQuote(d.Domain), d.Type)
		if d.Components > 0 {
			fmt.Fprintf(&b, "    component_number: %d\n", d.Components)
		}
	}
	return b.String()
}

// Cluster is a cluster of ejabberd nodes on one machine: one XMPP service
// (the same hosts, accounts and routes) that clients and components reach
// through any node.
type Cluster struct {
	// Nodes are the cluster's nodes, each a Server with its own c2s,
	// component and HTTP API addresses, log and mnesia directory. Stop,
	// Kill, Start and Restart act on one node; a node started again
	// rejoins the cluster (mnesia remembers its peers).
	Nodes []*Server
	// NodeNames are the Erlang node names (ej1@localhost, ...), in the
	// order of Nodes.
	NodeNames []string
	// Epmd is the cluster's private Erlang port mapper on a free loopback
	// port; every node and every Ctl call registers with it alone.
	Epmd *Server
	// Dir holds everything: the shared HOME with the cookie, each node's
	// directory, epmd's log.
	Dir string

	env []string // HOME, ERL_EPMD_PORT, ERL_LIBS
}

// EjabberdCluster starts a cluster of ejabberd nodes (two by default) on
// loopback for the test and stops it when the test ends. Each node is an
// ejabberd configured as [Ejabberd] does, with ports of its own; they share
// one Erlang cookie and register with a private epmd on a free port (so
// nothing is left behind and no other Erlang node on the machine can join);
// the second and later nodes join the first (ejabberdctl join_cluster).
// The users are registered once, through the first node, and can log in on
// any node. The test skips (or fails under CI=true) when ejabberd is not
// installed.
func EjabberdCluster(t testing.TB, opts EjabberdClusterOptions) *Cluster {
	t.Helper()
	Require(t, KindEjabberd)
	c, err := newEjabberdCluster(opts)
	if err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, c.Stop, c.Dir, "each node's log in NODE/log")
	return c
}

func newEjabberdCluster(opts EjabberdClusterOptions) (c *Cluster, err error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 2
	}
	if findBin("epmd") == "" {
		return nil, errors.New("servertest: epmd (erlang-base) not found")
	}
	dir, err := newDir("ejabberd-cluster")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			_ = c.Stop()
			os.RemoveAll(dir)
		}
	}()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	cookie := make([]byte, 16)
	if _, err := rand.Read(cookie); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte(strings.ToUpper(hex.EncodeToString(cookie))), 0o400); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	c.env = append(baseEnv(home), "ERL_EPMD_PORT="+strconv.Itoa(ports[0]), "ERL_LIBS="+ejabberdLibDir(), "ERL_CRASH_DUMP_BYTES=0")
	c.Epmd = &Server{Name: "epmd", Domain: "127.0.0.1", Addr: loopback(ports[0]), Dir: dir, LogFile: filepath.Join(dir, "epmd.log")}
	c.Epmd.spec = launchSpec{
		path:         findBin("epmd"),
		args:         []string{"-address", "127.0.0.1", "-port", strconv.Itoa(ports[0])},
		env:          c.env,
		outLog:       c.Epmd.LogFile,
		termWait:     5 * time.Second,
		readyTimeout: 10 * time.Second,
		ready:        func(ctx context.Context) error { return probeTCP(ctx, c.Epmd.Addr) },
	}
	if err := c.Epmd.Start(); err != nil {
		return nil, err
	}
	var picks []func() error
	for i := range opts.Nodes {
		name := "ej" + strconv.Itoa(i+1)
		s, pick, err := newClusterNode(c, name, opts)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
		c.NodeNames = append(c.NodeNames, name+"@localhost")
		picks = append(picks, pick)
	}
	// The nodes boot in parallel (about 2 s each).
	if err := inParallel(len(c.Nodes), func(i int) error { return startWithRetry(c.Nodes[i], picks[i]) }); err != nil {
		return nil, err
	}
	for i := 1; i < len(c.Nodes); i++ {
		if _, err := c.Ctl(i, "join_cluster", c.NodeNames[0]); err != nil {
			return nil, err
		}
		// join_cluster restarts ejabberd on the joining node.
		if err := c.Nodes[i].waitServing(60 * time.Second); err != nil {
			return nil, fmt.Errorf("servertest: %s after join_cluster: %w", c.NodeNames[i], err)
		}
	}
	first := c.Nodes[0]
	for _, u := range first.Users {
		if err := ejabberdRegister(first.HTTPAddr, u, first.Domain); err != nil {
			return nil, err
		}
	}
	waitDurable(filepath.Join(first.Dir, "spool", "LATEST.LOG"), first.Users, first.Domain, 5*time.Second)
	return c, nil
}

// newClusterNode prepares one node: its directory under the cluster's,
// its configuration on free ports, and how to run it.
// The returned pick chooses new ports (after a failed first start).
func newClusterNode(c *Cluster, name string, opts EjabberdClusterOptions) (*Server, func() error, error) {
	comps, users := opts.Components, opts.Users
	if comps == nil {
		comps = DefaultComponents()
	}
	if users == nil {
		users = DefaultUsers()
	}
	dir := filepath.Join(c.Dir, name)
	s := &Server{
		Name:       "ejabberd",
		Domain:     LocalDomain,
		Components: append([]Component(nil), comps...),
		Users:      append([]User(nil), users...),
		Dir:        dir,
		LogFile:    filepath.Join(dir, "log", "ejabberd.log"),
	}
	for _, d := range []string{"log", "run", "certs", "spool"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, nil, err
		}
	}
	var err error
	var pemFile string
	if s.CertFile, s.KeyFile, pemFile, err = writeCert(filepath.Join(dir, "certs")); err != nil {
		return nil, nil, err
	}
	// As for a single server: accounts and rosters in disc_copies, so that
	// a killed node loses none (see setupEjabberd).
	if err := writeEjabberdSchema(filepath.Join(dir, "spool")); err != nil {
		return nil, nil, err
	}
	cfg := filepath.Join(dir, "ejabberd.yml")
	pick := func() error {
		distPort, err := pickEjabberdPorts(s, cfg, pemFile, balancingConfig(opts.Balancing))
		if err != nil {
			return err
		}
		s.spec.args = []string{
			"-sname", name + "@localhost", "-noinput", "-start_epmd", "false",
			"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
			"inet_dist_listen_min", strconv.Itoa(distPort), "inet_dist_listen_max", strconv.Itoa(distPort),
			"-mnesia", "dir", strconv.Quote(filepath.Join(dir, "spool")),
			"-s", "ejabberd",
		}
		return nil
	}
	if err := pick(); err != nil {
		return nil, nil, err
	}
	probeDomain := s.probeDomain()
	s.spec = launchSpec{
		path: findBin("erl"),
		args: s.spec.args,
		env: append(append([]string(nil), c.env...),
			"EJABBERD_CONFIG_PATH="+cfg,
			"EJABBERD_LOG_PATH="+s.LogFile,
			"EJABBERD_PID_PATH="+filepath.Join(dir, "run", "ejabberd.pid"),
			"ERL_CRASH_DUMP="+filepath.Join(dir, "log", "erl_crash.dump"),
		),
		outLog:       filepath.Join(dir, "log", "stdout.log"),
		termWait:     15 * time.Second,
		readyTimeout: 60 * time.Second,
		ready: func(ctx context.Context) error {
			return probeStream(ctx, s.ComponentAddr, "jabber:component:accept", probeDomain)
		},
	}
	return s, pick, nil
}

// waitServing waits until the server's readiness probe succeeds again.
func (s *Server) waitServing(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.spec.ready(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not serving after %v: %v", timeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Ctl runs an ejabberdctl command on node i (0 is the first node), as
// Debian's ejabberdctl would (erl -s ejabberd_ctl), and returns its output.
// For example Ctl(0, "list_cluster") or Ctl(1, "leave_cluster",
// c.NodeNames[1]). A non-zero exit is an error carrying the output.
func (c *Cluster) Ctl(i int, args ...string) (string, error) {
	if i < 0 || i >= len(c.Nodes) {
		return "", fmt.Errorf("servertest: no cluster node %d", i)
	}
	ports, err := freePorts(1)
	if err != nil {
		return "", err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	p := strconv.Itoa(ports[0])
	argv := append([]string{
		"-sname", "ctl" + hex.EncodeToString(id[:]) + "@localhost", "-hidden", "-noinput", "-start_epmd", "false",
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}", "inet_dist_listen_min", p, "inet_dist_listen_max", p,
		"-s", "ejabberd_ctl", "-extra", c.NodeNames[i],
	}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, findBin("erl"), argv...)
	cmd.Dir = c.Dir
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("servertest: ejabberdctl %s on %s: %v: %s", strings.Join(args, " "), c.NodeNames[i], err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Members returns the running nodes of the cluster as node i sees them
// (ejabberdctl list_cluster).
func (c *Cluster) Members(i int) ([]string, error) {
	out, err := c.Ctl(i, "list_cluster")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// Stop stops every node (in parallel, SIGTERM then SIGKILL), then epmd.
// Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() error {
	err := inParallel(len(c.Nodes), func(i int) error { return c.Nodes[i].Stop() })
	if c.Epmd != nil {
		err = errors.Join(err, c.Epmd.Stop())
	}
	return err
}
