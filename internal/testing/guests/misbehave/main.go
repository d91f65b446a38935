// Command misbehave does, by the last element of the path, what a broken
// or hostile handler does; "count" reports how many requests the instance
// has served. Every other path answers "ok".
package main

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/sdk/guest"
)

var (
	sink   [][]byte
	served int
)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "count": // how many requests this instance has served
			served++
			fmt.Fprintln(w, served)
			return
		case "panic":
			panic("misbehave: asked to panic")
		case "loop":
			for i := 0; ; i++ { // spins without yielding
				if i < 0 {
					break
				}
			}
		case "sleep":
			time.Sleep(time.Hour)
		case "oom":
			for {
				sink = append(sink, make([]byte, 1<<20))
			}
		case "exit":
			os.Exit(3)
		case "wild": // a host call with a pointer outside memory
			fmt.Fprintln(w, wildPointer())
		case "stdout":
			fmt.Println("misbehave: a line on stdout")
			fmt.Fprintln(os.Stderr, "misbehave: a line on stderr")
		case "flood": // 21 MB of log lines in one request
			line := strings.Repeat("x", 1023) + "\n"
			for i := 0; i < 21<<10; i++ {
				os.Stdout.WriteString(line)
			}
		case "framing": // framing and worker headers, in the case a client would not expect
			h := w.Header()
			h["content-length"] = []string{"999"}
			h["transfer-encoding"] = []string{"chunked"}
			h["connection"] = []string{"close"}
			h["x-nanoedge-version"] = []string{"forged"}
			h["X-Request-Id"] = []string{"forged"}
			h["x-custom"] = []string{"kept"}
		case "headers": // more header fields than a worker passes on
			for i := 0; i < 500; i++ {
				w.Header().Add(fmt.Sprintf("X-H%d", i), "v")
			}
		case "splitting": // a value that would split the response
			w.Header()["X-Split"] = []string{"a\r\nSet-Cookie: evil=1"}
		}
		fmt.Fprintln(w, "ok")
	})
}

func main() {}
