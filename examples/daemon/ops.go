package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Health is what /healthz and /readyz answer: the process is alive while
// it serves them; it is ready once its link is up (a component's handshake
// done, or the embedded router serving) and not shutting down.
type Health struct {
	mu     sync.Mutex
	ready  bool
	reason string
}

// NewHealth returns a Health that is not ready, for reason.
func NewHealth(reason string) *Health { return &Health{reason: reason} }

// SetReady records readiness; reason says why when not ready. The service
// manager sees it as the STATUS of the unit (Notify).
func (h *Health) SetReady(ready bool, reason string) {
	h.mu.Lock()
	changed := h.ready != ready || h.reason != reason
	h.ready, h.reason = ready, reason
	h.mu.Unlock()
	if !changed {
		return
	}
	if ready {
		Notify("STATUS=ready")
	} else {
		Notify("STATUS=not ready: " + reason)
	}
}

// Started tells the service manager that the service is up (READY=1):
// configuration read, store open, listeners bound, the component running
// (its link may still be coming up: /readyz tells that).
func (h *Health) Started() { Notify("READY=1") }

// Stopping marks the service not ready and tells the service manager that
// it is shutting down (STOPPING=1).
func (h *Health) Stopping() {
	h.SetReady(false, "shutting down")
	Notify("STOPPING=1")
}

// Ready returns the readiness and, when not ready, why.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready, h.reason
}

// Ops is the HTTP server of /metrics, /healthz and /readyz.
type Ops struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// ListenOps serves /metrics (the metrics handler; none when nil), /healthz
// (200 while the process serves) and /readyz (200 when h is ready, else 503
// with the reason) on addr. When addr is busy and was not asked for
// (given false: the default), a free port on the same host is taken
// instead, and moved reports it.
func ListenOps(addr string, given bool, metrics http.Handler, h *Health) (ops *Ops, moved bool, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil && !given {
		host, _, _ := net.SplitHostPort(addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		moved = err == nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("-metrics: %w", err)
	}
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, reason := h.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", reason)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ops = &Ops{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), done: make(chan struct{})}
	go func() {
		defer close(ops.done)
		if err := ops.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("metrics server:", err)
		}
	}()
	return ops, moved, nil
}

// Addr returns the address served.
func (o *Ops) Addr() net.Addr { return o.addr }

// Close stops the server.
func (o *Ops) Close() error {
	if o == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := o.srv.Shutdown(ctx)
	<-o.done
	return err
}
