package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
)

// TestDevWatch is the inner loop: 'dev --watch' serves a scaffolded
// handler, serves the new code after a save, and keeps serving the last
// good build when a save does not compile, saying why.
func TestDevWatch(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "greeter")
	if code, _, errOut := run("new", "go", app, "--sdk", guests.Root()); code != 0 {
		t.Fatalf("new: %s", errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- MainContext(ctx, []string{"dev", "--watch", app, "--data-dir", filepath.Join(dir, "state"), "--grpc-addr", "127.0.0.1:0",
			"--raft-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--dashboard-addr", ""}, out, errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("dev exited %d: %s", code, errOut.String())
		}
	})
	serving := regexp.MustCompile(`serving greeter@sha256:[0-9a-f]{12} at (http://\S+/greeter/)`)
	var url string
	poll.Eventually(t, 3*time.Minute, func() error {
		if m := serving.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return nil
		}
		return fmt.Errorf("no 'serving' line yet:\n%s\n%s", out.String(), errOut.String())
	})
	body := func() string {
		resp, err := http.Get(url + "x")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		if b := body(); !strings.HasPrefix(b, "Hello from greeter!") {
			return fmt.Errorf("GET: %q", b)
		}
		return nil
	})

	edit := func(from, to string) time.Time {
		t.Helper()
		main := filepath.Join(app, "main.go")
		src, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(main, []byte(strings.Replace(string(src), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	saved := edit("Hello from", "Howdy from")
	poll.Eventually(t, 3*time.Minute, func() error {
		if b := body(); !strings.HasPrefix(b, "Howdy from greeter!") {
			return fmt.Errorf("after the save: %q", b)
		}
		return nil
	})
	t.Logf("a save reached the worker in %v (build included)", time.Since(saved).Round(time.Millisecond))

	before := strings.Count(out.String(), "\n")
	edit("func main() {}", "func main() { this does not compile }")
	poll.Eventually(t, 3*time.Minute, func() error {
		if s := out.String(); strings.Count(s, "\n") == before || !strings.Contains(s, "build failed, still serving the last good build") {
			return fmt.Errorf("no build error reported yet:\n%s", s)
		}
		return nil
	})
	if b := body(); !strings.HasPrefix(b, "Howdy from greeter!") {
		t.Fatalf("a broken save took the handler down: %q", b)
	}
}
