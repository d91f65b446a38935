package server

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracingConfig says where a worker exports request spans (OTLP over
// gRPC). An empty Endpoint turns export off.
type TracingConfig struct {
	// Endpoint is the collector's host:port, for example "otel-collector:4317".
	Endpoint string
	// Insecure speaks plaintext gRPC to the collector.
	Insecure bool
	// BatchTimeout is how long spans wait to be sent in a batch.
	BatchTimeout time.Duration
}

// startTracing returns a tracer exporting to cfg.Endpoint and the function
// that flushes and stops it.
func startTracing(ctx context.Context, cfg TracingConfig, service, instance string) (trace.Tracer, func(context.Context) error, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("server: otlp exporter: %w", err)
	}
	batch := cfg.BatchTimeout
	if batch <= 0 {
		batch = 5 * time.Second
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", service),
			attribute.String("service.instance.id", instance),
		)),
	)
	return tp.Tracer("github.com/nanoedge/nanoedge/dataplane"), tp.Shutdown, nil
}
