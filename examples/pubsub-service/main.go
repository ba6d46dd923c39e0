// Command pubsub-service is a XEP-0060 publish-subscribe service built on
// xmppkit, with durable storage.
//
// With no flags it starts everything on this machine: xmppkit's in-process
// router with a client listener on 127.0.0.1:5222 (or a free port if that one
// is busy; an address given with -listen must be free), a development
// account, and the service at pubsub.localhost:
//
//	go run ./examples/pubsub-service
//
// Point any XMPP client at the printed address, log in with the printed
// account, and use pubsub.localhost. Or, in another terminal, watch a scripted
// exchange (create a node, subscribe, publish, receive the event, retrieve,
// retract, delete), which starts its own service if none is listening:
//
//	go run ./examples/pubsub-service -demo
//
// To attach the service to Prosody or ejabberd as an external component
// (XEP-0114) instead, name the server, the component's domain as the server
// knows it, and the shared secret (better in a file than on the command
// line, where other users see it in the process list):
//
//	go run ./examples/pubsub-service -server 127.0.0.1:5347 -domain pubsub.example.org -secret-file /etc/xmppkit/pubsub.secret
//
// -links N keeps N links to the server for the domain, and several
// instances may serve one domain from one database; the server must
// balance between them (ejabberd: domain_balancing with component_number
// equal to the links of all instances; Prosody takes one link): see
// docs/scaling.md.
//
// # Configuration
//
// Every flag can also be given as an environment variable (PUBSUB_ and the
// flag's name in upper case, dashes as underscores: PUBSUB_SECRET_FILE) or
// as a "name = value" line of the file named by -config; flags win over the
// environment, which wins over the file (-h lists them all).
//
// # Data
//
// Nodes, items, subscriptions and affiliations are kept in -data, by default
// systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME/xmppkit-pubsub (usually
// ~/.local/state/xmppkit-pubsub). Data that earlier versions kept under
// ~/.cache is moved there. -memory keeps everything in memory instead. Every
// change is fsynced before it is acknowledged; see package pubsub and
// journal.
//
// -store postgres://user@host/db keeps them in a PostgreSQL database
// instead (package pgstore), which several instances of the service may
// share: attach them all to the server with one domain (ejabberd balances
// the domain's stanzas over them) and every instance serves every node. A
// request is acknowledged once its transaction committed. Give the
// password in ~/.pgpass, PGPASSFILE or PGPASSWORD rather than in the URL,
// which other users see in the process list. One service at a time uses a data directory (a second one exits
// with "data directory ... in use by pid N"). After a crash the service
// drops a torn last write on its own; it refuses to start on other damage,
// saying what would be lost, until run once with -drop-corrupt, which drops
// the damage and keeps it in files beside the journal.
//
// The embedded router's client listener offers STARTTLS with the
// certificate of -cert and -key, or else a self-signed one kept in the data
// directory (c2s-cert.pem), so that clients that pinned it keep working
// after a restart; its path and SHA-256 fingerprint are printed at start.
//
// # Operations
//
// /metrics (Prometheus text format), /healthz and /readyz are served on
// -metrics (127.0.0.1:9650 by default; "" turns them off). The service is
// ready once its component link is up, or once the embedded router serves.
// -console serves the embedded router's developer console (package
// router/console) on a loopback address. -v logs every request.
//
// Anyone may subscribe to open nodes; only accounts of the host server (the
// service's domain without its first label) may create nodes. -admins names
// the service's administrators (bare JIDs, comma-separated): they own every
// node and run the admin commands (XEP-0050: list nodes, delete a node,
// purge a user).
//
// # PEP
//
// The service also serves its host server's users' PEP (XEP-0163: avatars,
// bookmarks, OMEMO device lists) when the server delegates the
// http://jabber.org/protocol/pubsub and #owner namespaces to it (XEP-0355)
// and grants it the XEP-0356 roster (get), message (outgoing) and presence
// (roster) permissions; the embedded router does so by itself. With
// Prosody (prosody-modules' mod_privilege and mod_delegation) and ejabberd
// (mod_privilege, mod_delegation, without its mod_pubsub) see the README.
//
// SIGINT or SIGTERM shuts down cleanly: in-flight requests are answered and
// the store is flushed and closed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/disco"
	"xmppkit.dev/examples/daemon"
	"xmppkit.dev/examples/pubsub-service/pgstore"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/version"
)

