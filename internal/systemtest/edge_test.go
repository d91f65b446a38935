package systemtest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestFlagsInHandlers: a handler reads feature flags (guest.LookupFlag)
// as of the revision its worker serves, so a flip changes behaviour
// inside a module on every worker, not only which module runs.
func TestFlagsInHandlers(t *testing.T) {
	env := startEnv(t)
	workers := []string{testenv.StartWorker(t, env.WorkerConfig()).URL()}
	wcfg := env.WorkerConfig()
	wcfg.Engine.PreInitialize = true
	workers = append(workers, testenv.StartWorker(t, wcfg).URL())
	env.Upload(t, "echo", guests.Echo)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/e/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	want := func(state string) {
		t.Helper()
		for _, w := range workers {
			poll.Eventually(t, 30*time.Second, func() error {
				if got := get(t, w+"/e/x?flag=new-checkout").header.Get("X-Echo-Flag-new-checkout"); got != state {
					return fmt.Errorf("%s: flag reads %q, want %q", w, got, state)
				}
				return nil
			})
		}
	}
	want("-")
	for _, on := range []bool{true, false, true} {
		if _, _, err := env.Admin.SetFlag(ctx, "new-checkout", on, ""); err != nil {
			t.Fatal(err)
		}
		want(map[bool]string{true: "on", false: "off"}[on])
	}
	if _, err := env.Admin.DeleteFlag(ctx, "new-checkout"); err != nil {
		t.Fatal(err)
	}
	want("-")
}

// TestHostImportsAreChecked: a module may import the functions of the
// nanoedge host module only by their documented names and signatures;
// anything else is refused at upload with a clear error, nothing stored.
func TestHostImportsAreChecked(t *testing.T) {
	env := startEnv(t)
	ctx := ctxT(t)
	i32 := byte(0x7f)
	tests := []struct {
		name, field     string
		params, results []byte
		mention         string
	}{
		{"unknown function", "flag_set", []byte{i32, i32}, []byte{i32}, "imports nanoedge.flag_set"},
		{"wrong signature", "flag_get", []byte{i32}, []byte{i32}, "imports nanoedge.flag_get"},
		{"wrong result", "kv_get", []byte{i32, i32, i32, i32, i32, i32}, []byte{0x7e}, "imports nanoedge.kv_get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.Publisher.Upload(ctx, "hostile", importing("nanoedge", tt.field, tt.params, tt.results), client.WithSigner(env.Key))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("exp InvalidArgument mentioning %q, got %v", tt.mention, err)
			}
		})
	}
	if mods, _, err := env.Admin.ListModules(ctx); err != nil || len(mods) != 0 {
		t.Fatalf("exp nothing stored, got %v, %v", mods, err)
	}
}

// importing is a Wasm module that imports one function and does nothing.
func importing(module, field string, params, results []byte) []byte {
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	typ := append([]byte{1, 0x60, byte(len(params))}, params...)
	typ = append(append(typ, byte(len(results))), results...)
	imp := append(append([]byte{1}, name(module)...), name(field)...)
	imp = append(imp, 0, 0)
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	return append(append(out, section(1, typ)...), section(2, imp)...)
}

