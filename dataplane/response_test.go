package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// TestGuestHeader: what a guest's response may carry to the client.
func TestGuestHeader(t *testing.T) {
	many := http.Header{}
	for i := 0; i <= maxGuestHeaderFields; i++ {
		many.Add(fmt.Sprintf("X-H%d", i), "v")
	}
	tests := []struct {
		name   string
		resp   abi.Response
		cors   bool
		want   http.Header // nil: refused as a bad response
		worker http.Header // what the worker set before
	}{
		{"passes ordinary headers", abi.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}}}, false,
			http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}}, nil},
		{"canonicalizes and merges names in any case", abi.Response{Status: 200, Header: http.Header{"x-a": {"1"}, "X-A": {"2"}}}, false,
			http.Header{"X-A": {"1", "2"}}, nil},
		{"drops framing and hop-by-hop headers in any case", abi.Response{Status: 200, Header: http.Header{
			"content-length": {"9"}, "TRANSFER-ENCODING": {"chunked"}, "connection": {"close"}, "Keep-Alive": {"x"}, "upgrade": {"h2c"},
			"te": {"x"}, "trailer": {"X"}, "proxy-authenticate": {"x"}, "X-Kept": {"1"}}}, false,
			http.Header{"X-Kept": {"1"}}, nil},
		{"cannot set the worker's own headers", abi.Response{Status: 200, Header: http.Header{"x-nanoedge-version": {"forged"}, "X-Nanoedge-Host": {"x"}, "x-request-id": {"forged"}}}, false,
			http.Header{"X-Nanoedge-Version": {"hello@sha256:aa"}, "X-Request-Id": {"r1"}},
			http.Header{"X-Nanoedge-Version": {"hello@sha256:aa"}, "X-Request-Id": {"r1"}}},
		{"leaves CORS to the route's policy", abi.Response{Status: 200, Header: http.Header{"access-control-allow-origin": {"*"}, "X-Kept": {"1"}}}, true,
			http.Header{"X-Kept": {"1"}}, nil},
		{"refuses a name HTTP cannot carry", abi.Response{Status: 200, Header: http.Header{"Bad Name": {"1"}}}, false, nil, nil},
		{"refuses a value that splits the response", abi.Response{Status: 200, Header: http.Header{"X-Split": {"a\r\nSet-Cookie: evil=1"}}}, false, nil, nil},
		{"refuses too many fields", abi.Response{Status: 200, Header: many}, false, nil, nil},
		{"refuses too many bytes", abi.Response{Status: 200, Header: http.Header{"X-Big": {strings.Repeat("a", maxGuestHeaderBytes)}}}, false, nil, nil},
		{"refuses informational statuses", abi.Response{Status: 101}, false, nil, nil},
		{"refuses statuses past 599", abi.Response{Status: 600}, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := http.Header{}
			for k, v := range tt.worker {
				dst[k] = v
			}
			err := guestHeader(dst, tt.resp, tt.cors)
			if tt.want == nil {
				if !errors.Is(err, engine.ErrBadResponse) || httpStatus(err) != http.StatusBadGateway {
					t.Fatalf("exp a bad response (502), got %v", err)
				}
				if len(dst) != len(tt.worker) {
					t.Fatalf("a refused header left fields behind: %v", dst)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, vs := range dst { // names merged in map order
				slices.Sort(vs)
			}
			if fmt.Sprint(dst) != fmt.Sprint(tt.want) {
				t.Fatalf("exp %v, got %v", tt.want, dst)
			}
		})
	}
}

// TestGuestOutputBudget: one request logs at most maxRequestOutput bytes;
// the rest is counted, reported once, and the next request starts afresh.
func TestGuestOutputBudget(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	budget := newOutputBudget()
	inst := &instance{stdout: &lineLogger{logger: logger, stream: "stdout", budget: budget}, stderr: &lineLogger{logger: logger, stream: "stderr", budget: budget}}
	inst.setRequest("r1", traceContext{})
	line := strings.Repeat("x", 1023) + "\n"
	for i := 0; i < 1000; i++ { // 1000 KiB, half on each stream
		l := inst.stdout
		if i%2 == 1 {
			l = inst.stderr
		}
		if n, err := l.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("a guest's write must look complete: %d %v", n, err)
		}
	}
	logged := buf.Len()
	dropped := inst.setRequest("r2", traceContext{})
	if want := 1000*1024 - maxRequestOutput; dropped < want-1024 || dropped > want {
		t.Fatalf("dropped %d bytes, want about %d", dropped, want)
	}
	if logged > 2*maxRequestOutput || !strings.Contains(buf.String(), "dropped_bytes=") {
		t.Fatalf("logged %d bytes for a %d budget; the drop report: %v", logged, maxRequestOutput, strings.Contains(buf.String(), "dropped_bytes="))
	}
	inst.stdout.Write([]byte("next request\n"))
	if !strings.Contains(buf.String(), `request=r2 trace_id="" span_id="" line="next request"`) {
		t.Fatalf("the next request's budget did not start afresh:\n%s", buf.String()[max(0, buf.Len()-300):])
	}
}

// TestRetiredVersionsLeaveTheScrape: a version no route serves is left
// out of reports at once and its series are deleted once it is
// forgotten; until then, coming back keeps its counters.
func TestRetiredVersionsLeaveTheScrape(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	w, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mod := &module{name: "m", digest: "sha256:00", version: "m@sha256:00"}
	e := &entry{route: &registryv1.Route{PathPrefix: "/r/"}, mod: mod}
	w.record(e, mod, 200, nil, time.Millisecond, "", &outboundRequest{})
	series := func() int {
		mfs, _ := w.metrics.reg.Gather()
		count := 0
		for _, mf := range mfs {
			if n := mf.GetName(); n == "nanoedge_worker_requests_total" || n == "nanoedge_worker_request_duration_seconds" {
				count += len(mf.GetMetric())
			}
		}
		return count
	}
	if series() == 0 || len(w.report().Versions) != 1 {
		t.Fatal("the served version is not counted")
	}
	now := time.Now()
	w.statsMu.Lock()
	w.retireVersions(nil, now) // no entry serves it any more
	w.statsMu.Unlock()
	if len(w.report().Versions) != 0 || series() == 0 {
		t.Fatalf("a just-retired version: %d reported (want 0), %d series (want kept)", len(w.report().Versions), series())
	}
	w.statsMu.Lock()
	w.retireVersions(nil, now.Add(forgetRetired+time.Second))
	w.statsMu.Unlock()
	if n := series(); n != 0 {
		t.Fatalf("a forgotten version left %d series", n)
	}
}
