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
		// The smallest policy sdk/browser/README.md says the browser host
		// needs: nothing inline, scripts and the Service Worker from the
		// page's own origin.
		w.Header().Set("Content-Security-Policy", CSP)
		fmt.Fprint(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nanoedge app</title></head>
<body><h1>An application served by Nanoedge</h1></body></html>
`)
	})
}

// CSP is the page's Content-Security-Policy.
const CSP = "default-src 'self'; script-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

func main() {}
