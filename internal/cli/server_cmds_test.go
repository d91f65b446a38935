package cli

import (
	"flag"
	"io"
	"runtime"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane"
)

// TestWorkerFlagsSetThePool: the pool's settings reach the worker's
// config, and left unset they keep its defaults.
func TestWorkerFlagsSetThePool(t *testing.T) {
	tests := []struct {
		args                []string
		instances, requests int
		recycle             uint64
	}{
		{nil, 2 * runtime.GOMAXPROCS(0), 0, 64 << 20},
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
	if d := dataplane.DefaultConfig(); d.MaxInstances != 2*runtime.GOMAXPROCS(0) || d.RecycleMemory != 64<<20 {
		t.Fatalf("the flags' defaults no longer match dataplane.DefaultConfig: %+v", d)
	}
}
