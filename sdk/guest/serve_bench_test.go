package guest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

// BenchmarkServe measures the guest side of one request natively: decode,
// build the *http.Request, run a handler, encode the response. In a module
// the same code runs several times slower, so its allocations matter.
func BenchmarkServe(b *testing.B) {
	in := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/hello?name=x", Host: "127.0.0.1:8080", RemoteAddr: "127.0.0.1:5555",
		Header: http.Header{"User-Agent": {"Go-http-client/1.1"}, "Accept-Encoding": {"gzip"}, "X-Request-Id": {"0123456789abcdef"}}})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Hello! You asked for %s\n", r.URL.Path)
	})
	var out []byte
	var w responseWriter
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out = serve(h, in, out, &w)
	}
}
