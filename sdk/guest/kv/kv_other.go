//go:build !wasip1

package kv

import (
	"maps"
	"sync"
)

var (
	localMu     sync.RWMutex
	localStores = map[string]map[string][]byte{}
)

// Set gives a native build (a handler's own tests) a store to read; a
// module built for a worker reads the registry's.
func Set(name string, entries map[string][]byte) {
	localMu.Lock()
	defer localMu.Unlock()
	localStores[name] = maps.Clone(entries)
}

func get(store, key string) (value []byte, found, storeOK bool) {
	localMu.RLock()
	defer localMu.RUnlock()
	s, ok := localStores[store]
	if !ok {
		return nil, false, false
	}
	v, found := s[key]
	return append([]byte(nil), v...), found, true
}
