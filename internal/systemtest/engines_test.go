package systemtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// TestWorkerOnEveryEngine serves a route through a worker on each engine
// this binary has (wazero; wasmer too with -tags wasmer): a handler
// answers, a runaway guest is cut at the deadline, and the worker goes on.
func TestWorkerOnEveryEngine(t *testing.T) {
	env := startEnv(t)
	env.Upload(t, "hello", guests.Hello)
	env.Upload(t, "misbehave", guests.Misbehave)
	for _, r := range []client.Route{{PathPrefix: "/hello", Module: "hello"}, {PathPrefix: "/bad/", Module: "misbehave"}} {
		if _, _, err := env.Publisher.SetRoute(ctxT(t), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range server.Engines() {
		t.Run(name, func(t *testing.T) {
			cfg := env.WorkerConfig()
			cfg.EngineName = name
			cfg.Worker.RequestTimeout = time.Second
			w := testenv.StartWorker(t, cfg)
			waitServed(t, w.URL()+"/hello", func(r response) bool { return r.status == 200 && strings.HasPrefix(r.body, "Hello") })
			start := time.Now()
			if r := get(t, w.URL()+"/bad/loop"); r.status != 504 || time.Since(start) > 5*time.Second {
				t.Fatalf("runaway loop: %d after %v", r.status, time.Since(start))
			}
			if r := get(t, w.URL()+"/bad/sleep"); r.status != 504 {
				t.Fatalf("long sleep: %d", r.status)
			}
			if r := get(t, w.URL()+"/hello/again"); r.status != 200 {
				t.Fatalf("after the runaway guests: %d", r.status)
			}
		})
	}
}

// TestEnginesRefuseWhatTheyCannotDo: an engine that cannot honour an
// option refuses to start with it, naming it, instead of ignoring it.
func TestEnginesRefuseWhatTheyCannotDo(t *testing.T) {
	env := startEnv(t)
	for _, name := range server.Engines() {
		t.Run(name, func(t *testing.T) {
			cfg := env.WorkerConfig()
			cfg.EngineName = name
			cfg.Engine.PreInitialize = true
			w, err := server.StartWorker(context.Background(), cfg)
			if name == "wasmer" {
				if !errors.Is(err, engine.ErrUnsupported) || !strings.Contains(err.Error(), "pre-initialize") {
					t.Fatalf("wasmer with PreInitialize: exp ErrUnsupported, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s with PreInitialize: %v", name, err)
			}
			w.Close()
		})
	}
	cfg := env.WorkerConfig()
	cfg.EngineName = "v8"
	if _, err := server.StartWorker(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not in this binary") {
		t.Fatalf("an unknown engine: %v", err)
	}
}
