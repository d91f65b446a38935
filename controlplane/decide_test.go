package controlplane

import (
	"testing"

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
