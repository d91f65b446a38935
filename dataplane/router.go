package dataplane

import (
	"net"
	"sort"
	"strings"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// table is an immutable routing table; a new one replaces it on every change.
type table struct {
	byHost map[string][]*entry // host ("" for any) -> entries, longest prefix first
}

// entry is one route bound to the modules that serve it.
type entry struct {
	route    *registryv1.Route
	mod      *module   // the route's module: all traffic, or the heaviest version
	versions []version // the weighted split, if any
	rules    []rule    // evaluated before the split
	cors     *cors     // nil: the route has no CORS policy
	outbound *outboundPolicy

	counters map[*module]*counters // guarded by Worker.statsMu
}

func newTable(entries []*entry) *table {
	t := &table{byHost: make(map[string][]*entry)}
	for _, e := range entries {
		t.byHost[e.route.Host] = append(t.byHost[e.route.Host], e)
	}
	for _, es := range t.byHost {
		sort.Slice(es, func(i, j int) bool { return len(es[i].route.PathPrefix) > len(es[j].route.PathPrefix) })
	}
	return t
}

// lookup finds the route for a request: routes of the exact host first, then
// of a wildcard parent ("*.example.com"), then host-independent routes; in
// each, the longest matching path prefix.
func (t *table) lookup(host, path string) *entry {
	host = normalizeHost(host)
	if e := match(t.byHost[host], path); e != nil {
		return e
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if e := match(t.byHost["*"+host[i:]], path); e != nil {
			return e
		}
	}
	return match(t.byHost[""], path)
}

func match(es []*entry, path string) *entry {
	for _, e := range es {
		if prefixMatches(e.route.PathPrefix, path) {
			return e
		}
	}
	return nil
}

// prefixMatches matches whole path segments: "/api" matches "/api" and
// "/api/x" but not "/apix"; "/api/" matches everything under "/api/".
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

func routeKey(host, pathPrefix string) string { return host + "\x00" + pathPrefix }
