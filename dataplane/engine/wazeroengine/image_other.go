//go:build !linux

package wazeroengine

import (
	"errors"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryImage maps snapshots copy-on-write on Linux only; elsewhere
// instances copy the snapshot's data segments.
type memoryImage struct{}

func newMemoryImage([]byte, int) (*memoryImage, error) {
	return nil, errors.New("wazeroengine: memory images need Linux")
}

func (*memoryImage) Close() error { return nil }

func (*memoryImage) mapping() (*mappedMemory, error) {
	return nil, errors.New("wazeroengine: memory images need Linux")
}

// memoryPool leaves memory to wazero elsewhere than on Linux.
type memoryPool struct{}

func newMemoryPool(int) *memoryPool             { return nil }
func (*memoryPool) get() (*mappedMemory, error) { return nil, nil }
func (*memoryPool) Close()                      {}

type mappedMemory struct{}

func (*mappedMemory) Allocate(_, _ uint64) experimental.LinearMemory { return nil }
func (*mappedMemory) Reallocate(uint64) []byte                       { return nil }
func (*mappedMemory) Free()                                          {}
