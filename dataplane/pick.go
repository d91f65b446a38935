package dataplane

import (
	"crypto/subtle"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Headers a worker reads and writes around version selection.
const (
	// VersionHeader names the module version that served a response.
	VersionHeader = "X-Nanoedge-Version"
	// ConfigHeader names the configuration revision (of the module name's
	// variables and secrets) new instances start with; absent without one.
	ConfigHeader = "X-Nanoedge-Config"
	// PinHeader lets a tester pin a version: "<pin secret>:<digest prefix>".
	// It only works when the worker has a pin secret configured.
	PinHeader = "X-Nanoedge-Pin"
)

// version is one module behind a route with the upper bound of its share
// in [0, 100).
type version struct {
	mod   *module
	upper uint32
}

// rule is a compiled RouteRule.
type rule struct {
	kind registryv1.MatchKind
	name string
	re   *regexp.Regexp
	mod  *module
	// flagOn: the flag a MATCH_KIND_FLAG rule follows was enabled when
	// the table was built.
	flagOn bool
}

func (r *rule) matches(req *http.Request) bool {
	var v string
	switch r.kind {
	case registryv1.MatchKind_MATCH_KIND_HEADER:
		if vs := req.Header.Values(r.name); len(vs) > 0 {
			v = vs[0]
		} else {
			return false
		}
	case registryv1.MatchKind_MATCH_KIND_COOKIE:
		c, err := req.Cookie(r.name)
		if err != nil {
			return false
		}
		v = c.Value
	case registryv1.MatchKind_MATCH_KIND_QUERY:
		q := req.URL.Query()
		if !q.Has(r.name) {
			return false
		}
		v = q.Get(r.name)
	case registryv1.MatchKind_MATCH_KIND_USER_AGENT:
		v = req.UserAgent()
	case registryv1.MatchKind_MATCH_KIND_FLAG:
		return r.flagOn
	default:
		return false
	}
	return r.re.MatchString(v)
}

// pick chooses the version that serves req: a valid pin first, then the
// first matching rule, then the weighted split (sticky if the route names
// a key), else the route's module.
func (e *entry) pick(req *http.Request, pinSecret string) (*module, bool) {
	if m, ok := e.pinned(req, pinSecret); ok {
		return m, true
	}
	for i := range e.rules {
		if e.rules[i].matches(req) {
			return e.rules[i].mod, false
		}
	}
	if len(e.versions) == 0 {
		return e.mod, false
	}
	var point uint32
	if key, ok := stickyValue(req, e.route.StickyKey); ok {
		h := fnv.New32a()
		h.Write([]byte(e.route.PathPrefix))
		h.Write([]byte{0})
		h.Write([]byte(key))
		point = h.Sum32() % 100
	} else {
		point = rand.Uint32N(100)
	}
	for _, v := range e.versions {
		if point < v.upper {
			return v.mod, false
		}
	}
	return e.mod, false
}

// pinned honours PinHeader when its secret matches the worker's.
func (e *entry) pinned(req *http.Request, pinSecret string) (*module, bool) {
	h := req.Header.Get(PinHeader)
	if h == "" || pinSecret == "" {
		return nil, false
	}
	secret, prefix, ok := strings.Cut(h, ":")
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(pinSecret)) != 1 || len(prefix) < 8 {
		return nil, false
	}
	if !strings.HasPrefix(prefix, "sha256:") {
		prefix = "sha256:" + prefix
	}
	for _, m := range e.modules() {
		if strings.HasPrefix(m.digest, prefix) {
			return m, true
		}
	}
	return nil, false
}

// modules lists every module the entry can serve from.
func (e *entry) modules() []*module {
	ms := []*module{e.mod}
	for _, v := range e.versions {
		ms = append(ms, v.mod)
	}
	for _, r := range e.rules {
		ms = append(ms, r.mod)
	}
	return ms
}

func stickyValue(req *http.Request, key string) (string, bool) {
	kind, name, _ := strings.Cut(key, ":")
	switch kind {
	case "header":
		v := req.Header.Get(name)
		return v, v != ""
	case "cookie":
		c, err := req.Cookie(name)
		if err != nil || c.Value == "" {
			return "", false
		}
		return c.Value, true
	case "ip":
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			host = req.RemoteAddr
		}
		return host, true
	}
	return "", false
}
