// Command transport is an XMPP–IRC gateway built on xmppkit: each XMPP user
// gets their own IRC connection, IRC channels appear as multi-user chat
// rooms (XEP-0045) and IRC users as contacts, following the address
// conventions of Biboumi (#chan%server@gateway, nick%server@gateway).
//
// With no XMPP server it runs on xmppkit's embedded router, with a client
// listener so that a person can log in with any XMPP client and chat on IRC:
//
//	go run ./examples/transport -irc 127.0.0.1:6667
//
// It prints the address to connect to and the development account. Then join
// #channel@irc.localhost/yournick in the client, or register (XEP-0077) with
// irc.localhost to choose a nick and IRC password and bring the connection up
// whenever the account comes online.
//
// To attach it to Prosody or ejabberd as an external component (XEP-0114),
// name the server, the component's domain as the server knows it, and the
// shared secret (better in a file than on the command line):
//
//	go run ./examples/transport -irc irc.libera.chat:6667 -network libera -server 127.0.0.1:5347 -domain irc.example.org -secret-file /etc/xmppkit/transport.secret
//
// Every flag can also be given as an environment variable (TRANSPORT_ and
// the flag's name in upper case, dashes as underscores) or as a
// "name = value" line of the file named by -config; flags win over the
// environment, which wins over the file (-h lists them all).
//
// Registrations (IRC nicks and passwords) are kept in -data, an
// append-only journal: by default systemd's $STATE_DIRECTORY, else
// $XDG_STATE_HOME/xmppkit-transport (usually
// ~/.local/state/xmppkit-transport; data that earlier versions kept under
// ~/.cache is moved there), or in memory with -data "". One transport at a
// time uses a data directory; a damaged journal is refused until
// -drop-corrupt (see package journal). The embedded router's client
// listener uses -cert and -key, or a self-signed certificate kept in -data,
// whose path and SHA-256 fingerprint are printed at start. An address
// given with -listen must be free; the default one is replaced by a free
// port when busy.
//
// /metrics (Prometheus text format), /healthz and /readyz are served on
// -metrics (127.0.0.1:9651 by default; "" turns them off); -console serves
// the embedded router's developer console on a loopback address; -v logs
// every request. SIGINT or SIGTERM quits every IRC connection and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"xmppkit.dev/component"
	"xmppkit.dev/examples/daemon"
	"xmppkit.dev/examples/transport/gateway"
	"xmppkit.dev/journal"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
)

const (
	dataName   = "xmppkit-transport" // the data directory's name
	envPrefix  = "TRANSPORT"
	defaultOps = "127.0.0.1:9651"
)

type config struct {
	irc, network           string
	server, domain, secret string
	secretFile             string
	data                   string
	dataGiven              bool // -data given: no move of earlier data
	listen                 string
	listenSet              bool // -listen given: a busy address is an error
	cert, key              string
	dropCorrupt            bool
	user, password         string
	verbose                bool
	metrics                string
	metricsSet             bool
	console                string
	check                  *daemon.Sources // -check: report the settings and exit
	stderr                 io.Writer       // logs; os.Stderr when nil
	health                 *daemon.Health
	reg                    metrics.Registry // where the SDK reports (nil with -metrics "")
}

