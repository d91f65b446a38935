package controlplane

import (
	"testing"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func report(worker string, requests, errors int64) *registryv1.WorkerReport {
	return &registryv1.WorkerReport{WorkerId: worker, Versions: []*registryv1.VersionStats{{
		PathPrefix: "/api/", ModuleDigest: "sha256:aa", Requests: requests, ServerErrors: errors,
		LatencyBuckets: []int64{requests},
	}}}
}

func TestTrafficWindow(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		reports []func(*traffic)
		window  time.Duration
		now     time.Time
		want    int64 // requests in the window
		errors  int64
		workers int
	}{
		{"first report is only a baseline", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 500, 5), at(0)) },
		}, 10 * time.Second, at(0), 0, 0, 0},
		{"deltas of cumulative counters", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 500, 5), at(0)) },
			func(tr *traffic) { observe(tr, report("w1", 600, 6), at(1)) },
			func(tr *traffic) { observe(tr, report("w1", 650, 9), at(2)) },
		}, 10 * time.Second, at(2), 150, 4, 1},
		{"workers add up", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 0, 0), at(0)) },
			func(tr *traffic) { observe(tr, report("w2", 0, 0), at(0)) },
			func(tr *traffic) { observe(tr, report("w1", 30, 0), at(1)) },
			func(tr *traffic) { observe(tr, report("w2", 70, 1), at(1)) },
		}, 10 * time.Second, at(1), 100, 1, 2},
		{"a restarted worker's counters are all new", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 900, 0), at(0)) },
			func(tr *traffic) { observe(tr, report("w1", 40, 2), at(1)) },
		}, 10 * time.Second, at(1), 40, 2, 1},
		{"old seconds fall out of the window", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 0, 0), at(0)) },
			func(tr *traffic) { observe(tr, report("w1", 100, 0), at(1)) },
			func(tr *traffic) { observe(tr, report("w1", 110, 0), at(20)) },
		}, 10 * time.Second, at(20), 10, 0, 1},
		{"a forgotten worker starts from a new baseline", []func(*traffic){
			func(tr *traffic) { observe(tr, report("w1", 0, 0), at(0)) },
			func(tr *traffic) { tr.forget("w1") },
			func(tr *traffic) { observe(tr, report("w1", 300, 0), at(1)) },
		}, 10 * time.Second, at(1), 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr traffic
			for _, r := range tt.reports {
				r(&tr)
			}
			got := tr.window(tt.window, tt.now)[versionKey{"", "/api/", "sha256:aa"}]
			if got == nil {
				got = &delta{}
			}
			if got.requests != tt.want || got.errors != tt.errors || len(got.workers) != tt.workers {
				t.Fatalf("exp %d requests, %d errors, %d workers; got %d, %d, %d", tt.want, tt.errors, tt.workers, got.requests, got.errors, len(got.workers))
			}
		})
	}
}

func observe(tr *traffic, r *registryv1.WorkerReport, at time.Time) { tr.observe(r.WorkerId, r, at) }

// TestTrafficHistory: seconds land in the step that holds them, oldest
// first; seconds past the history are dropped; worker sets are kept only
// for the window.
func TestTrafficHistory(t *testing.T) {
	t0 := time.Unix(2_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var tr traffic
	observe(&tr, report("w1", 0, 0), at(0))
	observe(&tr, report("w1", 100, 10), at(5))   // step (0,10]
	observe(&tr, report("w1", 150, 10), at(10))  // step (0,10]
	observe(&tr, report("w1", 450, 40), at(25))  // step (20,30]
	observe(&tr, report("w1", 1450, 40), at(90)) // step (80,90]
	k := versionKey{"", "/api/", "sha256:aa"}
	steps := tr.history(90*time.Second, 10*time.Second, at(90))[k]
	if len(steps) != 9 {
		t.Fatalf("%d steps, want 9", len(steps))
	}
	want := []int64{150, 0, 300, 0, 0, 0, 0, 0, 1000}
	for i, d := range steps {
		if d.requests != want[i] {
			t.Fatalf("step %d: %d requests, want %d (all: %v)", i, d.requests, want[i], want)
		}
	}
	if steps[2].errors != 30 {
		t.Fatalf("step 2: %d errors, want 30", steps[2].errors)
	}
	// Past the window, a second keeps its counts but not who served them.
	tr.mu.Lock()
	old := tr.seconds[at(5).Unix()][k]
	tr.mu.Unlock()
	if old == nil || old.requests != 100 || old.workers != nil {
		t.Fatalf("a second past the window: %+v", old)
	}
	// Past the history, it is gone.
	observe(&tr, report("w1", 1500, 40), at(5+int(maxTrafficHistory/time.Second)))
	tr.mu.Lock()
	_, kept := tr.seconds[at(5).Unix()]
	tr.mu.Unlock()
	if kept {
		t.Fatal("a second older than the history is still kept")
	}
}
