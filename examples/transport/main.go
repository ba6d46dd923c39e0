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
// To attach it to Prosody or ejabberd as an external component (XEP-0114):
//
//	go run ./examples/transport -irc irc.libera.chat:6667 -network libera -server 127.0.0.1:5347 -domain irc.example.org -secret s3cret
//
// Registrations are kept in -data (an append-only journal; by default
// $XDG_CACHE_HOME/xmppkit-transport), or in memory with -data "". One
// transport at a time uses a data directory; a damaged journal is refused
// until -drop-corrupt (see package journal). An address given with -listen
// must be free; the default one is replaced by a free port when busy.
// SIGINT or SIGTERM quits every IRC connection and exits.
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
	"xmppkit.dev/examples/transport/archive"
	"xmppkit.dev/examples/transport/gateway"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/examples/transport/settings"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/mam"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
)

type config struct {
	irc, network           string
	server, domain, secret string
	data                   string
	listen                 string
	listenSet              bool // -listen given: a busy address is an error
	dropCorrupt            bool
	user, password         string
	c2sTLS                 c2s.TLSPolicy
	verbose                bool
	keyFile                string
	admins                 string
	ircCA                  string
	ircPins                string
	throttle               time.Duration
	burst                  int
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("transport", flag.ExitOnError)
	fs.StringVar(&cfg.irc, "irc", "127.0.0.1:6667", "IRC server to bridge to: host[:ports], ports a comma list where +N is a TLS port (irc.libera.chat:+6697,6667); no ports is +6697,6667, TLS tried first")
	fs.StringVar(&cfg.ircCA, "irc-ca", "", "PEM file of the CAs that sign the IRC server's TLS certificate (default: the system's)")
	fs.StringVar(&cfg.ircPins, "irc-pin", "", "comma-separated SHA-256 fingerprints of IRC server certificates to trust without a CA (a self-signed server)")
	fs.DurationVar(&cfg.throttle, "irc-throttle", time.Second, "after the first -irc-burst lines, one line to IRC per this long per user (flood protection); 0 to send at once")
	fs.IntVar(&cfg.burst, "irc-burst", 5, "lines a user may send to IRC at once before -irc-throttle paces them")
	fs.StringVar(&cfg.keyFile, "key-file", "", "file of the key that seals IRC passwords and other secrets on disk (default: secret.key in -data; keep it elsewhere so that a copy of -data alone reveals nothing)")
	fs.StringVar(&cfg.admins, "admin", "", "comma-separated bare JIDs allowed the administration commands (list and disconnect users)")
	fs.StringVar(&cfg.network, "network", "", "the IRC server's name in addresses (#chan%name@domain); default the host of -irc")
	fs.StringVar(&cfg.server, "server", "", "XEP-0114 component address of an XMPP server (e.g. 127.0.0.1:5347); empty runs the embedded router")
	fs.StringVar(&cfg.domain, "domain", "irc.localhost", "the gateway's XMPP domain")
	fs.StringVar(&cfg.secret, "secret", "", "component secret shared with the XMPP server (with -server)")
	fs.StringVar(&cfg.data, "data", defaultDataDir(), "directory of the registrations journal; empty keeps them in memory")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:5222", "client listener of the embedded router")
	fs.StringVar(&cfg.user, "user", "dev@localhost", "development account of the embedded router")
	fs.StringVar(&cfg.password, "password", "devpass", "its password")
	fs.Var(&cfg.c2sTLS, "c2s-tls", "STARTTLS on the client listener: auto (required unless on loopback), required or optional")
	fs.BoolVar(&cfg.verbose, "v", false, "log more")
	fs.BoolVar(&cfg.dropCorrupt, "drop-corrupt", false, "start even when the registrations journal is damaged beyond a torn last record, dropping the damage (kept in files beside it)")
	fs.Parse(os.Args[1:])
	fs.Visit(func(f *flag.Flag) { cfg.listenSet = cfg.listenSet || f.Name == "listen" })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transport:", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "xmppkit-transport")
	}
	return "transport-data"
}

