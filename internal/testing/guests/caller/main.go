// Command caller calls out over HTTP through its worker (sdk/guest/fetch),
// by the last element of the path: "fetch" GETs ?url, ?n times, and
// answers the last status (X-Fetched-Status) and body, or the error
// (502); "stream" writes ?n parts, flushing each, and after each but the
// last GETs ?gate, saying in the next part how that went. It is apart
// from misbehave because net/http's client doubles a module's size.
package main

import (
	"fmt"
	"io"
	"net/http"
	"path"

	"github.com/nanoedge/nanoedge/sdk/guest"
	_ "github.com/nanoedge/nanoedge/sdk/guest/fetch" // net/http calls out through the worker
)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch path.Base(r.URL.Path) {
		case "fetch":
			n := 1
			fmt.Sscan(q.Get("n"), &n)
			var body []byte
			status := 0
			for range n {
				resp, err := http.Get(q.Get("url"))
				if err != nil {
					http.Error(w, "fetch: "+err.Error(), http.StatusBadGateway)
					return
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					http.Error(w, "fetch body: "+err.Error(), http.StatusBadGateway)
					return
				}
				status = resp.StatusCode
			}
			w.Header().Set("X-Fetched-Status", fmt.Sprint(status))
			w.Write(body)
		case "stream":
			n := 3
			fmt.Sscan(q.Get("n"), &n)
			w.Header().Set("Content-Type", "text/event-stream")
			gated := ""
			for i := range n {
				if _, err := fmt.Fprintf(w, "data: part %d%s\n\n", i, gated); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				if i < n-1 {
					gated = " (gate: failed)"
					if resp, err := http.Get(q.Get("gate")); err == nil {
						resp.Body.Close()
						gated = " (gate: " + resp.Status + ")"
					}
				}
			}
		default:
			fmt.Fprintln(w, "ok")
		}
	})
}

func main() {}
