package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/internal/cli"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

// TestThousandWorkers: 1,000 workers (ten tokens) each report 100 route
// versions, 25 MiB of telemetry in all; status, top, the workers list and
// the dashboard keep answering.
func TestThousandWorkers(t *testing.T) {
	const tokens, perToken, routes = 10, 100, 100
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.DashboardAddr = "127.0.0.1:0"
	env := testenv.Start(t, cfg)
	ctx := ctxT(t)
	hello := env.Upload(t, "hello", guests.Hello).Module
	for i := 0; i < routes; i++ {
		if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: fmt.Sprintf("/route-%03d/%s", i, strings.Repeat("p", 60)), Module: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	report := func(id string, n int64) *registryv1.WorkerReport {
		r := &registryv1.WorkerReport{WorkerId: id, HttpAddr: "10.0.0.1:8080", Started: timestamppb.New(time.Unix(1_700_000_000, 0))}
		for i := 0; i < routes; i++ {
			b := make([]int64, len(latency.BoundsMS)+1)
			b[2] = n
			r.Versions = append(r.Versions, &registryv1.VersionStats{PathPrefix: fmt.Sprintf("/route-%03d/%s", i, strings.Repeat("p", 60)),
				ModuleDigest: hello.Digest, Requests: n, Successes: n, LatencyBuckets: b})
		}
		return r
	}
	var wg sync.WaitGroup
	errs := make(chan error, tokens)
	for tk := 0; tk < tokens; tk++ {
		c := testenv.NewClient(t, env.CP.Addr(), env.Token(t, fmt.Sprintf("edge-%d", tk), registryv1.Role_ROLE_WORKER))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := int64(1); round <= 2; round++ { // a baseline, then a second of traffic
				for w := 0; w < perToken; w++ {
					if err := c.Report(ctx, report(fmt.Sprintf("w%03d", w), 10*round)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	workers, err := env.Admin.Workers(ctx)
	if err != nil || len(workers) != tokens*perToken {
		t.Fatalf("workers: %d, %v", len(workers), err)
	}
	traffic, err := env.Admin.Traffic(ctx, 10*time.Second)
	if err != nil || len(traffic) != routes || traffic[0].Workers != tokens*perToken {
		t.Fatalf("traffic: %d versions (%v), %v", len(traffic), traffic[:min(1, len(traffic))], err)
	}
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		args = append(args, "--controlplane", env.CP.Addr(), "--token", env.AdminToken)
		if code := cli.MainContext(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	if out := run("status"); !strings.Contains(out, fmt.Sprintf("(%d workers reporting)", tokens*perToken)) {
		t.Fatalf("status: %s", out[max(0, len(out)-300):])
	}
	if out := run("top", "--once"); strings.Count(out, "/route-") != routes {
		t.Fatalf("top lists %d routes:\n%s", strings.Count(out, "/route-"), out)
	}
	req, _ := http.NewRequest("GET", env.CP.DashboardURL()+"api/overview", nil)
	req.Header.Set("Authorization", "Bearer "+env.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ov struct {
		Workers      []json.RawMessage `json:"workers"`
		WorkersTotal int               `json:"workers_total"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &ov) != nil || ov.WorkersTotal != tokens*perToken || len(ov.Workers) == 0 || len(ov.Workers) > 200 {
		t.Fatalf("dashboard: %d, %d of %d workers (%d bytes)", resp.StatusCode, len(ov.Workers), ov.WorkersTotal, len(body))
	}
}
