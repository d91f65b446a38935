package dataplane

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

func TestGuestOutputIsTiedToRequest(t *testing.T) {
	var buf bytes.Buffer
	l := &lineLogger{logger: slog.New(slog.NewTextHandler(&buf, nil)), stream: "stdout"}
	l.request, l.traceID, l.spanID = "req-1", "trace-1", "span-1"
	l.Write([]byte("first line\nsecond "))
	l.request, l.traceID, l.spanID = "req-2", "trace-2", "span-2"
	l.Write([]byte("half\n"))
	l.Write([]byte(strings.Repeat("x", maxLine+10)))
	out := buf.String()
	for _, want := range []string{
		`request=req-1 trace_id=trace-1 span_id=span-1 line="first line"`,
		`request=req-2 trace_id=trace-2 span_id=span-2 line="second half"`,
		`line=` + strings.Repeat("x", 20), // an endless line is cut, not held
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("exp %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Fatalf("exp 3 log lines, got:\n%s", out)
	}
}

// TestInstanceEncodeReusesBuffer: an instance encodes each request in the
// buffer the last one used, exactly as abi.AppendRequest would, and does
// not keep a large one.
func TestInstanceEncodeReusesBuffer(t *testing.T) {
	var inst instance
	requests := []*abi.Request{
		{Method: "POST", URI: "/long/path?q=1", Header: http.Header{"A": {"1", "2"}}, Body: []byte("a body")},
		{Method: "GET", URI: "/", Host: "h"},
		{Method: "PUT", URI: "/big", Body: make([]byte, maxKeptRequest)},
		{Method: "GET", URI: "/after"},
	}
	var kept []byte
	for i, ar := range requests {
		got, done := inst.encode(ar)
		defer done()
		if want := abi.AppendRequest(nil, ar); !bytes.Equal(got, want) {
			t.Fatalf("request %d: encoded differently from abi.AppendRequest", i)
		}
		if i == 1 && &got[0] != &kept[0] {
			t.Fatal("a smaller request did not reuse the buffer")
		}
		if cap(inst.req) > maxKeptRequest {
			t.Fatalf("request %d: kept a %d-byte buffer", i, cap(inst.req))
		}
		kept = got
	}
}

// renewingModule is an engine.Module that counts the instances it makes
// and advises renewal after renew requests.
type renewingModule struct {
	renew int
	made  atomic.Int64
}

func (m *renewingModule) Instantiate(context.Context, engine.InstanceConfig) (engine.Instance, error) {
	m.made.Add(1)
	return nopInstance{}, nil
}
func (m *renewingModule) Close(context.Context) error { return nil }
func (m *renewingModule) RenewAfter() int             { return m.renew }

type nopInstance struct{}

func (nopInstance) Handle(context.Context, []byte) ([]byte, error) { return nil, nil }
func (nopInstance) MemorySize() uint64                             { return 0 }
func (nopInstance) Close(context.Context) error                    { return nil }

// TestPoolRenewsInstances: an instance is replaced after the configured
// number of requests, or, with none configured, the module's advice, or
// else DefaultMaxRequestsPerInstance.
func TestPoolRenewsInstances(t *testing.T) {
	tests := []struct {
		name              string
		configured, renew int
		requests          int
		wantMade          int64
	}{
		{"module's advice", 0, 3, 7, 3},
		{"configured wins", 5, 3, 7, 2},
		{"no advice", 0, 0, 7, 1},
		{"default", 0, 0, DefaultMaxRequestsPerInstance + 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compiled := &renewingModule{renew: tt.renew}
			m := newModule("m", "sha256:00", compiled, 1, tt.configured, 1<<30, slog.New(slog.DiscardHandler))
			for i := 0; i < tt.requests; i++ {
				inst, err := m.acquire(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				m.release(inst, false)
			}
			if got := compiled.made.Load(); got != tt.wantMade {
				t.Fatalf("%d requests made %d instances, exp %d", tt.requests, got, tt.wantMade)
			}
		})
	}
}
