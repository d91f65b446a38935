package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// TestStores: a store as an operator fills it: import from JSON lines
// and CSV with a dry run first, --replace to make the store the file,
// single keys, linking to a module; bad input fails with the line.
func TestStores(t *testing.T) {
	env := startEnv(t)
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "redirects.jsonl")
	os.WriteFile(jsonl, []byte(`{"key": "/docs", "value": "https://docs.example"}
{"key": "/blog", "value": "https://blog.example"}

{"key": "/meta", "value": {"to": "/x", "code": 301}}
`), 0o600)

	code, out, errOut := run("stores", "import", "redirects", jsonl, "--dry-run")
	if code != 0 || !strings.Contains(out, "would write redirects: 3 added, 0 updated, 0 deleted, 0 unchanged") {
		t.Fatalf("dry run: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run("stores", "list", "-o", "json"); code != 0 || strings.Contains(out, "redirects") {
		t.Fatalf("exp a dry run to store nothing, list: %d %q", code, out)
	}
	if code, out, errOut := run("stores", "import", "redirects", jsonl); code != 0 || !strings.Contains(out, "wrote redirects: 3 added") || !strings.Contains(out, "redirects holds 3 keys") {
		t.Fatalf("import: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run("stores", "get", "redirects", "/meta"); code != 0 || out != `{"to": "/x", "code": 301}`+"\n" {
		t.Fatalf("a JSON value is stored as its text: %q", out)
	}

	csvFile := filepath.Join(dir, "redirects.csv")
	os.WriteFile(csvFile, []byte("key,value\n/docs,https://docs2.example\n\"/a,b\",\"quoted, value\"\n"), 0o600)
	if code, out, errOut := run("stores", "import", "redirects", csvFile, "--replace"); code != 0 ||
		!strings.Contains(out, "1 added, 1 updated, 2 deleted, 0 unchanged") {
		t.Fatalf("csv import with --replace: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run("stores", "keys", "redirects"); code != 0 || out != "/a,b\n/docs\n" {
		t.Fatalf("keys: %q", out)
	}
	for prefix, want := range map[string]string{"/a": "/a,b\n", "/a,b": "/a,b\n", "/d": "/docs\n", "/z": ""} {
		if code, out, _ := run("stores", "keys", "redirects", "--prefix", prefix); code != 0 || out != want {
			t.Fatalf("keys --prefix %s: %q, want %q", prefix, out, want)
		}
	}
	code, out, _ = run("stores", "list", "-o", "json")
	var listed struct {
		Stores []struct {
			Name  string `json:"name"`
			Keys  int    `json:"keys"`
			Bytes int    `json:"bytes"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed.Stores) != 1 || listed.Stores[0].Keys != 2 ||
		listed.Stores[0].Bytes != len("/a,b")+len("quoted, value")+len("/docs")+len("https://docs2.example") {
		t.Fatalf("list -o json: %v %q", err, out)
	}

	if code, out, errOut := run("stores", "link", "redirects", "shortener"); code != 0 || !strings.Contains(out, "stores it reads: redirects") {
		t.Fatalf("link: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := run("stores", "link", "nosuch", "shortener"); code != 1 || !strings.Contains(errOut, `store "nosuch"`) {
		t.Fatalf("linking a missing store: exit %d, %q", code, errOut)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"key": "/ok", "value": "1"}`+"\n"+`{"key": "/x", "valu": "typo"}`+"\n"), 0o600)
	if code, _, errOut := run("stores", "import", "redirects", bad); code != 2 || !strings.Contains(errOut, "line 2") {
		t.Fatalf("a bad line: exit %d, %q", code, errOut)
	}
	latin1 := filepath.Join(dir, "latin1.csv")
	os.WriteFile(latin1, []byte("/caf\xe9,v\n"), 0o600)
	if code, _, errOut := run("stores", "import", "redirects", latin1); code != 2 || !strings.Contains(errOut, "is not UTF-8") {
		t.Fatalf("a key not UTF-8: exit %d, %q", code, errOut)
	}
	big := filepath.Join(dir, "big.csv")
	os.WriteFile(big, []byte("/big,"+strings.Repeat("v", 200<<10)+"\n"), 0o600)
	if code, _, errOut := run("stores", "import", "redirects", big); code != 1 || !strings.Contains(errOut, "value is 204800 bytes; the limit is 131072") {
		t.Fatalf("a value too large: exit %d, %q", code, errOut)
	}
	if code, out, _ := run("stores", "keys", "redirects"); code != 0 || out != "/a,b\n/docs\n" {
		t.Fatalf("exp failed imports to change nothing, keys: %q", out)
	}
	if code, out, _ := run("stores", "drop", "redirects"); code != 0 || !strings.Contains(out, "store redirects deleted") {
		t.Fatalf("drop: %q", out)
	}
	if code, _, errOut := run("stores", "get", "redirects", "/docs"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("get from a dropped store: exit %d, %q", code, errOut)
	}
}

// TestShortenerExample runs examples/shortener as its doc comment and the
// README deploy it, through the CLI, and follows its redirects on a
// worker: a store read, a variable, a secret-signed cookie and a flag.
func TestShortenerExample(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.API.Keyring, _ = controlplane.NewKeyring(key)
	env := testenv.Start(t, cfg)
	w := testenv.StartWorker(t, env.WorkerConfig())
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "publisher.key")
	os.WriteFile(keyFile, signing.MarshalPrivateKey(env.Key), 0o600)
	cookieKey := filepath.Join(dir, "cookie.key")
	os.WriteFile(cookieKey, []byte("c00kie-s1gning-key\n"), 0o600)
	example := filepath.Join(guests.Root(), "examples", "shortener")
	for _, args := range [][]string{
		{"push", "--key", keyFile, example},
		{"route", "set", "--path", "/go/", "--module", "shortener"},
		{"stores", "import", "links", filepath.Join(example, "links.csv")},
		{"stores", "link", "links", "shortener"},
		{"vars", "set", "shortener", "BASE_PATH=/go/"},
		{"secrets", "set", "shortener", "COOKIE_KEY", "--from-file", cookieKey},
		{"flags", "set", "track-visits", "on"},
	} {
		if code, out, errOut := run(args...); code != 0 {
			t.Fatalf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	visit := func(path string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", w.URL()+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	var first *http.Response
	poll.Eventually(t, time.Minute, func() error {
		if first = visit("/go/docs"); first.StatusCode != http.StatusFound || first.Header.Get("X-Visits") != "1" {
			return fmt.Errorf("GET /go/docs: %d %v", first.StatusCode, first.Header)
		}
		return nil
	})
	if loc := first.Header.Get("Location"); loc != "https://github.com/nanoedge/nanoedge/tree/main/docs" {
		t.Fatalf("redirected to %q", loc)
	}
	if second := visit("/go/docs", first.Cookies()...); second.Header.Get("X-Visits") != "2" {
		t.Fatalf("exp the signed cookie counted on, got %v", second.Header)
	}
	forged := &http.Cookie{Name: "visits", Value: "99." + strings.Repeat("0", 64)}
	if resp := visit("/go/docs", forged); resp.Header.Get("X-Visits") != "1" {
		t.Fatalf("exp a forged count to start again, got %v", resp.Header)
	}
	if resp := visit("/go/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown link: %d", resp.StatusCode)
	}
	if code, _, errOut := run("flags", "set", "track-visits", "off"); code != 0 {
		t.Fatal(errOut)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		if resp := visit("/go/docs"); resp.StatusCode != http.StatusFound || len(resp.Cookies()) != 0 {
			return fmt.Errorf("flag off: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
		return nil
	})
	if code, _, errOut := run("stores", "put", "links", "docs", "https://docs.example"); code != 0 {
		t.Fatal(errOut)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		if loc := visit("/go/docs").Header.Get("Location"); loc != "https://docs.example" {
			return fmt.Errorf("after a store write, redirected to %q", loc)
		}
		return nil
	})
}

// TestProxyAndEventsExamples deploys examples/proxy and examples/sse as
// their doc comments do, through the CLI: the proxy before a real local
// origin (path rewritten, headers added both ways, the origin allowed on
// the route and nothing else), and server-sent events streamed.
func TestProxyAndEventsExamples(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	cfg := env.WorkerConfig()
	cfg.Worker.OutboundPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	w := testenv.StartWorker(t, cfg)
	origin := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Seen-Edge", r.Header.Get("X-Edge"))
		io.WriteString(rw, r.Method+" "+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	keyFile := filepath.Join(t.TempDir(), "publisher.key")
	os.WriteFile(keyFile, signing.MarshalPrivateKey(env.Key), 0o600)
	for _, args := range [][]string{
		{"push", "--key", keyFile, filepath.Join(guests.Root(), "examples", "proxy")},
		{"route", "set", "--path", "/shop/", "--module", "proxy", "--allow-outbound", origin.URL},
		{"vars", "set", "proxy", "ORIGIN=" + origin.URL, "BASE_PATH=/shop/"},
		{"push", "--key", keyFile, filepath.Join(guests.Root(), "examples", "sse")},
		{"route", "set", "--path", "/events", "--module", "sse"},
		{"vars", "set", "sse", "INTERVAL=50ms"},
	} {
		if code, out, errOut := run(args...); code != 0 {
			t.Fatalf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	poll.Eventually(t, time.Minute, func() error {
		resp, err := http.Get(w.URL() + "/shop/v1/items?page=2")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "GET /v2/items?page=2" || resp.Header.Get("X-Served-By") != "nanoedge-proxy" || resp.Header.Get("X-Seen-Edge") != "nanoedge" {
			return fmt.Errorf("proxy: %d %q %v", resp.StatusCode, b, resp.Header)
		}
		return nil
	})
	// Another origin, up and reachable, is not the route's to call.
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "other") }))
	t.Cleanup(other.Close)
	if code, _, errOut := run("vars", "set", "proxy", "ORIGIN="+other.URL); code != 0 {
		t.Fatal(errOut)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(w.URL() + "/shop/cart")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			return fmt.Errorf("proxy to an origin the route does not allow: %d", resp.StatusCode)
		}
		return nil
	})
	var events []string
	poll.Eventually(t, time.Minute, func() error {
		resp, err := http.Get(w.URL() + "/events?n=3")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		events = events[:0]
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events = append(events, d)
			}
		}
		if resp.Header.Get("Content-Type") != "text/event-stream" || strings.Join(events, ",") != `{"tick":1},{"tick":2},{"tick":3}` {
			return fmt.Errorf("events: %d %v %q", resp.StatusCode, resp.Header, events)
		}
		return nil
	})
}
