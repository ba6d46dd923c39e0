package mux

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"xmppkit.dev/stanza"
)

// Logging returns middleware that logs each stanza after it is handled: at
// debug level when it succeeded or nobody handled it, at info level when
// the handler returned a stanza error, and at error level otherwise. The
// attributes are kind, type, id, from, to, payload ({namespace}local),
// duration and err.
func Logging(l *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, s Sender, st *stanza.Stanza) error {
			start := time.Now()
			err := next.HandleStanza(ctx, s, st)
			level := slog.LevelDebug
			var se *stanza.Error
			switch {
			case err == nil, errors.Is(err, ErrUnhandled):
			case errors.As(err, &se):
				level = slog.LevelInfo
			default:
				level = slog.LevelError
			}
			if !l.Enabled(ctx, level) {
				return err
			}
			space, local := firstChildName(st)
			attrs := []slog.Attr{
				slog.String("kind", st.Kind.String()),
				slog.String("type", st.Type),
				slog.String("id", st.ID),
				slog.String("from", st.From.String()),
				slog.String("to", st.To.String()),
				slog.String("payload", "{"+space+"}"+local),
				slog.Duration("duration", time.Since(start)),
			}
			if err != nil {
				attrs = append(attrs, slog.Any("err", err))
			}
			l.LogAttrs(ctx, level, "stanza", attrs...)
			return err
		})
	}
}
