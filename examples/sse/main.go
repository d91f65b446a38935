// Command sse sends server-sent events: a counter ticking every
// INTERVAL (a variable, default 1s), ?n events (default 5), each flushed
// to the client as it is written. Browsers read it with EventSource.
//
//	nanoedge push ./examples/sse
//	nanoedge route set --path /events --module sse
//	curl -N localhost:8080/events?n=3
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/nanoedge/nanoedge/sdk/guest"
)

func init() { guest.HandleFunc(events) }

func events(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 || n > 1000 {
		n = 5
	}
	interval, err := time.ParseDuration(os.Getenv("INTERVAL"))
	if err != nil || interval <= 0 {
		interval = time.Second
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= n; i++ {
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"tick\":%d}\n\n", i, i); err != nil {
			return // the client is gone
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if i < n {
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
	}
}

func main() {}
