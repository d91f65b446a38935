package systemtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestPrewarmOnUpload: a worker compiles a module as soon as it is
// uploaded, before any route names it, and routing it then uses that work.
func TestPrewarmOnUpload(t *testing.T) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	poll.Eventually(t, time.Minute, func() error {
		if !w.Synced() {
			return errors.New("not synced")
		}
		return nil
	})
	echo := env.Upload(t, "echo", guests.Echo).Module
	poll.Eventually(t, loadTimeout, func() error {
		if !slices.Contains(w.Prewarmed(), echo.Digest) {
			return errors.New("echo not pre-warmed yet")
		}
		return nil
	})
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/e/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/e/", func(r response) bool { return r.status == 200 })
	if slices.Contains(w.Prewarmed(), echo.Digest) {
		t.Fatal("routing the module did not take the pre-warmed compile")
	}
}
