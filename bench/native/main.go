// Command native serves bench/handlers with net/http, configured as a
// worker's HTTP server is: the baseline the external benchmark compares
// a worker with.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/nanoedge/nanoedge/bench/handlers"
	"github.com/nanoedge/nanoedge/dataplane"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to serve on; the chosen one is printed")
	flag.Parse()
	// The worker's outbound transport keeps 64 idle connections per
	// origin; so does the baseline's, or /backend under load would churn
	// connections where the worker reuses them.
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 64
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "native:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	srv := dataplane.DefaultConfig().HTTPServer(handlers.Mux())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "native:", err)
		os.Exit(1)
	}
}
