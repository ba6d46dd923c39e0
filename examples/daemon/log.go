package daemon

import (
	"io"
	"log/slog"
	"time"

	"xmppkit.dev/component"
)

// Logger returns the program's logger: text records on w at info level,
// debug level (every request, through mux.Logging) when verbose.
func Logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// OnLink returns a component.Component.OnLink hook that keeps h's
// readiness with the links and logs each change: the first link of a slot
// at info level, a link that comes back after a loss at warning level (the
// level of the failures logged meanwhile, so that the last line is never
// the failure once the link is up again), with how long it was down and
// why. With several links (Component.Links), the service is ready while
// any link is up (LinkEvent.LinksUp): a server that balances over the
// links (ejabberd's domain_balancing) still reaches it through the others.
func OnLink(log *slog.Logger, h *Health, domain string) func(component.LinkEvent) {
	type down struct {
		since time.Time
		cause error
	}
	lost := map[int]down{} // by slot; OnLink is never called concurrently
	return func(ev component.LinkEvent) {
		up := ev.LinksUp
		if ev.Up && up == 0 {
			up = 1 // an event that predates LinksUp
		}
		if ev.Up {
			h.SetReady(true, "")
			d, ok := lost[ev.Slot]
			if !ok {
				log.Info("component: link up", "domain", domain, "link", ev.Link, "slot", ev.Slot, "links_up", up, "stream_id", ev.StreamID)
				return
			}
			delete(lost, ev.Slot)
			log.Warn("component: link restored", "domain", domain, "link", ev.Link, "slot", ev.Slot, "links_up", up,
				"down_for", time.Since(d.since).Round(time.Millisecond), "after", errString(d.cause))
			return
		}
		if ev.Err == nil {
			if up == 0 {
				h.SetReady(false, "component link closed")
			}
			return
		}
		lost[ev.Slot] = down{time.Now(), ev.Err}
		if up > 0 {
			log.Warn("component: link lost; serving on the others", "domain", domain, "link", ev.Link, "slot", ev.Slot, "links_up", up, "err", ev.Err)
			return
		}
		h.SetReady(false, "component link down: "+ev.Err.Error())
	}
}
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
