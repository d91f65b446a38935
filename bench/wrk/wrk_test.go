package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// TestHarness runs one short round of two cases end to end, so the
// harness behind docs/benchmarks.md keeps working: it builds both
// servers, drives them with wrk and reads wrk's, /proc's and its own
// figures into a table row per case.
func TestHarness(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is not installed (scripts/test-deps.sh installs it)")
	}
	var out bytes.Buffer
	o := options{rounds: 1, threads: 1, conns: 2, duration: time.Second, engine: "wazero", cases: "min,upload", latency: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"min", "upload"} {
		row := regexp.MustCompile(`(?m)^\| ` + c + ` \| \d+-\d+ \(median \d+\) \| \d+-\d+ \(median \d+\) \| [0-9.]+x-[0-9.]+x \(median [0-9.]+x\) \| \d+ µs \| \d+ µs \| .+ / .+ \| .+ at \d+/s \|$`)
		if !row.Match(out.Bytes()) {
			t.Fatalf("no row for %s in:\n%s", c, out.String())
		}
	}
}
