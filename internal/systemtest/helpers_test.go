package systemtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
)

// loadTimeout allows a cold compile of a Go module under the race detector
// on a busy machine; waits return as soon as the condition holds.
const loadTimeout = 3 * time.Minute

func startEnv(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	t.Cleanup(cancel)
	return ctx
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(req *http.Request) (response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, err
}

func get(t testing.TB, url string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	r, err := do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// waitServed polls url until its response satisfies ok.
func waitServed(t testing.TB, url string, ok func(response) bool) response {
	t.Helper()
	var last response
	poll.Eventually(t, loadTimeout, func() error {
		req, _ := http.NewRequest("GET", url, nil)
		r, err := do(req)
		if err != nil {
			return err
		}
		last = r
		if !ok(r) {
			return fmt.Errorf("GET %s: %d %q", url, r.status, r.body)
		}
		return nil
	})
	return last
}