const (
	dataName     = "xmppkit-pubsub" // the data directory's name
	envPrefix    = "PUBSUB"
	defaultOps   = "127.0.0.1:9650"
	defaultLocal = "127.0.0.1:5222"
)

type config struct {
	server, domain     string
	links              int // component links to the server (-links)
	secret, secretFile string
	data               string
	dataGiven          bool // -data given: no move of earlier data
	memory             bool
	store              string // -store: "" (the journal in data) or a postgres:// URL
	listen             string
	listenSet          bool // -listen given: a busy address is an error
	cert, key          string
	dropCorrupt        bool
	user, password     string
	demo               bool
	verbose            bool
	metrics            string
	metricsSet         bool
	console            string
	admins             []jid.JID
	limits             pubsub.Limits   // -max-*: the service's quotas
	check              *daemon.Sources // -check: report the settings and exit
	stderr             io.Writer       // logs; os.Stderr when nil
	health             *daemon.Health
	reg                metrics.Registry // where the SDK reports (nil with -metrics "")
}

// parseConfig reads the command line, the environment and the -config file.
func parseConfig(args []string, errOut io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("pubsub-service", flag.ExitOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.server, "server", "", "XEP-0114 component address of an XMPP server (e.g. 127.0.0.1:5347); empty runs the embedded router")
	fs.StringVar(&cfg.domain, "domain", "pubsub.localhost", "the service's domain (with -server: required, as the server knows the component)")
	fs.IntVar(&cfg.links, "links", 1, "component links kept open to the server (with -server): several need the server's balancing (ejabberd: domain_balancing with component_number = the links of all instances); Prosody takes 1")
	fs.StringVar(&cfg.secret, "secret", "", "component secret shared with the server (with -server; visible in the process list: prefer -secret-file)")
	fs.StringVar(&cfg.secretFile, "secret-file", "", "file holding the component secret (with -server), e.g. a systemd credential: %d/secret")
	fs.StringVar(&cfg.data, "data", daemon.DataDir(dataName), "directory of the persistent store and the client listener's certificate")
	fs.BoolVar(&cfg.memory, "memory", false, "keep all data in memory (lost at exit)")
	fs.StringVar(&cfg.store, "store", "", "where nodes and items are kept: empty for the journal in -data, or a PostgreSQL URL (postgres://user@host/db) that several instances may share")
	fs.StringVar(&cfg.listen, "listen", defaultLocal, "client listener of the embedded router (with -demo: where to find a running service)")
	fs.StringVar(&cfg.cert, "cert", "", "PEM certificate of the client listener (with -key); default a self-signed one kept in -data")
	fs.StringVar(&cfg.key, "key", "", "PEM private key of -cert")
	fs.StringVar(&cfg.user, "user", "", "development account of the embedded router (default dev@ the service's parent domain: dev@localhost)")
	fs.StringVar(&cfg.password, "password", "devpass", "its password")
	fs.BoolVar(&cfg.demo, "demo", false, "run a scripted publish-subscribe exchange and exit")
	fs.BoolVar(&cfg.verbose, "v", false, "log every request (debug level)")
	fs.BoolVar(&cfg.dropCorrupt, "drop-corrupt", false, "start even when the store is damaged beyond a torn last record, dropping the damage (kept in files beside the journal; see the error that asks for it)")
	fs.StringVar(&cfg.metrics, "metrics", defaultOps, "address of /metrics, /healthz and /readyz (\"\" for none)")
	fs.StringVar(&cfg.console, "console", "", "loopback address of the embedded router's developer console, e.g. 127.0.0.1:8080 (off by default)")
	admins := fs.String("admins", "", "the service's administrators: bare JIDs, comma-separated")
	cfg.limits = pubsub.DefaultLimits()
	fs.IntVar(&cfg.limits.MaxNodesPerUser, "max-nodes-per-user", cfg.limits.MaxNodesPerUser, "nodes one account may create, at the service and as PEP (admins are exempt)")
	fs.IntVar(&cfg.limits.MaxItemsPerNode, "max-items-per-node", cfg.limits.MaxItemsPerNode, "the largest pubsub#max_items a node may have (\"max\" means this)")
	fs.Int64Var(&cfg.limits.MaxNodeBytes, "max-node-bytes", cfg.limits.MaxNodeBytes, "payload bytes one node keeps")
	fs.IntVar(&cfg.limits.MaxItemBytes, "max-item-bytes", cfg.limits.MaxItemBytes, "the largest payload of one item (larger: not-acceptable with <payload-too-big/>)")
	fs.Int64Var(&cfg.limits.MaxStoreBytes, "max-store-bytes", cfg.limits.MaxStoreBytes, "bytes the whole store holds (full: resource-constraint)")
	fs.IntVar(&cfg.limits.MaxSubscriptionsPerNode, "max-subscriptions-per-node", cfg.limits.MaxSubscriptionsPerNode, "subscriptions of one node")
	fs.IntVar(&cfg.limits.MaxSubscriptionsPerJID, "max-subscriptions-per-jid", cfg.limits.MaxSubscriptionsPerJID, "subscriptions of one JID to one node")
	src, err := daemon.Parse(fs, envPrefix, args)
	if err != nil {
		return cfg, err
	}
	for _, a := range strings.FieldsFunc(*admins, func(r rune) bool { return r == ',' || r == ' ' }) {
		j, err := jid.Parse(a)
		if err != nil {
			return cfg, fmt.Errorf("-admins: %q: %w", a, err)
		}
		cfg.admins = append(cfg.admins, j.Bare())
	}
	cfg.listenSet, cfg.metricsSet, cfg.dataGiven = src.Given("listen"), src.Given("metrics"), src.Given("data")
	cfg.check = src
	if cfg.user == "" {
		cfg.user = "dev@" + daemon.HostOf(cfg.domain)
	}
	if err := checkLimits(cfg.limits); err != nil {
		return cfg, err
	}
	if cfg.store != "" && !isPostgresURL(cfg.store) {
		return cfg, fmt.Errorf("-store: %q is not a postgres:// or postgresql:// URL", redactURL(cfg.store))
	}
	if cfg.store != "" && cfg.memory {
		return cfg, errors.New("-store and -memory exclude each other")
	}
	if cfg.links < 1 || cfg.links > component.MaxLinks {
		return cfg, fmt.Errorf("-links %d: want 1 to %d", cfg.links, component.MaxLinks)
	}
	if cfg.server != "" {
		cfg.secret, err = daemon.ComponentSecret(src, envPrefix, cfg.secret, cfg.secretFile, errOut)
	}
	if err == nil && !src.Check() {
		cfg.check = nil
	}
	return cfg, err
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pubsub-service:", err)
		os.Exit(2)
	}
	if cfg.check != nil {
		cfg.check.Report(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.demo {
		err = runDemo(ctx, cfg, os.Stdout)
	} else {
		err = run(ctx, cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pubsub-service:", err)
		os.Exit(1)
	}
}

func logger(cfg config) *slog.Logger {
	w := cfg.stderr
	if w == nil {
		w = os.Stderr
	}
	return daemon.Logger(w, cfg.verbose)
}

func openService(cfg config, log *slog.Logger) (*pubsub.Service, string, error) {
	var store pubsub.Store = pubsub.NewMemoryStore()
	where := "in memory (lost at exit)"
	switch {
	case cfg.store != "":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ps, err := pgstore.Open(ctx, cfg.store, pgstore.Options{})
		cancel()
		if err != nil {
			return nil, "", fmt.Errorf("opening the store at %s: %w", redactURL(cfg.store), err)
		}
		store, where = ps, "PostgreSQL "+redactURL(cfg.store)
	case !cfg.memory:
		fs, err := pubsub.OpenFileStoreWith(cfg.data, journal.Options{DropCorrupt: cfg.dropCorrupt, Logger: log, Metrics: cfg.reg, Name: "pubsub"})
		if err != nil {
			return nil, "", fmt.Errorf("opening the store in %s: %w", cfg.data, err)
		}
		store, where = fs, cfg.data
	}
	// Only accounts of the host server may create nodes.
	host := daemon.HostOf(cfg.domain)
	mayCreate := func(from jid.JID) bool { return from.Domain() == host }
	// Privileges and delegations, when the server grants them, give the
	// presence and roster access models and the users' PEP.
	svc, err := pubsub.New(pubsub.Options{Store: store, Logger: log, MayCreate: mayCreate, Admins: cfg.admins, Limits: cfg.limits,
		Privileges: &privilege.Entity{Logger: log}, Delegation: &delegation.Manager{Logger: log}})
	if err != nil {
		store.Close()
		return nil, "", err
	}
	return svc, where, nil
}

// checkLimits refuses a quota that cannot be meant: zero or negative, or an
// item larger than a stanza may carry.
func checkLimits(l pubsub.Limits) error {
	for _, q := range []struct {
		name string
		v    int64
	}{
		{"max-nodes-per-user", int64(l.MaxNodesPerUser)}, {"max-items-per-node", int64(l.MaxItemsPerNode)},
		{"max-node-bytes", l.MaxNodeBytes}, {"max-item-bytes", int64(l.MaxItemBytes)}, {"max-store-bytes", l.MaxStoreBytes},
		{"max-subscriptions-per-node", int64(l.MaxSubscriptionsPerNode)}, {"max-subscriptions-per-jid", int64(l.MaxSubscriptionsPerJID)},
	} {
		if q.v <= 0 {
			return fmt.Errorf("-%s: %d: a quota must be at least 1", q.name, q.v)
		}
	}
	if l.MaxItemBytes > pubsub.MaxPayloadBytes {
		return fmt.Errorf("-max-item-bytes: %d is more than a stanza carries (at most %d)", l.MaxItemBytes, pubsub.MaxPayloadBytes)
	}
	return nil
}

// isPostgresURL reports whether -store names a PostgreSQL database.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactURL is a store URL with its password (if any) masked, for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}

// handler serves the service with the entity's own XEP-0199 ping and
// XEP-0092 version answers and service discovery over all of it, every
// request logged (at debug level unless it failed).
func handler(svc *pubsub.Service, log *slog.Logger) mux.Handler {
	m := mux.New()
	m.Use(mux.Logging(log))
	svc.Register(m)
	svc.RegisterEntities(m)
	ping.Handler{}.Register(m)
	version.Handler{Info: version.Info{Name: "xmppkit pubsub-service", Version: buildVersion()}}.Register(m)
	disco.New(m).Register(m)
	return m
}

// buildVersion is the module version the binary was built from.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// run serves until ctx ends (SIGINT, SIGTERM).
func run(ctx context.Context, cfg config, out io.Writer) error {
	log := logger(cfg)
	if cfg.health == nil {
		cfg.health = daemon.NewHealth("starting")
	}
	if !cfg.memory && cfg.store == "" && !cfg.dataGiven {
		if err := daemon.MoveLegacyData(dataName, cfg.data, out); err != nil {
			return err
		}
	}
	var metricsHandler http.Handler
	if cfg.metrics != "" {
		reg, h := daemon.MetricsHandler()
		cfg.reg, metricsHandler = reg, h
	}
	svc, where, err := openService(cfg, log)
	if errors.Is(err, journal.ErrCorrupt) {
		return fmt.Errorf("%w\nrun once with -drop-corrupt to drop the damage (it is kept in files beside the journal in %s)", err, cfg.data)
	}
	if err != nil {
		return err
	}
	if cfg.metrics != "" {
		ops, moved, err := daemon.ListenOps(cfg.metrics, cfg.metricsSet, metricsHandler, cfg.health)
		if err != nil {
			svc.Close()
			return err
		}
		defer ops.Close()
		if moved {
			fmt.Fprintf(out, "%s is busy; serving metrics on another port\n", cfg.metrics)
		}
		fmt.Fprintf(out, "metrics: http://%s/metrics (and /healthz, /readyz)\n", ops.Addr())
	}
	if cfg.server != "" {
		return runComponent(ctx, cfg, svc, where, out, log)
	}
	dataDir := cfg.data
	if cfg.memory {
		dataDir = ""
	}
	cert, err := daemon.Certificate(cfg.cert, cfg.key, dataDir, []string{daemon.HostOf(cfg.domain)})
	if err != nil {
		svc.Close()
		return err
	}
	cfg.health.SetReady(false, "starting the embedded router")
	emb := embedded(cfg, handler(svc, log), cert, log)
	e, err := emb.Start()
	if err != nil {
		svc.Close()
		return err
	}
	fmt.Fprintf(out, "xmppkit pubsub service at %s (data: %s)\n", cfg.domain, where)
	e.Describe(out, emb)
	fmt.Fprintf(out, "log in as %s with password %q (SCRAM or PLAIN over STARTTLS)\n", cfg.user, cfg.password)
	if e.Addr == defaultLocal {
		fmt.Fprintln(out, "try: go run ./examples/pubsub-service -demo")
	} else {
		fmt.Fprintf(out, "try: go run ./examples/pubsub-service -demo -listen %s\n", e.Addr)
	}
	cfg.health.SetReady(true, "")
	cfg.health.Started()
	<-ctx.Done()
	cfg.health.Stopping()
	fmt.Fprintln(out, "shutting down")
	return errors.Join(e.Close(), svc.Close())
}

// embedded is the embedded router's configuration for cfg.
func embedded(cfg config, h mux.Handler, cert *daemon.Cert, log *slog.Logger) daemon.Embedded {
	return daemon.Embedded{
		Service: cfg.domain, Handler: h, User: cfg.user, Password: cfg.password,
		Listen: cfg.listen, ListenGiven: cfg.listenSet, Console: cfg.console, Cert: cert, Logger: log,
		// The users' PEP (XEP-0163), served by the service.
		Privileges:  []router.Privileges{{Component: cfg.domain, Roster: "get", Message: "outgoing", Presence: "roster"}},
		Delegations: []router.Delegation{{Namespace: pubsub.NS, Component: cfg.domain}, {Namespace: pubsub.NSOwner, Component: cfg.domain}},
		Metrics:     cfg.reg,
	}
}

func runComponent(ctx context.Context, cfg config, svc *pubsub.Service, where string, out io.Writer, log *slog.Logger) error {
	if cfg.secret == "" {
		svc.Close()
		return errors.New("-server needs the component secret (-secret-file, -secret or PUBSUB_SECRET_FILE)")
	}
	c := &component.Component{Addr: cfg.server, Domain: cfg.domain, Secret: cfg.secret, Handler: handler(svc, log), Logger: log,
		Links: cfg.links, OnLink: svc.OnLink, Metrics: cfg.reg}
	links := ""
	if cfg.links > 1 {
		links = fmt.Sprintf(" over %d links", cfg.links)
	}
	fmt.Fprintf(out, "xmppkit pubsub service: component %s at %s%s (data: %s)\n", cfg.domain, cfg.server, links, where)
	err := daemon.RunComponent(ctx, c, cfg.health, log, out, nil)
	return errors.Join(err, svc.Close())
}
