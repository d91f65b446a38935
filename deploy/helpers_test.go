package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// buildNanoedge builds the nanoedge command from this tree into a
// temporary directory and returns that directory.
func buildNanoedge(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "nanoedge"), "../cmd/nanoedge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nanoedge: %v\n%s", err, out)
	}
	return bin
}
