// Command misbehave does, by the last element of the path, what a broken
// or hostile handler does; "count" reports how many requests the instance
// has served. Every other path answers "ok".
package main

import (
	"fmt"
	"net/http"
	"os"
	"path"
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
		case "stdout":
			fmt.Println("misbehave: a line on stdout")
			fmt.Fprintln(os.Stderr, "misbehave: a line on stderr")
		}
		fmt.Fprintln(w, "ok")
	})
}

func main() {}
