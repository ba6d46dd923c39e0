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
// readiness with the link and logs each change: the first link at info
// level, a link that comes back after a loss at warning level (the level
// of the failures logged meanwhile, so that the last line is never the
// failure once the link is up again), with how long it was down and why.
func OnLink(log *slog.Logger, h *Health, domain string) func(component.LinkEvent) {
	var (
		downSince time.Time
		cause     error
	)
	return func(ev component.LinkEvent) {
		if ev.Up {
			h.SetReady(true, "")
			if downSince.IsZero() {
				log.Info("component: link up", "domain", domain, "link", ev.Link, "stream_id", ev.StreamID)
				return
			}
			log.Warn("component: link restored", "domain", domain, "link", ev.Link,
				"down_for", time.Since(downSince).Round(time.Millisecond), "after", errString(cause))
			downSince, cause = time.Time{}, nil
			return
		}
		if ev.Err == nil {
			h.SetReady(false, "component link closed")
			return
		}
		downSince, cause = time.Now(), ev.Err
		h.SetReady(false, "component link down: "+ev.Err.Error())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
