// Command flaky answers like a canary with a bug: every fifth request of an
// instance fails with 500, the rest succeed.
package main

import (
	"fmt"
	"net/http"

	"github.com/nanoedge/nanoedge/sdk/guest"
)

var served int

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		if served%5 == 0 {
			http.Error(w, "flaky: failing one request in five", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "flaky: ok")
	})
}

func main() {}