// parseConfig reads the command line, the environment and the -config file.
func parseConfig(args []string, errOut io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("transport", flag.ExitOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.irc, "irc", "127.0.0.1:6667", "IRC server to bridge to (host:port)")
	fs.StringVar(&cfg.network, "network", "", "the IRC server's name in addresses (#chan%name@domain); default the host of -irc")
	fs.StringVar(&cfg.server, "server", "", "XEP-0114 component address of an XMPP server (e.g. 127.0.0.1:5347); empty runs the embedded router")
	fs.StringVar(&cfg.domain, "domain", "irc.localhost", "the gateway's XMPP domain (with -server: required, as the server knows the component)")
	fs.StringVar(&cfg.secret, "secret", "", "component secret shared with the XMPP server (with -server; visible in the process list: prefer -secret-file)")
	fs.StringVar(&cfg.secretFile, "secret-file", "", "file holding the component secret (with -server), e.g. a systemd credential: %d/secret")
	fs.StringVar(&cfg.data, "data", daemon.DataDir(dataName), "directory of the registrations journal and the client listener's certificate; empty keeps registrations in memory")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:5222", "client listener of the embedded router")
	fs.StringVar(&cfg.cert, "cert", "", "PEM certificate of the client listener (with -key); default a self-signed one kept in -data")
	fs.StringVar(&cfg.key, "key", "", "PEM private key of -cert")
	fs.StringVar(&cfg.user, "user", "", "development account of the embedded router (default dev@ the gateway's parent domain: dev@localhost)")
	fs.StringVar(&cfg.password, "password", "devpass", "its password")
	fs.BoolVar(&cfg.verbose, "v", false, "log every request (debug level)")
	fs.BoolVar(&cfg.dropCorrupt, "drop-corrupt", false, "start even when the registrations journal is damaged beyond a torn last record, dropping the damage (kept in files beside it)")
	fs.StringVar(&cfg.metrics, "metrics", defaultOps, "address of /metrics, /healthz and /readyz (\"\" for none)")
	fs.StringVar(&cfg.console, "console", "", "loopback address of the embedded router's developer console, e.g. 127.0.0.1:8080 (off by default)")
	src, err := daemon.Parse(fs, envPrefix, args)
	if err != nil {
		return cfg, err
	}
	cfg.listenSet, cfg.metricsSet, cfg.dataGiven = src.Given("listen"), src.Given("metrics"), src.Given("data")
	cfg.check = src
	if cfg.user == "" {
		cfg.user = "dev@" + daemon.HostOf(cfg.domain)
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
		fmt.Fprintln(os.Stderr, "transport:", err)
		os.Exit(2)
	}
	if cfg.check != nil {
		cfg.check.Report(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transport:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.stderr == nil {
		cfg.stderr = os.Stderr
	}
	if cfg.health == nil {
		cfg.health = daemon.NewHealth("starting")
	}
	log := daemon.Logger(cfg.stderr, cfg.verbose)
	name, netw, err := gateway.ParseNetwork(cfg.irc)
	if err != nil {
		return fmt.Errorf("-irc %q: %w", cfg.irc, err)
	}
	if cfg.network == "" {
		cfg.network = name
	}
	if cfg.data != "" && !cfg.dataGiven {
		if err := daemon.MoveLegacyData(dataName, cfg.data, out); err != nil {
			return err
		}
	}
	var metricsHandler http.Handler
	if cfg.metrics != "" {
		reg, h := daemon.MetricsHandler()
		cfg.reg, metricsHandler = reg, h
	}
	var store gateway.Store = &gateway.MemoryStore{}
	where := "in memory"
	if cfg.data != "" {
		js, err := gateway.OpenJournalStoreWith(cfg.data, journal.Options{DropCorrupt: cfg.dropCorrupt, Logger: log, Metrics: cfg.reg, Name: "registrations"})
		if errors.Is(err, journal.ErrCorrupt) {
			return fmt.Errorf("opening registrations in %s: %w\nrun once with -drop-corrupt to drop the damage (it is kept in files beside the journal)", cfg.data, err)
		}
		if err != nil {
			return fmt.Errorf("opening registrations in %s: %w", cfg.data, err)
		}
		defer js.Close()
		store, where = js, cfg.data
	}
	if cfg.metrics != "" {
		ops, moved, err := daemon.ListenOps(cfg.metrics, cfg.metricsSet, metricsHandler, cfg.health)
		if err != nil {
			return err
		}
		defer ops.Close()
		if moved {
			fmt.Fprintf(out, "%s is busy; serving metrics on another port\n", cfg.metrics)
		}
		fmt.Fprintf(out, "metrics: http://%s/metrics (and /healthz, /readyz)\n", ops.Addr())
	}
	gcfg := gateway.Config{
		Domain:   cfg.domain,
		Networks: map[string]gateway.Network{cfg.network: netw},
		Default:  cfg.network,
		Store:    store,
		Logger:   log,
	}
	if cfg.server != "" {
		return runComponent(ctx, cfg, gcfg, where, out, log)
	}
	return runEmbedded(ctx, cfg, gcfg, where, out, log)
}

func runEmbedded(ctx context.Context, cfg config, gcfg gateway.Config, where string, out io.Writer, log *slog.Logger) error {
	cert, err := daemon.Certificate(cfg.cert, cfg.key, cfg.data, []string{daemon.HostOf(cfg.domain)})
	if err != nil {
		return err
	}
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}
	emb := daemon.Embedded{
		Service: cfg.domain, Handler: mux.Logging(log)(gw), User: cfg.user, Password: cfg.password,
		Listen: cfg.listen, ListenGiven: cfg.listenSet, Console: cfg.console, Cert: cert, Logger: log,
		Metrics: cfg.reg,
	}
	cfg.health.SetReady(false, "starting the embedded router")
	e, err := emb.Start()
	if err != nil {
		gw.Close()
		return err
	}
	defer e.Close()
	defer gw.Close() // runs before the router closes: QUIT reaches IRC, unavailable reaches clients
	fmt.Fprintf(out, "xmppkit IRC transport at %s, bridging to %s (%s); registrations %s\n", cfg.domain, gcfg.Default, cfg.irc, where)
	e.Describe(out, emb)
	fmt.Fprintf(out, "XMPP clients: connect to %s as %s, password %q (STARTTLS, or plaintext)\n", e.Addr, cfg.user, cfg.password)
	fmt.Fprintf(out, "then join #channel@%s/yournick, or register with %s\n", cfg.domain, cfg.domain)
	cfg.health.SetReady(true, "")
	cfg.health.Started()
	<-ctx.Done()
	cfg.health.Stopping()
	fmt.Fprintln(out, "shutting down")
	return nil
}

func runComponent(ctx context.Context, cfg config, gcfg gateway.Config, where string, out io.Writer, log *slog.Logger) error {
	if cfg.secret == "" {
		return errors.New("-server needs the component secret (-secret-file, -secret or TRANSPORT_SECRET_FILE)")
	}
	c := &component.Component{Addr: cfg.server, Domain: cfg.domain, Secret: cfg.secret, Logger: log, Metrics: cfg.reg}
	gcfg.Sender = c
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}
	c.Handler = mux.Logging(log)(gw)
	fmt.Fprintf(out, "xmppkit IRC transport at %s via %s, bridging to %s (%s); registrations %s\n", cfg.domain, cfg.server, gcfg.Default, cfg.irc, where)
	// QUIT every IRC connection while the component can still send.
	return daemon.RunComponent(ctx, c, cfg.health, log, out, func() { gw.Close() })
}
