// Command pubsub-service is a XEP-0060 publish-subscribe service built on
// xmppkit, with durable storage.
//
// With no flags it starts everything on this machine: xmppkit's in-process
// router with a client listener on 127.0.0.1:5222 (or a free port if that one
// is busy; an address given with -listen must be free), a development account, and the service at pubsub.localhost:
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
// (XEP-0114) instead:
//
//	go run ./examples/pubsub-service -server 127.0.0.1:5347 -domain pubsub.example.org -secret s3cret
//
// The flags -server, -domain, -secret, -data, -listen, -user and -password
// default to the environment variables PUBSUB_SERVER, PUBSUB_DOMAIN,
// PUBSUB_SECRET, PUBSUB_DATA, PUBSUB_LISTEN, PUBSUB_USER and PUBSUB_PASSWORD.
//
// # Data
//
// Nodes, items, subscriptions and affiliations are kept in -data, by default
// $XDG_CACHE_HOME/xmppkit-pubsub (os.UserCacheDir; on Linux usually
// ~/.cache/xmppkit-pubsub), or ./pubsub-data when there is no cache directory.
// -memory keeps everything in memory instead. Every change is fsynced before
// it is acknowledged; see package pubsub and journal. One service at a time
// uses a data directory (a second one exits with "data directory ... in use
// by pid N"). After a crash the service drops a torn last write on its own;
// it refuses to start on other damage, saying what would be lost, until run
// once with -drop-corrupt, which drops the damage and keeps it in files
// beside the journal.
//
// Anyone may subscribe to open nodes; only accounts of the host server (the
// service's domain without its first label) may create nodes.
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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
)

type config struct {
	server, domain, secret string
	data                   string
	memory                 bool
	listen                 string
	listenSet              bool // -listen or PUBSUB_LISTEN given: a busy address is an error
	dropCorrupt            bool
	user, password         string
	c2sTLS                 c2s.TLSPolicy
	demo                   bool
	verbose                bool
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "xmppkit-pubsub")
	}
	return "pubsub-data"
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("pubsub-service", flag.ExitOnError)
	fs.StringVar(&cfg.server, "server", env("PUBSUB_SERVER", ""), "XEP-0114 component address of an XMPP server (e.g. 127.0.0.1:5347); empty runs the embedded router")
	fs.StringVar(&cfg.domain, "domain", env("PUBSUB_DOMAIN", "pubsub.localhost"), "the service's domain")
	fs.StringVar(&cfg.secret, "secret", env("PUBSUB_SECRET", ""), "component secret shared with the server (with -server)")
	fs.StringVar(&cfg.data, "data", env("PUBSUB_DATA", defaultDataDir()), "directory of the persistent store")
	fs.BoolVar(&cfg.memory, "memory", false, "keep all data in memory (lost at exit)")
	fs.StringVar(&cfg.listen, "listen", env("PUBSUB_LISTEN", "127.0.0.1:5222"), "client listener of the embedded router (with -demo: where to find a running service)")
	fs.StringVar(&cfg.user, "user", env("PUBSUB_USER", "dev@localhost"), "development account of the embedded router")
	fs.StringVar(&cfg.password, "password", env("PUBSUB_PASSWORD", "devpass"), "its password")
	fs.Var(&cfg.c2sTLS, "c2s-tls", "STARTTLS on the client listener: auto (required unless on loopback), required or optional")
	fs.BoolVar(&cfg.demo, "demo", false, "run a scripted publish-subscribe exchange and exit")
	fs.BoolVar(&cfg.verbose, "v", false, "log every request")
	fs.BoolVar(&cfg.dropCorrupt, "drop-corrupt", false, "start even when the store is damaged beyond a torn last record, dropping the damage (kept in files beside the journal; see the error that asks for it)")
	fs.Parse(os.Args[1:])
	cfg.listenSet = os.Getenv("PUBSUB_LISTEN") != ""
	fs.Visit(func(f *flag.Flag) { cfg.listenSet = cfg.listenSet || f.Name == "listen" })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
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
	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func openService(cfg config, log *slog.Logger) (*pubsub.Service, string, error) {
	var store pubsub.Store = pubsub.MemoryStore{}
	where := "in memory (lost at exit)"
	if !cfg.memory {
		fs, err := pubsub.OpenFileStoreWith(cfg.data, journal.Options{DropCorrupt: cfg.dropCorrupt, Logger: log})
		if err != nil {
			return nil, "", fmt.Errorf("opening the store in %s: %w", cfg.data, err)
		}
		store, where = fs, cfg.data
	}
	// Only accounts of the host server (the service's domain without its
	// first label: localhost for pubsub.localhost) may create nodes.
	host := cfg.domain
	if i := strings.IndexByte(host, '.'); i >= 0 {
		host = host[i+1:]
	}
	mayCreate := func(from jid.JID) bool { return from.Domain() == host }
	svc, err := pubsub.New(pubsub.Options{Store: store, Logger: log, MayCreate: mayCreate})
	if err != nil {
		store.Close()
		return nil, "", err
	}
	return svc, where, nil
}

