// Command misbehave does, by the last element of the path, what a broken
// or hostile handler does; "count" reports how many requests the instance
// has served. Every other path answers "ok".
package main

import (
	"fmt"
	"io"
	"math/rand/v2"
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
		case "stream": // ?n parts, each flushed, ?sleep ms apart
			n, sleep := 3, 0
			fmt.Sscan(r.URL.Query().Get("n"), &n)
			fmt.Sscan(r.URL.Query().Get("sleep"), &sleep)
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range n {
				if _, err := fmt.Fprintf(w, "data: part %d\n\n", i); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(time.Duration(sleep) * time.Millisecond)
			}
			return
		case "trailer": // a body, then its length as a declared trailer and one set under TrailerPrefix
			w.Header().Set("Trailer", "X-Length")
			n, _ := io.WriteString(w, "a body with trailers\n")
			w.Header().Set("X-Length", fmt.Sprint(n))
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
			return
		case "big": // ?mb MiB in 32 KiB writes, never flushed
			mb := 1
			fmt.Sscan(r.URL.Query().Get("mb"), &mb)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for range mb * 32 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		case "random": // a number from math/rand/v2 and a new map's iteration order
			m := map[int]bool{}
			for i := range 16 {
				m[i] = true
			}
			var order []int
			for k := range m {
				order = append(order, k)
			}
			fmt.Fprintln(w, rand.Uint64(), order)
			return
		case "splitting": // a value that would split the response
			w.Header()["X-Split"] = []string{"a\r\nSet-Cookie: evil=1"}
		}
		fmt.Fprintln(w, "ok")
	})
}

func main() {}
