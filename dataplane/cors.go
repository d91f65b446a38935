package dataplane

import (
	"net/http"
	"strconv"
	"strings"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// cors is a route's compiled CorsPolicy. The worker answers preflights
// itself and owns the CORS headers of every response on the route.
type cors struct {
	anyOrigin   bool
	origins     map[string]bool
	methods     map[string]bool
	methodList  string
	anyHeader   bool
	headers     map[string]bool // canonical names
	expose      string
	credentials bool
	maxAge      string
}

var defaultCorsMethods = []string{"GET", "HEAD", "POST"}

func newCors(p *registryv1.CorsPolicy) *cors {
	if p == nil {
		return nil
	}
	c := &cors{origins: map[string]bool{}, methods: map[string]bool{}, headers: map[string]bool{},
		expose: strings.Join(p.ExposeHeaders, ", "), credentials: p.AllowCredentials}
	for _, o := range p.AllowOrigins {
		c.anyOrigin = c.anyOrigin || o == "*"
		c.origins[o] = true
	}
	methods := p.AllowMethods
	if len(methods) == 0 {
		methods = defaultCorsMethods
	}
	for _, m := range methods {
		c.methods[strings.ToUpper(m)] = true
	}
	c.methodList = strings.ToUpper(strings.Join(methods, ", "))
	for _, h := range p.AllowHeaders {
		c.anyHeader = c.anyHeader || h == "*"
		c.headers[http.CanonicalHeaderKey(h)] = true
	}
	if p.MaxAgeSeconds > 0 {
		c.maxAge = strconv.FormatInt(p.MaxAgeSeconds, 10)
	}
	return c
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// allowOrigin sets the origin headers when origin is allowed.
func (c *cors) allowOrigin(h http.Header, origin string) bool {
	h.Add("Vary", "Origin")
	if origin == "" || !(c.anyOrigin || c.origins[origin]) {
		return false
	}
	if c.anyOrigin && !c.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	return true
}

// preflight answers a CORS preflight: 204 with what is allowed, or 403
// saying what is not.
func (c *cors) preflight(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !c.allowOrigin(h, r.Header.Get("Origin")) {
		http.Error(rw, "nanoedge: origin "+r.Header.Get("Origin")+" is not allowed by the route's CORS policy", http.StatusForbidden)
		return
	}
	if m := r.Header.Get("Access-Control-Request-Method"); !c.methods[strings.ToUpper(m)] {
		http.Error(rw, "nanoedge: method "+m+" is not allowed by the route's CORS policy", http.StatusForbidden)
		return
	}
	var asked []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if !c.anyHeader && !c.headers[http.CanonicalHeaderKey(name)] {
				http.Error(rw, "nanoedge: header "+name+" is not allowed by the route's CORS policy", http.StatusForbidden)
				return
			}
			asked = append(asked, name)
		}
	}
	h.Set("Access-Control-Allow-Methods", c.methodList)
	if len(asked) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
	}
	if c.maxAge != "" {
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
	rw.WriteHeader(http.StatusNoContent)
}

// decorate sets the CORS headers of an actual response.
func (c *cors) decorate(h http.Header, origin string) {
	if c.allowOrigin(h, origin) && c.expose != "" {
		h.Set("Access-Control-Expose-Headers", c.expose)
	}
}

// isCorsHeader: headers the worker owns on a route with a CORS policy.
func isCorsHeader(name string) bool {
	return strings.HasPrefix(http.CanonicalHeaderKey(name), "Access-Control-")
}