// run serves until ctx ends.
func run(ctx context.Context, cfg config, out io.Writer) error {
	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	name, netw, err := gateway.ParseNetwork(cfg.irc)
	if err != nil {
		return fmt.Errorf("-irc %q: %w", cfg.irc, err)
	}
	if cfg.network == "" {
		cfg.network = name
	}
	if cfg.ircCA != "" {
		if netw.RootCAs, err = gateway.LoadCAs(cfg.ircCA); err != nil {
			return fmt.Errorf("-irc-ca: %w", err)
		}
	}
	for _, p := range strings.Split(cfg.ircPins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, err := irc.ParseFingerprint(p); err != nil {
				return fmt.Errorf("-irc-pin: %w", err)
			}
			netw.Pins = append(netw.Pins, p)
		}
	}
	netw.Throttle = irc.Throttle{Burst: cfg.burst, Interval: cfg.throttle}
	if cfg.throttle <= 0 {
		netw.Throttle.Interval = -1
	}
	var admins []jid.JID
	for _, a := range strings.Split(cfg.admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			j, err := jid.Parse(a)
			if err != nil {
				return fmt.Errorf("-admin %q: %w", a, err)
			}
			admins = append(admins, j.Bare())
		}
	}
	var store gateway.Store = &gateway.MemoryStore{}
	prefs := settings.NewMemory()
	hist := &archive.Archive{Store: &mam.Memory{}}
	where := "in memory"
	if cfg.data != "" {
		if err := os.MkdirAll(cfg.data, 0o700); err != nil {
			return err
		}
		keyFile := cfg.keyFile
		if keyFile == "" {
			keyFile = filepath.Join(cfg.data, "secret.key")
		}
		sealer, err := settings.NewSealer(keyFile)
		if err != nil {
			return fmt.Errorf("-key-file: %w", err)
		}
		js, err := gateway.OpenSealedJournalStore(cfg.data, journal.Options{DropCorrupt: cfg.dropCorrupt, Logger: log}, sealer)
		if errors.Is(err, journal.ErrCorrupt) {
			return fmt.Errorf("opening registrations in %s: %w\nrun once with -drop-corrupt to drop the damage (it is kept in files beside the journal)", cfg.data, err)
		}
		if err != nil {
			return fmt.Errorf("opening registrations in %s: %w", cfg.data, err)
		}
		defer js.Close()
		store, where = js, cfg.data
		if prefs, err = settings.Open(filepath.Join(cfg.data, "settings"), settings.Options{Sealer: sealer, Secret: gateway.SecretSettings}); err != nil {
			return fmt.Errorf("opening settings in %s: %w", cfg.data, err)
		}
		defer prefs.Close()
		mj, err := mam.OpenJournal(filepath.Join(cfg.data, "archive"), mam.JournalOptions{})
		if err != nil {
			return fmt.Errorf("opening the history in %s: %w", cfg.data, err)
		}
		defer mj.Close()
		hist = &archive.Archive{Store: mj}
	}
	gcfg := gateway.Config{
		Domain:   cfg.domain,
		Networks: map[string]gateway.Network{cfg.network: netw},
		Default:  cfg.network,
		Store:    store,
		Logger:   log,
		Settings: prefs,
		Archive:  hist,
		Admins:   admins,
	}
	if cfg.server != "" {
		return runComponent(ctx, cfg, gcfg, where, out, log)
	}
	return runEmbedded(ctx, cfg, gcfg, where, out, log)
}

func runEmbedded(ctx context.Context, cfg config, gcfg gateway.Config, where string, out io.Writer, log *slog.Logger) error {
	r, err := router.New(router.Config{
		Domains: []string{"localhost"},
		Users:   map[string]string{cfg.user: cfg.password},
		Logger:  log,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(cctx)
	}()
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}
	if _, err := r.Attach(cfg.domain, gw); err != nil {
		return err
	}
	defer gw.Close() // runs before the router closes: QUIT reaches IRC, unavailable reaches clients
	_, addr, err := c2s.Listen(r, cfg.listen, c2s.Config{TLSPolicy: cfg.c2sTLS})
	if err != nil {
		if cfg.listenSet { // an address asked for is not silently replaced
			return fmt.Errorf("client listener: %w", err)
		}
		if _, addr, err = c2s.Listen(r, "127.0.0.1:0", c2s.Config{TLSPolicy: cfg.c2sTLS}); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s is busy; using another port\n", cfg.listen)
	}
	fmt.Fprintf(out, "xmppkit IRC transport at %s, bridging to %s (%s); registrations %s\n", cfg.domain, gcfg.Default, cfg.irc, where)
	fmt.Fprintf(out, "XMPP clients: connect to %s as %s, password %q (STARTTLS with a self-signed certificate; plaintext on loopback only unless -c2s-tls says otherwise)\n", addr, cfg.user, cfg.password)
	fmt.Fprintf(out, "then join #channel@%s/yournick, or register with %s\n", cfg.domain, cfg.domain)
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down")
	return nil
}

func runComponent(ctx context.Context, cfg config, gcfg gateway.Config, where string, out io.Writer, log *slog.Logger) error {
	c := &component.Component{Addr: cfg.server, Domain: cfg.domain, Secret: cfg.secret, Logger: log}
	gcfg.Sender = c
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}
	c.Handler = gw
	fmt.Fprintf(out, "xmppkit IRC transport at %s via %s, bridging to %s (%s); registrations %s\n", cfg.domain, cfg.server, gcfg.Default, cfg.irc, where)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		gw.Close()
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "shutting down")
	gw.Close() // QUIT every IRC connection while the component can still send
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Close(cctx)
	if err := <-done; err != nil && !errors.Is(err, component.ErrClosed) {
		return err
	}
	return nil
}
