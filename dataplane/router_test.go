package dataplane

import (
	"strings"
	"testing"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func testTable() *table {
	var es []*entry
	for _, r := range [][2]string{
		{"", "/"}, {"", "/api"}, {"", "/api/v2/"}, {"example.com", "/"}, {"example.com", "/shop"},
		{"*.example.com", "/"}, {"a.example.com", "/only-a"},
	} {
		es = append(es, &entry{route: &registryv1.Route{Host: r[0], PathPrefix: r[1]}, mod: &module{name: r[0] + r[1]}})
	}
	return newTable(es)
}

func TestLookup(t *testing.T) {
	tab := testTable()
	tests := []struct{ host, path, want string }{
		{"other.org", "/x", "/"},
		{"other.org", "/api", "/api"},
		{"other.org", "/api/x", "/api"},
		{"other.org", "/apix", "/"},
		{"other.org", "/api/v2/users", "/api/v2/"},
		{"other.org", "/api/v2", "/api"},
		{"example.com", "/shop/cart", "example.com/shop"},
		{"EXAMPLE.com:8080", "/shopping", "example.com/"},
		{"example.com.", "/", "example.com/"},
		{"b.example.com", "/any", "*.example.com/"},
		{"a.example.com", "/only-a/x", "a.example.com/only-a"},
		{"a.example.com", "/other", "*.example.com/"},
		{"deep.b.example.com", "/", "/"},
	}
	for _, tt := range tests {
		e := tab.lookup(tt.host, tt.path)
		if e == nil || e.mod.name != tt.want {
			got := "<nil>"
			if e != nil {
				got = e.mod.name
			}
			t.Errorf("lookup(%q, %q): exp %q, got %q", tt.host, tt.path, tt.want, got)
		}
	}
	if e := newTable(nil).lookup("h", "/"); e != nil {
		t.Fatalf("empty table matched %v", e.route)
	}
}

// FuzzLookup: any host and path either match nothing or match a route whose
// prefix covers the path on a segment boundary.
func FuzzLookup(f *testing.F) {
	tab := testTable()
	f.Add("example.com", "/shop/x")
	f.Add("", "")
	f.Add("a.example.com:99", "/only-a")
	f.Fuzz(func(t *testing.T, host, path string) {
		e := tab.lookup(host, path)
		if e == nil {
			return
		}
		p := e.route.PathPrefix
		if !strings.HasPrefix(path, p) || !(len(path) == len(p) || strings.HasSuffix(p, "/") || path[len(p)] == '/') {
			t.Fatalf("lookup(%q, %q) matched prefix %q", host, path, p)
		}
	})
}

func TestRequestID(t *testing.T) {
	for seq, want := range map[uint64]string{1: "0000000000000001", 0xabc: "0000000000000abc", 1<<64 - 1: "ffffffffffffffff"} {
		if got := requestID(seq); got != want {
			t.Errorf("requestID(%#x) = %q, exp %q", seq, got, want)
		}
	}
}
