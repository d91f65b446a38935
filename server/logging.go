package server

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// traceLogs adds trace_id and span_id to records logged with a context
// that carries a span: a log line of the control plane leads to the
// trace of the call it is about.
type traceLogs struct{ slog.Handler }

func withTraceIDs(l *slog.Logger) *slog.Logger { return slog.New(traceLogs{l.Handler()}) }

func (h traceLogs) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceLogs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceLogs{h.Handler.WithAttrs(attrs)}
}
func (h traceLogs) WithGroup(name string) slog.Handler { return traceLogs{h.Handler.WithGroup(name)} }
