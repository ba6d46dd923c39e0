// Package console is a developer console for xmppkit's router: a local web
// page that lists the router's sessions (components connected over XEP-0114,
// services attached in process, clients with their presence) and shows
// every stanza the router routes, live, pretty-printed and filterable.
//
//	r, _ := router.New(router.Config{})
//	con := console.New(r, console.Config{})
//	addr, err := con.Listen("127.0.0.1:8080") // loopback only
//	defer con.Close()
//
// The page gets the stanzas as server-sent events (the HTML Living
// Standard's EventSource: GET /events, text/event-stream), each an event
// "stanza" whose data is a JSON object (Event); the sessions come as an
// event "peers" whenever they change. A page that reconnects sends
// Last-Event-ID and gets what it missed from the backlog (Config.Backlog
// stanzas); what the backlog no longer holds is announced as an event
// "gap". A page that cannot keep up has its stream closed, and reconnects
// from where it was.
//
// The console shows everything, payloads included, so it is served only to
// this machine: Listen refuses an address that is not loopback, and every
// request must name a loopback host (Host header "localhost",
// "127.0.0.1", "[::1]", ...), which defeats DNS rebinding from a web page
// the developer visits. The page runs no inline script (a
// Content-Security-Policy forbids it) and writes stanzas into the document
// as text only, never as markup, so a stanza cannot inject into it.
//
// The console adds a tap to the router (router.Router.Tap) that only
// copies each stanza into a bounded queue; formatting happens on the
// console's own goroutine, and when that queue is full stanzas are dropped
// from the console (counted, and announced as a gap), never delaying the
// router.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/router"
)

// Defaults for the zero fields of Config.
const (
	DefaultBacklog = 1000
	DefaultMaxXML  = 16 << 10
)

// Config configures a Console.
type Config struct {
	// Backlog is the number of recent stanzas kept for pages that open or
	// reconnect later; default DefaultBacklog.
	Backlog int
	// MaxXML bounds the bytes of one stanza shown; a larger stanza is
	// shown cut, with its size. Default DefaultMaxXML.
	MaxXML int
	// Logger receives the console's own events; default the router's.
	Logger *slog.Logger
}

// Event is one stanza as the console sends it to the page (the data of a
// "stanza" event, as JSON).
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // message, presence, iq
	Type string    `json:"type,omitempty"`
	ID   string    `json:"id,omitempty"`
	From string    `json:"from,omitempty"`
	To   string    `json:"to,omitempty"`
	// XML is the stanza pretty-printed (Indent), or as routed when it
	// could not be (Raw true), cut at Config.MaxXML (Cut true).
	XML   string `json:"xml"`
	Bytes int    `json:"bytes"` // the stanza's size as routed
	Raw   bool   `json:"raw,omitempty"`
	Cut   bool   `json:"cut,omitempty"`
}

