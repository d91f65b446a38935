//go:build !wasip1

package guest

import "sync"

// Outside a worker (a native build, a test) flags are what SetFlag set.
var (
	localMu    sync.RWMutex
	localFlags = map[string]bool{}
)

// LookupFlag reports a feature flag's state, and whether the registry
// has a flag of that name, as of the revision the worker serves: every
// call within one request sees the same one.
func LookupFlag(name string) (on, exists bool) {
	localMu.RLock()
	defer localMu.RUnlock()
	on, exists = localFlags[name]
	return on, exists
}

// SetFlag sets a flag for LookupFlag in a native build, such as a
// handler's own tests; a module built for a worker reads the registry's.
func SetFlag(name string, on bool) {
	localMu.Lock()
	defer localMu.Unlock()
	localFlags[name] = on
}
