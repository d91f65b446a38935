package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracingConfig says where a process exports spans (OTLP over gRPC). The
// standard OpenTelemetry environment applies: OTEL_EXPORTER_OTLP_ENDPOINT
// (or _TRACES_ENDPOINT) turns export on without Endpoint, and
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG are honoured;
// OTEL_SDK_DISABLED=true turns it off.
type TracingConfig struct {
	// Endpoint is the collector's host:port, for example
	// "otel-collector:4317"; it wins over the environment's.
	Endpoint string
	// Insecure speaks plaintext gRPC to the collector.
	Insecure bool
	// BatchTimeout is how long spans wait to be sent in a batch.
	BatchTimeout time.Duration
}

// Enabled reports whether spans are exported: an endpoint is given, by
// flag or by the environment.
func (c TracingConfig) Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return c.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// StartTracing returns a tracer provider exporting as cfg and the
// environment say, and the function that flushes and stops it. service
// and instance name the process unless OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
func StartTracing(ctx context.Context, cfg TracingConfig, service, instance string) (trace.TracerProvider, func(context.Context) error, error) {
	var opts []otlptracegrpc.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
	}
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
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service), attribute.String("service.instance.id", instance)),
		resource.WithFromEnv()) // the environment's names win
	if err != nil {
		return nil, nil, fmt.Errorf("server: tracing resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)), sdktrace.WithResource(res)}
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" { // else the SDK reads it, with its argument
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	return tp, tp.Shutdown, nil
}
