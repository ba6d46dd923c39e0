// Command pubsub-service is a XEP-0060 publish-subscribe service built on
// xmppkit, with durable storage.
//
// With no flags it starts everything on this machine: xmppkit's in-process
// router with a client listener on 127.0.0.1:5222 (or a free port if that one
// is busy), a development account, and the service at pubsub.localhost:
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
// it is acknowledged; see package pubsub and journal.
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
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
)

type config struct {
	server, domain, secret string
	data                   string
	memory                 bool
	listen                 string
	user, password         string
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
	fs.BoolVar(&cfg.demo, "demo", false, "run a scripted publish-subscribe exchange and exit")
	fs.BoolVar(&cfg.verbose, "v", false, "log every request")
	fs.Parse(os.Args[1:])

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
		fs, err := pubsub.OpenFileStore(cfg.data, false)
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
	if e.addr != cfg.listen {
		fmt.Fprintf(out, "%s is busy; using another port\n", cfg.listen)
	}
	fmt.Fprintf(out, "c2s listening on %s\n", e.addr)
	fmt.Fprintf(out, "log in as %s with password %q (SCRAM or PLAIN over STARTTLS; self-signed certificate)\n", cfg.user, cfg.password)
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
	r    *router.Router
	addr string
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
	_, addr, err := c2s.Listen(r, cfg.listen, c2s.Config{})
	if err != nil {
		// The usual port is taken (another server?): take a free one.
		_, addr, err = c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	}
	if err != nil {
		r.Close(context.Background())
		return nil, err
	}
	return &embedded{r: r, addr: addr.String()}, nil
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