// TestStoresReachHandlers: a store written through the API reaches the
// handlers of a module that links it on two workers watching a 3-node
// cluster, changes with each write, keeps serving when the leader dies
// and takes the next write after it; unlinked, the module cannot read
// it; bad writes fail clearly and store nothing.
func TestStoresReachHandlers(t *testing.T) {
	env, nodes := startCluster(t, 3)
	ctx := ctxT(t)
	var addrs []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.cp.Addr())
	}
	all := strings.Join(addrs, ",")
	pub := testenv.NewClient(t, all, env.Token(t, "ci2", registryv1.Role_ROLE_PUBLISHER))
	viewer := testenv.NewClient(t, all, env.Token(t, "reader", registryv1.Role_ROLE_READER))
	var workers []string
	for range 2 {
		wcfg := env.WorkerConfig()
		wcfg.ControlPlane = all
		workers = append(workers, testenv.StartWorker(t, wcfg).URL())
	}
	if _, err := pub.Upload(ctx, "shortener", guests.Build(t, guests.Echo), client.WithSigner(env.Key)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pub.SetRoute(ctx, client.Route{PathPrefix: "/s/", Module: "shortener"}); err != nil {
		t.Fatal(err)
	}
	write := func(c *client.Client, kv ...string) int64 {
		t.Helper()
		var puts []*registryv1.KVEntry
		for i := 0; i+1 < len(kv); i += 2 {
			puts = append(puts, &registryv1.KVEntry{Key: kv[i], Value: []byte(kv[i+1])})
		}
		resp, err := c.WriteEntries(ctx, "links", puts, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Revision
	}
	// reads waits until every worker's path answers want for the keys.
	reads := func(path string, want map[string]string) {
		t.Helper()
		q := path + "x?"
		var keys []string
		for k := range want {
			keys = append(keys, k)
			q += "kv=links/" + k + "&"
		}
		for _, w := range workers {
			poll.Eventually(t, 30*time.Second, func() error {
				got := get(t, w+q).header.Values("X-Echo-Kv")
				if len(got) != len(keys) {
					return fmt.Errorf("%s: %d values, want %d", w, len(got), len(keys))
				}
				for i, k := range keys {
					if got[i] != want[k] {
						return fmt.Errorf("%s%s: %s reads %q, want %q", w, path, k, got[i], want[k])
					}
				}
				return nil
			})
		}
	}
	write(pub, "gh", "https://github.com", "docs", "https://docs.example")
	reads("/s/", map[string]string{"gh": "<no store>"}) // not linked yet
	if _, _, err := pub.SetConfig(ctx, "shortener", client.ConfigChange{LinkStores: []string{"links"}}); err != nil {
		t.Fatal(err)
	}
	reads("/s/", map[string]string{"gh": "https://github.com", "docs": "https://docs.example", "nope": "<missing>"})

	start := time.Now()
	write(pub, "gh", "https://github.com/nanoedge")
	reads("/s/", map[string]string{"gh": "https://github.com/nanoedge"})
	t.Logf("a store write reached both workers' handlers in %v", time.Since(start).Round(time.Millisecond))

	leader := leaderOf(t, nodes)
	leader.cp.Close()
	leader.cp = nil
	killed := time.Now()
	reads("/s/", map[string]string{"gh": "https://github.com/nanoedge", "docs": "https://docs.example"})
	write(pub, "new", "after the leader died")
	reads("/s/", map[string]string{"new": "after the leader died", "gh": "https://github.com/nanoedge"})
	t.Logf("a write after the leader died reached both workers %v after it died", time.Since(killed).Round(time.Millisecond))

	// Bad writes: a clear error, nothing stored, the workers still serve.
	before, _, err := pub.ListStores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    *client.Client
		put  []*registryv1.KVEntry
		code codes.Code
	}{
		{"value too large", pub, []*registryv1.KVEntry{{Key: "big", Value: make([]byte, 129<<10)}}, codes.InvalidArgument},
		{"key too long", pub, []*registryv1.KVEntry{{Key: strings.Repeat("k", 513), Value: []byte("v")}}, codes.InvalidArgument},
		{"empty key", pub, []*registryv1.KVEntry{{Key: "", Value: []byte("v")}}, codes.InvalidArgument},
		{"reader", viewer, []*registryv1.KVEntry{{Key: "k", Value: []byte("v")}}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.WriteEntries(ctx, "links", tt.put, nil, false); status.Code(err) != tt.code {
				t.Fatalf("exp %v, got %v", tt.code, err)
			}
		})
	}
	after, _, err := pub.ListStores(ctx)
	if err != nil || len(after) != 1 || after[0].ModRevision != before[0].ModRevision || after[0].Keys != 3 {
		t.Fatalf("exp the store unchanged by bad writes: %v -> %v, %v", before, after, err)
	}
	reads("/s/", map[string]string{"new": "after the leader died"})
	if _, _, err := pub.SetConfig(ctx, "shortener", client.ConfigChange{UnlinkStores: []string{"links"}}); err != nil {
		t.Fatal(err)
	}
	reads("/s/", map[string]string{"gh": "<no store>"})
}

// TestStoreReadsSeeOneRevision: keys written together, in one revision,
// are read together: under a stream of such writes, no request sees one
// key's new value beside the other's old one.
func TestStoreReadsSeeOneRevision(t *testing.T) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	env.Upload(t, "echo", guests.Echo)
	ctx := ctxT(t)
	pair := func(i int) []*registryv1.KVEntry {
		v := []byte(strconv.Itoa(i))
		return []*registryv1.KVEntry{{Key: "a", Value: v}, {Key: "b", Value: v}}
	}
	if _, err := env.Publisher.WriteEntries(ctx, "pair", pair(0), nil, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Publisher.SetConfig(ctx, "echo", client.ConfigChange{LinkStores: []string{"pair"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/e/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/e/x?kv=pair/a", func(r response) bool { return r.header.Get("X-Echo-Kv") == "0" })

	done := make(chan struct{})
	writes := make(chan int, 1)
	go func() {
		defer close(writes)
		for i := 1; ; i++ {
			select {
			case <-done:
				writes <- i
				return
			default:
			}
			if _, err := env.Publisher.WriteEntries(ctx, "pair", pair(i), nil, false); err != nil {
				t.Error(err)
				writes <- i
				return
			}
		}
	}()
	seen := map[string]bool{}
	var torn []string
	for range 300 {
		vals := get(t, w.URL()+"/e/x?kv=pair/a&kv=pair/b").header.Values("X-Echo-Kv")
		if len(vals) != 2 || vals[0] != vals[1] {
			torn = vals
			break
		}
		seen[vals[0]] = true
	}
	close(done)
	n := <-writes // the writer has stopped
	if torn != nil {
		t.Fatalf("one request read a and b at different revisions: %q", torn)
	}
	if len(seen) < 3 {
		t.Fatalf("exp the reads to span several of the %d writes, saw %d values", n, len(seen))
	}
	t.Logf("300 requests saw %d of %d writes, each whole", len(seen), n)
}
