package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/server"
)

// TestWorkerFlagsSetThePool: the pool's settings reach the worker's
// config, and left unset they keep its defaults.
func TestWorkerFlagsSetThePool(t *testing.T) {
	tests := []struct {
		args                []string
		instances, requests int
		recycle             uint64
	}{
		{nil, 1024, 0, 64 << 20},
		{[]string{"--max-instances", "3", "--max-requests-per-instance", "500", "--recycle-memory-mb", "32"}, 3, 500, 32 << 20},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("worker", flag.ContinueOnError)
		wf := addWorkerFlags(fs, "")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := wf.check(); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		cfg, err := wf.config(&env{stderr: io.Discard}, "cp:7080")
		if err != nil {
			t.Fatal(err)
		}
		wc := cfg.Worker
		if wc.MaxInstances != tt.instances || wc.MaxRequestsPerInstance != tt.requests || wc.RecycleMemory != tt.recycle {
			t.Fatalf("%v: instances %d, requests %d, recycle %d; exp %d, %d, %d", tt.args,
				wc.MaxInstances, wc.MaxRequestsPerInstance, wc.RecycleMemory, tt.instances, tt.requests, tt.recycle)
		}
		if err := wc.Validate(); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
	}
	if d := dataplane.DefaultConfig(); d.MaxInstances != 1024 || d.ModuleMemory != 1<<30 || d.Concurrency != 2*runtime.GOMAXPROCS(0) || d.OutboundMaxCalls != 50 || d.OutboundMaxBytes != 32<<20 || d.RecycleMemory != 64<<20 {
		t.Fatalf("the flags' defaults no longer match dataplane.DefaultConfig: %+v", d)
	}
}

// TestWorkerOutboundFlags: the worker's outbound flags reach its config,
// and a network that is not a CIDR prefix is refused naming the flag.
func TestWorkerOutboundFlags(t *testing.T) {
	tests := []struct {
		args    []string
		private string
		calls   int
		err     string
	}{
		{nil, "[]", 50, ""},
		{[]string{"--outbound-private", "10.1.2.3/8", "--outbound-private", "::1/128", "--outbound-max-calls", "5", "--concurrency", "3"}, "[10.0.0.0/8 ::1/128]", 5, ""},
		{[]string{"--outbound-private", "10.0.0.1"}, "", 0, `--outbound-private "10.0.0.1": want a CIDR prefix`},
		{[]string{"--outbound-max-calls", "0"}, "", 0, "--outbound-max-calls and --outbound-max-mb must be positive"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("worker", flag.ContinueOnError)
		wf := addWorkerFlags(fs, "")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := wf.check()
		var cfg server.WorkerConfig
		if err == nil {
			cfg, err = wf.config(&env{}, "")
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("%v: got %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		wc := cfg.Worker
		if got := fmt.Sprint(wc.OutboundPrivate); got != tt.private || wc.OutboundMaxCalls != tt.calls {
			t.Fatalf("%v: private %s, calls %d; want %s, %d", tt.args, got, wc.OutboundMaxCalls, tt.private, tt.calls)
		}
		if slices.Contains(tt.args, "--concurrency") && wc.Concurrency != 3 {
			t.Fatalf("concurrency %d", wc.Concurrency)
		}
	}
}

// TestPreInitializeFlag: instances initialize themselves unless the flag
// asks for snapshots.
func TestPreInitializeFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--pre-initialize"}, true},
		{[]string{"--engine", "wasmtime", "--pre-initialize"}, true},
	} {
		fs := flag.NewFlagSet("worker", flag.ContinueOnError)
		wf := addWorkerFlags(fs, "")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := wf.config(&env{}, "")
		if err != nil || cfg.Engine.PreInitialize != tt.want {
			t.Fatalf("%v: pre-initialize %v, %v; want %v", tt.args, cfg.Engine.PreInitialize, err, tt.want)
		}
	}
}
