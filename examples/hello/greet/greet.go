// Package greet is the hello example's handler, kept apart from main so the
// benchmarks can run the very same handler natively.
package greet

import (
	"fmt"
	"net/http"
)

// Handler answers with a greeting naming the requested path.
func Handler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello from Nanoedge! You asked for %s\n", r.URL.Path)
}
