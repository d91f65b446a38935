package wasishim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

func hostFunc(t *testing.T, name string) *Func { return find(t, Host, name) }

// TestEveryHostFuncIsImportable: what engines offer (Host) and what they
// let a module import (Imports) are the same list.
func TestEveryHostFuncIsImportable(t *testing.T) {
	for _, name := range []string{abi.ImportFlag, abi.ImportKVGet, abi.ImportHTTPSend, abi.ImportHTTPHead, abi.ImportHTTPRead,
		abi.ImportHTTPClose, abi.ImportHTTPError, abi.ImportResponseStart, abi.ImportResponseWrite, abi.ImportResponseTrailers} {
		if !Importable(abi.ImportModule, name) {
			t.Errorf("%s.%s is not importable", abi.ImportModule, name)
		}
	}
	if len(Host) != 10 {
		t.Errorf("Host has %d functions; the ABI lists 10", len(Host))
	}
}

// okOutbound answers every call with a short body.
type okOutbound struct{}

func (okOutbound) Do(context.Context, *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("hi"))}, nil
}

// TestHostileHTTPCalls: a guest that calls the http_* and response_*
// functions wrongly (bad encodings, handles, order, pointers) gets an
// error code, or a trap for a pointer outside its memory, and the host
// neither panics nor calls out.
func TestHostileHTTPCalls(t *testing.T) {
	mem := make([]byte, 4096)
	req := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "http://origin.test/", Header: http.Header{}})
	copy(mem[1024:], req)
	reqLen := uint64(len(req))
	relative := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/relative", Header: http.Header{}})
	copy(mem[2048:], relative)
	badMethod := abi.AppendRequest(nil, &abi.Request{Method: "G ET", URI: "http://origin.test/", Header: http.Header{}})
	copy(mem[3072:], badMethod)
	far := uint64(1 << 20)
	tests := []struct {
		name string
		args []uint64
		want int32 // 0 with trap
		trap bool
	}{
		{abi.ImportHTTPSend, []uint64{0, 16}, abi.Invalid, false},                       // zeros: not a request
		{abi.ImportHTTPSend, []uint64{1024, reqLen - 1}, abi.Invalid, false},            // truncated
		{abi.ImportHTTPSend, []uint64{2048, uint64(len(relative))}, abi.Invalid, false}, // not absolute
		{abi.ImportHTTPSend, []uint64{3072, uint64(len(badMethod))}, abi.Invalid, false},
		{abi.ImportHTTPSend, []uint64{far, 16}, 0, true},
		{abi.ImportHTTPSend, []uint64{4000, 1 << 30}, 0, true},
		{abi.ImportHTTPHead, []uint64{7, 0, 64}, abi.Invalid, false},
		{abi.ImportHTTPHead, []uint64{uint64(uint32(0xffffffff)), 0, 64}, abi.Invalid, false},
		{abi.ImportHTTPRead, []uint64{7, 0, 64}, abi.Invalid, false},
		{abi.ImportHTTPRead, []uint64{1, far, 64}, 0, true},
		{abi.ImportHTTPClose, []uint64{99}, 0, false},
		{abi.ImportHTTPError, []uint64{far, 1 << 20}, 0, true},
		{abi.ImportResponseStart, []uint64{0, 3}, abi.Invalid, false},    // not a response
		{abi.ImportResponseWrite, []uint64{0, 10}, abi.Invalid, false},   // before a start
		{abi.ImportResponseTrailers, []uint64{0, 3}, abi.Invalid, false}, // not a response
		{abi.ImportResponseTrailers, []uint64{far, 10}, 0, true},
		{abi.ImportResponseWrite, []uint64{far, 10}, 0, true},
	}
	for _, tt := range tests {
		call := &engine.Call{Outbound: okOutbound{}, Stream: nil}
		s := &System{Call: call}
		res, err := hostFunc(t, tt.name).CallHost(s, mem, tt.args)
		switch {
		case tt.trap && err == nil:
			t.Errorf("%s%v: answered %d, want a trap", tt.name, tt.args, int32(res))
		case !tt.trap && err != nil:
			t.Errorf("%s%v: trapped: %v", tt.name, tt.args, err)
		case !tt.trap && int32(res) != tt.want:
			t.Errorf("%s%v: answered %d, want %d (%s)", tt.name, tt.args, int32(res), tt.want, call.LastError())
		}
		if call.Response(1) != nil {
			t.Errorf("%s%v: a response is open", tt.name, tt.args)
		}
	}

	// A good send opens handle 1; reading past the end is 0; closing
	// twice is harmless; and without a Stream, response_start says so.
	call := &engine.Call{Outbound: okOutbound{}}
	s := &System{Call: call}
	if h, err := hostFunc(t, abi.ImportHTTPSend).CallHost(s, mem, []uint64{1024, reqLen}); err != nil || h != 1 {
		t.Fatalf("send: %d %v (%s)", int32(h), err, call.LastError())
	}
	for _, want := range []uint32{2, 0, 0} {
		if n, err := hostFunc(t, abi.ImportHTTPRead).CallHost(s, mem, []uint64{1, 0, 64}); err != nil || n != want {
			t.Fatalf("read: %d %v, want %d", n, err, want)
		}
	}
	head := abi.AppendResponse(nil, &abi.Response{Status: 200, Header: http.Header{}})
	copy(mem[512:], head)
	if res, _ := hostFunc(t, abi.ImportResponseStart).CallHost(s, mem, []uint64{512, uint64(len(head))}); int32(res) != abi.Unsupported {
		t.Fatalf("response_start without a Stream: %d", int32(res))
	}
	call.End()
	if call.Response(1) != nil {
		t.Fatal("End left a response open")
	}
	// Too many responses open at once is a limit, not a leak.
	for i := range engine.MaxOpenResponses + 1 {
		h, _ := hostFunc(t, abi.ImportHTTPSend).CallHost(s, mem, []uint64{1024, reqLen})
		if i == engine.MaxOpenResponses {
			if int32(h) != abi.Limited || !strings.Contains(call.LastError(), "too many outbound responses open") {
				t.Fatalf("response %d: %d (%s)", i+1, int32(h), call.LastError())
			}
		}
	}
	call.End()
	refused := &engine.Call{}
	if h, _ := hostFunc(t, abi.ImportHTTPSend).CallHost(&System{Call: refused}, mem, []uint64{1024, reqLen}); int32(h) != abi.Refused ||
		!strings.Contains(refused.LastError(), "outbound call refused") {
		t.Fatalf("send without Outbound: %d (%s)", int32(h), refused.LastError())
	}
}
