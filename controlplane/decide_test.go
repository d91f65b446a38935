package controlplane

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

func totals(requests, errors int64) versionTotals {
	b := make([]int64, len(latency.BoundsMS)+1)
	b[0] = requests
	return versionTotals{requests: requests, errors: errors, buckets: b}
}

// TestDecide: a step's verdict stands only if it holds with any one
// token's reports left out.
func TestDecide(t *testing.T) {
	ro := &registryv1.Rollout{MaxErrorRate: 0.05}
	tests := []struct {
		name    string
		byToken map[string]versionTotals
		want    verdict
		held    bool
	}{
		{"too few requests", map[string]versionTotals{"a": totals(5, 0)}, undecided, false},
		{"one token is trusted: healthy", map[string]versionTotals{"a": totals(100, 1)}, healthy, false},
		{"one token is trusted: failing", map[string]versionTotals{"a": totals(100, 50)}, failing, false},
		{"tokens agree: healthy", map[string]versionTotals{"a": totals(100, 0), "b": totals(100, 1)}, healthy, false},
		{"tokens agree: failing", map[string]versionTotals{"a": totals(100, 20), "b": totals(100, 30)}, failing, false},
		{"a forger's errors hold a healthy step", map[string]versionTotals{"a": totals(100, 0), "forger": totals(10000, 10000)}, undecided, true},
		{"a forger's successes hold a failing step", map[string]versionTotals{"a": totals(100, 20), "forger": totals(10000, 0)}, undecided, true},
		{"a forger alone among silent workers holds", map[string]versionTotals{"a": {}, "forger": totals(1000, 1000)}, undecided, true},
		{"a forger among many is outweighed", map[string]versionTotals{"a": totals(100, 0), "b": totals(100, 0), "c": totals(100, 0), "forger": totals(30, 10)}, healthy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, held := decide(ro, tt.byToken)
			if v != tt.want || (held != "") != tt.held {
				t.Fatalf("exp %v (held %v), got %v (held %q)", tt.want, tt.held, v, held)
			}
		})
	}
}

// TestForgerAloneOnARouteIsNotAFleetOfOne: a token whose workers alone
// have reported the route yet (the others' next reports not in) cannot
// decide a rollout as if it were the whole fleet.
func TestForgerAloneOnARouteIsNotAFleetOfOne(t *testing.T) {
	var f fleet
	now := time.Now()
	started := timestamppb.New(now.Add(-time.Minute))
	if err := f.report("real/w1", "real", &registryv1.WorkerReport{WorkerId: "w1", Started: started}, now, 10, 10); err != nil {
		t.Fatal(err)
	}
	buckets := make([]int64, len(latency.BoundsMS)+1)
	buckets[0] = 1000
	forged := &registryv1.WorkerReport{WorkerId: "w2", Started: started, Versions: []*registryv1.VersionStats{{
		PathPrefix: "/app/", ModuleDigest: "sha256:canary", Requests: 1000, ServerErrors: 1000, LatencyBuckets: buckets}}}
	if err := f.report("forger/w2", "forger", forged, now, 10, 10); err != nil {
		t.Fatal(err)
	}
	byToken := f.totalsByToken("", "/app/", "sha256:canary")
	if _, ok := byToken["real"]; !ok || len(byToken) != 2 {
		t.Fatalf("exp both tokens counted, got %v", byToken)
	}
	if v, _, held := decide(&registryv1.Rollout{MaxErrorRate: 0.05}, byToken); v != undecided || held == "" {
		t.Fatalf("exp the forger's verdict held, got %v (held %q)", v, held)
	}
}
