package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/router/console"
)

// HostOf returns the host server's domain of a service domain: the domain
// without its first label (localhost for pubsub.localhost), or localhost
// for a domain of one label.
func HostOf(domain string) string {
	if i := strings.IndexByte(domain, '.'); i >= 0 {
		return domain[i+1:]
	}
	return "localhost"
}

// Embedded configures the embedded router of an example program.
type Embedded struct {
	Service     string           // the service's domain, attached in process
	Handler     mux.Handler      // the service
	User        string           // the development account (bare JID at HostOf(Service))
	Password    string           // its password
	Listen      string           // the client listener's address
	ListenGiven bool             // Listen was asked for: a busy address is an error, not moved
	Console     string           // the developer console's loopback address, or ""
	Cert        *Cert            // the client listener's certificate
	Logger      *slog.Logger     //
	Metrics     metrics.Registry // or nil
	// Privileges and Delegations the router grants (XEP-0356, XEP-0355),
	// e.g. to the service itself for its users' PEP.
	Privileges  []router.Privileges
	Delegations []router.Delegation
}

// Router is a running embedded router.
type Router struct {
	*router.Router
	Addr        string // the client listener's address
	Moved       bool   // the default address was busy: another port was taken
	ConsoleAddr string // the console's address, or ""
	con         *console.Console
}

// Start runs the router of HostOf(e.Service) with the development account,
// the service attached in process, the developer console when asked for,
// and the client listener.
func (e Embedded) Start() (*Router, error) {
	r, err := router.New(router.Config{
		Domains: []string{HostOf(e.Service)},
		Users:   map[string]string{e.User: e.Password},
		Logger:  e.Logger,
		Metrics: e.Metrics,

		Privileges:  e.Privileges,
		Delegations: e.Delegations,
	})
	if err != nil {
		return nil, err
	}
	er := &Router{Router: r}
	if e.Console != "" {
		er.con = console.New(r, console.Config{})
		a, err := er.con.Listen(e.Console)
		if err != nil {
			er.Close()
			return nil, fmt.Errorf("-console: %w", err)
		}
		er.ConsoleAddr = a.String()
	}
	if _, err := r.Attach(e.Service, e.Handler); err != nil {
		er.Close()
		return nil, err
	}
	ccfg := c2s.Config{}
	if e.Cert != nil {
		ccfg.TLS = e.Cert.TLS
	}
	_, addr, err := c2s.Listen(r, e.Listen, ccfg)
	if err != nil && !e.ListenGiven {
		// The default port is taken (another server?): take a free one.
		// An address asked for explicitly is not silently replaced.
		_, addr, err = c2s.Listen(r, "127.0.0.1:0", ccfg)
		er.Moved = err == nil
	}
	if err != nil {
		er.Close()
		return nil, fmt.Errorf("client listener: %w", err)
	}
	er.Addr = addr.String()
	return er, nil
}

// Describe writes the start-up lines of the router: the certificate, then
// the client listener (the last: scripts wait for it), the console.
func (r *Router) Describe(w io.Writer, e Embedded) {
	if r.Moved {
		fmt.Fprintf(w, "%s is busy; using another port\n", e.Listen)
	}
	if e.Cert != nil {
		e.Cert.Describe(w)
	}
	if r.ConsoleAddr != "" {
		fmt.Fprintf(w, "console: http://%s/\n", r.ConsoleAddr)
	}
	fmt.Fprintf(w, "c2s listening on %s\n", r.Addr)
}

// Close stops the console and the router (10 s at most).
func (r *Router) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if r.con != nil {
		err = r.con.Close(ctx)
	}
	return errors.Join(err, r.Router.Close(ctx))
}

// RunComponent runs c (its OnLink set to keep h and the log, see OnLink,
// after calling the OnLink c had)
// until ctx ends, then calls beforeClose (when not nil: a gateway says
// goodbye while the link can still carry it), closes c gracefully (10 s at
// most) and returns nil. It returns a permanent failure (a wrong secret, a
// domain the server does not know) as soon as Run does.
func RunComponent(ctx context.Context, c *component.Component, h *Health, log *slog.Logger, out io.Writer, beforeClose func()) error {
	if prev, keep := c.OnLink, OnLink(log, h, c.Domain); prev != nil {
		c.OnLink = func(ev component.LinkEvent) { prev(ev); keep(ev) }
	} else {
		c.OnLink = keep
	}
	h.SetReady(false, "connecting to "+c.Addr)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.WithoutCancel(ctx)) }()
	h.Started()
	var err error
	select {
	case err = <-errc:
		h.SetReady(false, "stopped: "+fmt.Sprint(err))
		if beforeClose != nil {
			beforeClose()
		}
	case <-ctx.Done():
		h.Stopping()
		fmt.Fprintln(out, "shutting down")
		if beforeClose != nil {
			beforeClose()
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Close(cctx)
		cancel()
		<-errc
	}
	if errors.Is(err, component.ErrClosed) {
		err = nil
	}
	return err
}
