// Command page serves an application's HTML page, for the browser host's
// tests: a page on the worker's origin that can register the Service
// Worker.
package main

import (
	"fmt"
	"net/http"

	"github.com/nanoedge/nanoedge/sdk/guest"
)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nanoedge app</title></head>
<body><h1>An application served by Nanoedge</h1></body></html>
`)
	})
}

func main() {}
