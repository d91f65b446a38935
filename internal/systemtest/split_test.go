package systemtest

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestGrayRelease checks how a worker picks versions: weighted split,
// sticky assignment, rules before the split, and pinning with a secret.
func TestGrayRelease(t *testing.T) {
	env := startEnv(t)
	wcfg := env.WorkerConfig()
	wcfg.Worker.PinSecret = "tester-secret"
	w := testenv.StartWorker(t, wcfg)
	hello := env.Upload(t, "hello", guests.Hello).Module
	echo := env.Upload(t, "echo", guests.Echo).Module
	ctx := ctxT(t)
	split := []*registryv1.VersionSpec{{Module: "hello", Weight: 70}, {Module: "echo", Weight: 30}}
	routes := []client.Route{
		{PathPrefix: "/split/", Versions: split},
		{PathPrefix: "/sticky/", Versions: split, StickyKey: "header:X-User"},
		{PathPrefix: "/rules/", Versions: split, Rules: []*registryv1.RuleSpec{
			{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: "X-Beta", Pattern: "^on$", Module: "echo"},
			{Kind: registryv1.MatchKind_MATCH_KIND_USER_AGENT, Pattern: "Mobile", Module: "hello"},
			{Kind: registryv1.MatchKind_MATCH_KIND_COOKIE, Name: "plan", Pattern: "^pro$", Module: "echo"},
			{Kind: registryv1.MatchKind_MATCH_KIND_QUERY, Name: "canary", Pattern: "", Module: "echo"},
		}},
	}
	for _, r := range routes {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	helloV, echoV := "hello@"+hello.Digest[:19], "echo@"+echo.Digest[:19]
	waitServed(t, w.URL()+"/rules/x", func(r response) bool { return r.status == 200 })

	version := func(path string, hdr http.Header) string {
		req, _ := http.NewRequest("GET", w.URL()+path, nil)
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		r, err := do(req)
		if err != nil || r.status != 200 {
			t.Fatalf("GET %s: %v %d", path, err, r.status)
		}
		return r.header.Get("X-Nanoedge-Version")
	}

	t.Run("weighted split", func(t *testing.T) {
		const n = 10000
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/8; i++ {
					v := version("/split/x", nil)
					mu.Lock()
					counts[v]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		share := 100 * float64(counts[echoV]) / n
		if math.Abs(share-30) > 2 || counts[helloV]+counts[echoV] != n {
			t.Fatalf("exp echo within 2 points of 30%%, got %.2f%% (%v)", share, counts)
		}
		t.Logf("10000 requests: %v (echo %.2f%%)", counts, share)
	})

	t.Run("sticky", func(t *testing.T) {
		seen := map[string]int{}
		for u := 0; u < 200; u++ {
			user := http.Header{"X-User": {fmt.Sprintf("user-%d", u)}}
			first := version("/sticky/a", user)
			seen[first]++
			for i := 0; i < 5; i++ {
				if v := version("/sticky/b", user); v != first {
					t.Fatalf("user-%d flipped from %s to %s", u, first, v)
				}
			}
		}
		if seen[helloV] == 0 || seen[echoV] == 0 {
			t.Fatalf("exp users on both versions, got %v", seen)
		}
	})

	t.Run("rules", func(t *testing.T) {
		tests := []struct {
			name string
			path string
			hdr  http.Header
			want string
		}{
			{"header", "/rules/x", http.Header{"X-Beta": {"on"}}, echoV},
			{"header first beats user agent", "/rules/x", http.Header{"X-Beta": {"on"}, "User-Agent": {"Mobile Safari"}}, echoV},
			{"user agent", "/rules/x", http.Header{"User-Agent": {"Mobile Safari"}, "Cookie": {"plan=pro"}}, helloV},
			{"cookie", "/rules/x", http.Header{"Cookie": {"plan=pro"}}, echoV},
			{"query presence", "/rules/x?canary", nil, echoV},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for i := 0; i < 20; i++ { // rules are not left to chance
					if v := version(tt.path, tt.hdr); v != tt.want {
						t.Fatalf("exp %s, got %s", tt.want, v)
					}
				}
			})
		}
	})

	t.Run("pin", func(t *testing.T) {
		pin := func(secret string) http.Header {
			return http.Header{"X-Nanoedge-Pin": {secret + ":" + strings.TrimPrefix(echo.Digest, "sha256:")[:12]}}
		}
		for i := 0; i < 30; i++ {
			if v := version("/split/x", pin("tester-secret")); v != echoV {
				t.Fatalf("pinned request served by %s", v)
			}
		}
		counts := map[string]int{}
		for i := 0; i < 60; i++ {
			counts[version("/split/x", pin("guess"))]++
		}
		if counts[helloV] == 0 {
			t.Fatalf("a wrong secret pinned anyway: %v", counts)
		}
	})

	t.Run("feature flag", func(t *testing.T) {
		flagRule := []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_FLAG, Name: "new-checkout", Module: "echo"}}
		_, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/flagged/", Module: "hello", Rules: flagRule})
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "new-checkout") {
			t.Fatalf("route following a missing flag: exp NotFound naming it, got %v", err)
		}
		if _, _, err := env.Publisher.SetFlag(ctx, "new-checkout", false, "the new checkout flow"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/flagged/", Module: "hello", Rules: flagRule}); err != nil {
			t.Fatal(err)
		}
		// Every request follows the flag, whatever its headers.
		expectAll := func(want string) {
			t.Helper()
			waitServed(t, w.URL()+"/flagged/x", func(r response) bool { return r.header.Get("X-Nanoedge-Version") == want })
			for i := 0; i < 30; i++ {
				if v := version("/flagged/x", http.Header{"X-User": {fmt.Sprint(i)}}); v != want {
					t.Fatalf("request %d: exp %s, got %s", i, want, v)
				}
			}
		}
		expectAll(helloV)
		f, _, err := env.Publisher.SetFlag(ctx, "new-checkout", true, "")
		if err != nil {
			t.Fatal(err)
		}
		if !f.Enabled || f.Description != "the new checkout flow" {
			t.Fatalf("flipped flag: %v", f)
		}
		expectAll(echoV)
		if _, _, err := env.Publisher.SetFlag(ctx, "new-checkout", false, ""); err != nil {
			t.Fatal(err)
		}
		expectAll(helloV)
		if _, err := env.Publisher.DeleteFlag(ctx, "new-checkout"); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "/flagged/") {
			t.Fatalf("deleting a flag a route follows: exp FailedPrecondition naming the route, got %v", err)
		}
		flags, _, err := env.Publisher.ListFlags(ctx)
		if err != nil || len(flags) != 1 || flags[0].Name != "new-checkout" {
			t.Fatalf("flags after a refused delete: %v %v", flags, err)
		}
	})
}
