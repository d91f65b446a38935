package layers

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nanoedge/nanoedge/"

// allowed lists, for each package (or tree, ending in "/..."), the
// packages of this module it may import. A package not listed imports
// nothing of the module. Test files are not held to it; test kits
// (internal/testing, internal/systemtest, bench) may import anything.
var allowed = map[string][]string{
	// The bottom: contracts and leaves anyone may use.
	"proto/nanoedge/registry/v1": nil,
	"proto/nanoedge/raftlog/v1":  {"proto/nanoedge/registry/v1"},
	"sdk/digest":                 nil,
	"sdk/history":                nil,
	"sdk/signing":                nil,
	"sdk/browser":                nil,
	"sdk/abi":                    nil,
	"sdk/latency":                nil,
	"sdk/outbound":               nil,
	"internal/pki":               nil,
	"internal/tlsconfig":         nil,
	"internal/wasmbuild":         nil,

	// The SDKs: what programs outside the server link.
	"sdk/client":      {"proto/nanoedge/registry/v1", "sdk/digest", "sdk/history", "sdk/signing"},
	"sdk/guest":       {"sdk/abi"},
	"sdk/guest/kv":    {"sdk/abi"},
	"sdk/guest/fetch": {"sdk/abi"},

	// The control plane: registry <- controlplane.
	"registry":               {"proto/...", "sdk/digest", "sdk/history", "sdk/outbound"},
	"controlplane":           {"registry", "proto/nanoedge/registry/v1", "sdk/digest", "sdk/history", "sdk/signing", "sdk/latency"},
	"controlplane/dashboard": {"proto/nanoedge/registry/v1", "sdk/client"},

	// The data plane: engine (the contract) <- engines <- dataplane.
	"dataplane/engine":                nil,
	"dataplane/engine/internal/...":   {"dataplane/engine", "dataplane/engine/internal/...", "sdk/abi", "internal/testing/..."},
	"dataplane/engine/wazeroengine":   {"dataplane/engine", "dataplane/engine/internal/...", "sdk/abi"},
	"dataplane/engine/wasmerengine":   {"dataplane/engine", "dataplane/engine/internal/...", "sdk/abi"},
	"dataplane/engine/wasmtimeengine": {"dataplane/engine", "dataplane/engine/internal/...", "sdk/abi"},
	"dataplane": {"dataplane/engine", "sdk/abi", "sdk/latency", "proto/nanoedge/registry/v1",
		"sdk/browser", "sdk/client", "sdk/digest", "sdk/history", "sdk/signing", "sdk/outbound"},

	// Process wiring, the command line, the binary.
	"server": {"registry", "controlplane/...", "dataplane/...", "proto/nanoedge/registry/v1", "sdk/client"},
	"internal/cli": {"server", "registry", "controlplane", "dataplane", "dataplane/engine", "dataplane/engine/wazeroengine", "proto/nanoedge/registry/v1",
		"sdk/...", "internal/pki", "internal/tlsconfig", "internal/wasmbuild"},
	"cmd/nanoedge": {"internal/cli"},

	// Handlers and kits.
	"examples/...":         {"sdk/guest", "sdk/guest/kv", "sdk/guest/fetch", "examples/..."},
	"internal/testing/...": {"..."},
	"internal/systemtest":  {"..."},
	"internal/layers":      nil,
	"bench/...":            {"..."},
	"deploy":               nil,
}

// rule returns the allowed imports of pkg and whether any rule names it.
func rule(pkg string) ([]string, bool) {
	if a, ok := allowed[pkg]; ok {
		return a, true
	}
	best := ""
	for k := range allowed {
		if tree, ok := strings.CutSuffix(k, "/..."); ok && strings.HasPrefix(pkg, tree+"/") && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return nil, false
	}
	return allowed[best], true
}

func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == tree || strings.HasPrefix(pkg, tree+"/")
	}
	return pattern == pkg
}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json", "-tags", "wasmer,wasmtime"}, args...)...)
	cmd.Dir = "../.."
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(&out)
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportsRunDown: every package imports only what its layer allows.
func TestImportsRunDown(t *testing.T) {
	for _, p := range list(t, "./...") {
		pkg := strings.TrimPrefix(p.ImportPath, module)
		ok, known := rule(pkg)
		if !known {
			t.Errorf("%s: no rule says what it may import; add it to the table", pkg)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours || dep == pkg {
				continue
			}
			permitted := false
			for _, a := range ok {
				permitted = permitted || matches(a, dep)
			}
			if !permitted {
				t.Errorf("%s imports %s: not allowed by its layer", pkg, dep)
			}
		}
	}
}

// TestSDKLinksNoServer: programs that use the SDKs link neither Raft nor
// bbolt nor any server package.
func TestSDKLinksNoServer(t *testing.T) {
	for _, p := range list(t, "-deps", "./sdk/...") {
		for _, bad := range []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", "github.com/boltdb/bolt",
			module + "registry", module + "controlplane", module + "dataplane", module + "server"} {
			if p.ImportPath == bad || strings.HasPrefix(p.ImportPath, bad+"/") {
				t.Errorf("the SDKs link %s", p.ImportPath)
			}
		}
	}
}
