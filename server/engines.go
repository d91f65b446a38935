package server

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
)

// engines builds the engines this binary has, by name. wazero is always
// there; others register themselves from files behind build tags.
var engines = map[string]func(ctx context.Context, o engine.Options) (engine.Engine, error){
	"wazero": func(ctx context.Context, o engine.Options) (engine.Engine, error) {
		return wazeroengine.New(ctx, wazeroengine.Config{MemoryLimit: o.MemoryLimit, CacheDir: o.CacheDir, PreInitialize: o.PreInitialize})
	},
}

// Engines lists the engine names this binary was built with.
func Engines() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newEngine(ctx context.Context, name string, o engine.Options) (engine.Engine, error) {
	if name == "" {
		name = "wazero"
	}
	build, ok := engines[name]
	if !ok {
		return nil, fmt.Errorf("server: engine %q is not in this binary (it has %s; wasmer and wasmtime need -tags wasmer or -tags wasmtime)", name, strings.Join(Engines(), ", "))
	}
	eng, err := build(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("server: engine %s: %w", name, err)
	}
	return eng, nil
}