// Peer is one session as the page lists it (the "peers" event's data is a
// JSON array of them).
type Peer struct {
	Kind      string    `json:"kind"` // component, service, client
	Addr      string    `json:"addr"`
	Remote    string    `json:"remote,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Available bool      `json:"available,omitempty"`
	Queued    int64     `json:"queued,omitempty"`
}

// Console serves the developer console of one router. It is an
// http.Handler; Listen serves it on a loopback address.
type Console struct {
	r      *router.Router
	cfg    Config
	log    *slog.Logger
	untap  func()
	in     chan *router.Traffic
	static http.Handler
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	seq     uint64
	backlog []*entry // ring, oldest first after trimming
	subs    map[*subscriber]struct{}
	peers   []byte // the last "peers" data sent
	dropped uint64 // stanzas the tap could not queue since the last gap event
	srv     *http.Server
	closed  bool
}

// entry is a formatted stanza: its sequence number and SSE frame.
type entry struct {
	seq   uint64
	frame []byte
}

type subscriber struct {
	ch   chan []byte // SSE frames; closed by the console when it is too slow or closing
	gone bool        // ch closed; guarded by Console.mu
}

//go:embed static
var staticFiles embed.FS

// New returns a console for r and starts watching r's traffic (until
// Close).
func New(r *router.Router, cfg Config) *Console {
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.MaxXML <= 0 {
		cfg.MaxXML = DefaultMaxXML
	}
	if cfg.Logger == nil {
		cfg.Logger = r.Logger()
	}
	sub, _ := fs.Sub(staticFiles, "static")
	c := &Console{
		r: r, cfg: cfg, log: cfg.Logger,
		in:     make(chan *router.Traffic, 4096),
		static: http.FileServer(http.FS(sub)),
		done:   make(chan struct{}),
		subs:   map[*subscriber]struct{}{},
	}
	c.untap = r.Tap(c.tap)
	c.wg.Add(1)
	go c.run()
	return c
}

// tap runs on the router's routing goroutines: it only queues.
func (c *Console) tap(t *router.Traffic) {
	select {
	case c.in <- t:
	default:
		c.mu.Lock()
		c.dropped++
		c.mu.Unlock()
	}
}

// run formats queued stanzas and watches the sessions.
func (c *Console) run() {
	defer c.wg.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	c.refreshPeers()
	for {
		select {
		case <-c.done:
			return
		case t := <-c.in:
			c.add(t)
		case <-tick.C:
			c.refreshPeers()
		}
	}
}

func (c *Console) add(t *router.Traffic) {
	ev := Event{Time: t.Time, Kind: t.Kind.String(), Type: t.Type, ID: t.ID, From: t.From, To: t.To, Bytes: len(t.XML)}
	raw := t.XML
	if len(raw) > c.cfg.MaxXML {
		ev.Cut, ev.Raw, ev.XML = true, true, string(raw[:c.cfg.MaxXML])
	} else if s, err := Indent(raw); err == nil {
		ev.XML = s
	} else {
		ev.Raw, ev.XML = true, string(raw)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped > 0 {
		c.gapLocked(c.dropped)
		c.dropped = 0
	}
	c.seq++
	ev.Seq = c.seq
	data, _ := json.Marshal(ev)
	e := &entry{seq: ev.Seq, frame: frame("stanza", ev.Seq, data)}
	c.backlog = append(c.backlog, e)
	if len(c.backlog) > c.cfg.Backlog {
		c.backlog = slices.Delete(c.backlog, 0, len(c.backlog)-c.cfg.Backlog)
	}
	c.broadcastLocked(e.frame)
}

// gapLocked tells the pages that n stanzas were not shown.
func (c *Console) gapLocked(n uint64) {
	c.broadcastLocked(frame("gap", 0, []byte(strconv.FormatUint(n, 10))))
}

func (c *Console) refreshPeers() {
	ps := c.r.Peers()
	out := make([]Peer, len(ps))
	for i, p := range ps {
		out[i] = Peer{Kind: p.Kind, Addr: p.Addr.String(), Remote: p.Remote, Since: p.Since, Available: p.Available, Queued: p.Queued}
	}
	data, _ := json.Marshal(out)
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(data) == string(c.peers) {
		return
	}
	c.peers = data
	c.broadcastLocked(frame("peers", 0, data))
}

// broadcastLocked hands f to every page; a page whose queue is full is
// disconnected (its EventSource reconnects with Last-Event-ID).
func (c *Console) broadcastLocked(f []byte) {
	for s := range c.subs {
		select {
		case s.ch <- f:
		default:
			c.dropLocked(s)
		}
	}
}

func (c *Console) dropLocked(s *subscriber) {
	if !s.gone {
		s.gone = true
		close(s.ch)
	}
	delete(c.subs, s)
}

// frame encodes one server-sent event. data is JSON or a number: one line.
func frame(event string, id uint64, data []byte) []byte {
	var b []byte
	if id != 0 {
		b = fmt.Appendf(b, "id: %d\n", id)
	}
	b = fmt.Appendf(b, "event: %s\ndata: %s\n\n", event, data)
	return b
}

// ServeHTTP serves the page (GET /), its script and style, the sessions
// (GET /peers, JSON) and the event stream (GET /events). A request whose
// Host is not a loopback name gets 403 Forbidden.
func (c *Console) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !loopbackHost(req.Host) {
		http.Error(w, "the console answers only requests to a loopback host (localhost, 127.0.0.1, [::1])", http.StatusForbidden)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch req.URL.Path {
	case "/events":
		c.serveEvents(w, req)
	case "/peers":
		c.mu.Lock()
		data := c.peers
		c.mu.Unlock()
		h.Set("Content-Type", "application/json")
		w.Write(data)
	case "/", "/console.js", "/console.css":
		c.static.ServeHTTP(w, req)
	default:
		http.NotFound(w, req)
	}
}

// serveEvents streams server-sent events: the sessions, the backlog after
// Last-Event-ID (all of it for a new page), then live stanzas.
func (c *Console) serveEvents(w http.ResponseWriter, req *http.Request) {
	rc := http.NewResponseController(w)
	var last uint64
	if v := req.Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseUint(v, 10, 64)
	}
	s := &subscriber{ch: make(chan []byte, 256)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		http.Error(w, "console closed", http.StatusServiceUnavailable)
		return
	}
	var first []byte
	first = append(first, "retry: 1000\n\n"...)
	if c.peers != nil {
		first = append(first, frame("peers", 0, c.peers)...)
	}
	i := 0
	for i < len(c.backlog) && c.backlog[i].seq <= last {
		i++
	}
	if last != 0 && len(c.backlog) > 0 && c.backlog[0].seq > last+1 {
		first = append(first, frame("gap", 0, []byte(strconv.FormatUint(c.backlog[0].seq-last-1, 10)))...)
	}
	for _, e := range c.backlog[i:] {
		first = append(first, e.frame...)
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.dropLocked(s)
		c.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(first); err != nil {
		return
	}
	rc.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case f, ok := <-s.ch:
			if !ok {
				return // too slow, or the console closed
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := w.Write(f); err != nil {
				return
			}
			// Write what else is queued before flushing.
			for more := true; more; {
				select {
				case f, ok := <-s.ch:
					if !ok {
						rc.Flush()
						return
					}
					w.Write(f)
				default:
					more = false
				}
			}
			if rc.Flush() != nil {
				return
			}
		case <-keepalive.C:
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-req.Context().Done():
			return
		}
	}
}

// loopbackHost reports whether hostport (a Host header) names this
// machine: localhost (or a name under .localhost, RFC 6761 §6.3) or a
// loopback IP address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNotLoopback is returned by Listen for an address that is not on the
// loopback interface.
var ErrNotLoopback = errors.New("console: not a loopback address; the console shows every stanza, so it is served only to this machine")

// Listen serves the console on addr ("127.0.0.1:8080", "localhost:0",
// "[::1]:8080"), which must be a loopback address, in the background until
// Close. It returns the address listened on.
func (c *Console) Listen(addr string) (net.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if !loopbackHost(host) {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, addr)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, ln.Addr())
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}
	c.mu.Lock()
	if c.closed || c.srv != nil {
		c.mu.Unlock()
		ln.Close()
		return nil, errors.New("console: closed or already listening")
	}
	c.srv = srv
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		srv.Serve(ln)
	}()
	return ln.Addr(), nil
}

// Close removes the console's tap, ends the event streams and stops the
// server Listen started. It waits up to ctx for the streams to end.
func (c *Console) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	srv := c.srv
	for s := range c.subs {
		c.dropLocked(s)
	}
	c.mu.Unlock()
	c.untap()
	close(c.done)
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
		if err != nil {
			srv.Close()
		}
	}
	c.wg.Wait()
	return err
}
