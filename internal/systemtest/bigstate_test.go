//go:build !race

// The race detector makes the 10,000 writes take minutes; the test is
// about sizes, not races, and make test runs it without -race.

package systemtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// maximalRoute is route i at close to the largest size the registry
// accepts (registry.LimitRouteBytes): a long path and full CORS lists.
func maximalRoute(i int, module string) client.Route {
	c := &registryv1.CorsPolicy{}
	for j := 0; j < registry.LimitCorsList.Max; j++ {
		c.AllowOrigins = append(c.AllowOrigins, fmt.Sprintf("https://%03d-%s.example", j, strings.Repeat("o", 80)))
		c.AllowHeaders = append(c.AllowHeaders, fmt.Sprintf("X-%03d-%s", j, strings.Repeat("h", 110)))
		c.ExposeHeaders = append(c.ExposeHeaders, fmt.Sprintf("X-%03d-%s", j, strings.Repeat("e", 110)))
		c.AllowMethods = append(c.AllowMethods, fmt.Sprintf("M%03d%s", j, strings.Repeat("M", 90)))
	}
	return client.Route{PathPrefix: fmt.Sprintf("/%05d/%s", i, strings.Repeat("p", 1000)), Module: module, Options: &registryv1.RouteOptions{Cors: c}}
}

// TestMaximalStateSyncsToAFreshWorker: 10,000 routes of about the largest
// size the limits allow (150 MiB of routes, far past gRPC's 4 MiB message
// limit) list in pages and sync to a worker started after them, which
// then serves them and follows a change.
func TestMaximalStateSyncsToAFreshWorker(t *testing.T) {
	const n = 10000
	env := startEnv(t)
	ctx := ctxT(t)
	hello := env.Upload(t, "hello", guests.Hello).Module
	ref := "hello@" + hello.Digest
	if size := proto.Size(&registryv1.Route{PathPrefix: maximalRoute(0, ref).PathPrefix, ModuleName: "hello", ModuleDigest: hello.Digest, Options: maximalRoute(0, ref).Options}); size < registry.LimitRouteBytes.Max*9/10 {
		t.Fatalf("a route of %d bytes is not near the limit of %d", size, registry.LimitRouteBytes.Max)
	}
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, _, err := env.Publisher.SetRoute(ctx, maximalRoute(i, ref)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d maximal routes written in %v", n, time.Since(start).Round(time.Millisecond))
	routes, rev, err := env.Admin.ListRoutes(ctx)
	if err != nil || len(routes) != n {
		t.Fatalf("list: %d routes, %v", len(routes), err)
	}

	start = time.Now()
	w := testenv.StartWorker(t, env.WorkerConfig())
	poll.Eventually(t, loadTimeout, func() error {
		if err := w.Ready(); err != nil {
			return err
		}
		if got := w.Revision(); got < rev {
			return fmt.Errorf("worker at revision %d of %d", got, rev)
		}
		return nil
	})
	t.Logf("a fresh worker synced %d routes in %v", n, time.Since(start).Round(time.Millisecond))
	for _, i := range []int{0, 4242, n - 1} {
		if r := get(t, w.URL()+maximalRoute(i, ref).PathPrefix+"/x"); r.status != 200 {
			t.Fatalf("route %d: %d %q", i, r.status, r.body)
		}
	}
	// It follows changes after the sync.
	if _, err := env.Publisher.DeleteRoute(ctx, "", maximalRoute(7, ref).PathPrefix); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+maximalRoute(7, ref).PathPrefix+"/x", func(r response) bool { return r.status == 404 })
}
