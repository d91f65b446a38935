package testenv

import (
	"context"
	"net"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Collector is an OpenTelemetry collector's trace service on loopback: it
// keeps every span the worker's OTLP exporter sends.
type Collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracev1.Span
	// service names the service.name of each span's resource.
	service map[*tracev1.Span]string
	// Addr is the collector's host:port.
	Addr string
}

// StartCollector starts a Collector, stopped at cleanup.
func StartCollector(tb testing.TB) *Collector {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Collector{Addr: ln.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, c)
	go s.Serve(ln)
	tb.Cleanup(s.Stop)
	return c
}

// Export implements the OTLP trace service.
func (c *Collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.service == nil {
		c.service = map[*tracev1.Span]string{}
	}
	for _, rs := range req.ResourceSpans {
		name := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				name = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
			for _, s := range ss.Spans {
				c.service[s] = name
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Find returns the spans whose url.path attribute is path.
func (c *Collector) Find(path string) []*tracev1.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracev1.Span
	for _, s := range c.spans {
		for _, a := range s.Attributes {
			if a.Key == "url.path" && a.Value.GetStringValue() == path {
				out = append(out, s)
			}
		}
	}
	return out
}

// Trace returns the names of the spans of one trace, by the service that
// exported them.
func (c *Collector) Trace(traceID []byte) map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for _, s := range c.spans {
		if string(s.TraceId) == string(traceID) {
			out[c.service[s]] = append(out[c.service[s]], s.Name)
		}
	}
	return out
}
