package kv

import (
	"errors"
	"fmt"
)

// ErrNoStore: the module may read no store of that name (none exists,
// or its configuration does not link it).
var ErrNoStore = errors.New("kv: no such store linked to this module")

// Store is one store a handler reads.
type Store struct{ name string }

// Open returns the named store, or ErrNoStore.
func Open(name string) (*Store, error) {
	if _, _, ok := get(name, ""); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoStore, name)
	}
	return &Store{name: name}, nil
}

// Name is the store's name.
func (s *Store) Name() string { return s.name }

// Get returns a key's value, and whether the store has the key. The
// value is the caller's to keep.
func (s *Store) Get(key string) (value []byte, ok bool) {
	v, found, _ := get(s.name, key)
	return v, found
}
