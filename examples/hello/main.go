// Command hello is the smallest Nanoedge handler: an ordinary net/http
// handler registered with the guest SDK.
package main

import (
	"fmt"
	"net/http"

	"github.com/nanoedge/nanoedge/sdk/guest"
)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Hello from Nanoedge! You asked for %s\n", r.URL.Path)
	})
}

func main() {}
