// Command proxy is an edge proxy in front of an origin: it passes
// requests under BASE_PATH through to ORIGIN (both variables), with the
// base path stripped and the old API path /v1/ rewritten to /v2/, adds
// X-Edge to what the origin sees and X-Served-By to what the client
// sees, and streams the origin's answer back as it comes. The route must
// allow the origin, or the worker refuses the call (502).
//
//	nanoedge push ./examples/proxy
//	nanoedge route set --path /shop/ --module proxy --allow-outbound https://origin.example.com
//	nanoedge vars set proxy ORIGIN=https://origin.example.com BASE_PATH=/shop/
//	curl -i localhost:8080/shop/v1/items
package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"

	"github.com/nanoedge/nanoedge/sdk/guest"
	_ "github.com/nanoedge/nanoedge/sdk/guest/fetch" // net/http calls out through the worker
)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy().ServeHTTP(w, r)
	})
}

// proxy is built for each request from the variables, which a new
// configuration revision may change between requests.
func proxy() http.Handler {
	origin, err := url.Parse(os.Getenv("ORIGIN"))
	if err != nil || origin.Scheme == "" || origin.Host == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "proxy: set ORIGIN to the origin's URL (nanoedge vars set proxy ORIGIN=https://...)", http.StatusServiceUnavailable)
		})
	}
	base := os.Getenv("BASE_PATH")
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			path := "/" + strings.TrimPrefix(strings.TrimPrefix(pr.In.URL.Path, strings.TrimSuffix(base, "/")), "/")
			if rest, ok := strings.CutPrefix(path, "/v1/"); ok {
				path = "/v2/" + rest
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = strings.TrimSuffix(origin.Path, "/")+path, ""
			pr.Out.Header.Set("X-Edge", "nanoedge")
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-Served-By", "nanoedge-proxy")
			return nil
		},
		FlushInterval: -1, // pass a streaming origin's parts on at once
	}
}

func main() {}