// run serves until ctx ends (SIGINT, SIGTERM).
func run(ctx context.Context, cfg config, out io.Writer) error {
	log := logger(cfg)
	svc, where, err := openService(cfg, log)
	if errors.Is(err, journal.ErrCorrupt) {
		return fmt.Errorf("%w\nrun once with -drop-corrupt to drop the damage (it is kept in files beside the journal in %s)", err, cfg.data)
	}
	if err != nil {
		return err
	}
	if cfg.server != "" {
		return runComponent(ctx, cfg, svc, where, out, log)
	}
	e, err := startEmbedded(cfg, svc, log)
	if err != nil {
		svc.Close()
		return err
	}
	fmt.Fprintf(out, "xmppkit pubsub service at %s (data: %s)\n", cfg.domain, where)
	if e.moved {
		fmt.Fprintf(out, "%s is busy; using another port\n", cfg.listen)
	}
	fmt.Fprintf(out, "c2s listening on %s\n", e.addr)
	fmt.Fprintf(out, "log in as %s with password %q (SCRAM or PLAIN over STARTTLS; self-signed certificate; -c2s-tls says when TLS is required)\n", cfg.user, cfg.password)
	if e.addr == "127.0.0.1:5222" {
		fmt.Fprintln(out, "try: go run ./examples/pubsub-service -demo")
	} else {
		fmt.Fprintf(out, "try: go run ./examples/pubsub-service -demo -listen %s\n", e.addr)
	}
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down")
	return e.close(svc)
}

type embedded struct {
	r     *router.Router
	addr  string
	moved bool // the default address was busy: another port was taken
}

// startEmbedded runs the router with its client listener and attaches the
// service in-process.
func startEmbedded(cfg config, svc *pubsub.Service, log *slog.Logger) (*embedded, error) {
	r, err := router.New(router.Config{
		Domains: []string{"localhost"},
		Users:   map[string]string{cfg.user: cfg.password},
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	if _, err := r.Attach(cfg.domain, svc.Handler()); err != nil {
		r.Close(context.Background())
		return nil, err
	}
	_, addr, err := c2s.Listen(r, cfg.listen, c2s.Config{TLSPolicy: cfg.c2sTLS})
	moved := false
	if err != nil && !cfg.listenSet {
		// The default port is taken (another server?): take a free one.
		// An address asked for explicitly is not silently replaced.
		_, addr, err = c2s.Listen(r, "127.0.0.1:0", c2s.Config{TLSPolicy: cfg.c2sTLS})
		moved = err == nil
	}
	if err != nil {
		r.Close(context.Background())
		return nil, fmt.Errorf("client listener: %w", err)
	}
	return &embedded{r: r, addr: addr.String(), moved: moved}, nil
}

func (e *embedded) close(svc *pubsub.Service) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.r.Close(ctx)
	return errors.Join(err, svc.Close())
}

func runComponent(ctx context.Context, cfg config, svc *pubsub.Service, where string, out io.Writer, log *slog.Logger) error {
	if cfg.secret == "" {
		svc.Close()
		return errors.New("-server needs -secret (or PUBSUB_SECRET)")
	}
	c := &component.Component{Addr: cfg.server, Domain: cfg.domain, Secret: cfg.secret, Handler: svc.Handler(), Logger: log}
	fmt.Fprintf(out, "xmppkit pubsub service: component %s at %s (data: %s)\n", cfg.domain, cfg.server, where)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.WithoutCancel(ctx)) }()
	var runErr error
	select {
	case runErr = <-errc: // a permanent failure (wrong secret, unknown domain)
	case <-ctx.Done():
		fmt.Fprintln(out, "shutting down")
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		runErr = c.Close(cctx)
		cancel()
		<-errc
	}
	if errors.Is(runErr, component.ErrClosed) {
		runErr = nil
	}
	return errors.Join(runErr, svc.Close())
}
