package wazeroengine

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryImage is a pre-initialized module's linear memory in a sealed
// memory file. Each instance maps it privately, copy-on-write: an instance
// starts without copying the snapshot, and holds only the pages it writes.
type memoryImage struct {
	f    *os.File
	size int
	// limit is the most linear memory an instance may have, reserved for
	// each mapping.
	limit int
}

func newMemoryImage(mem []byte, limit int) (*memoryImage, error) {
	if limit < len(mem) {
		return nil, fmt.Errorf("wazeroengine: memory image of %d bytes exceeds the limit of %d", len(mem), limit)
	}
	fd, err := unix.MemfdCreate("nanoedge-memory-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("wazeroengine: memory image: %w", err)
	}
	f := os.NewFile(uintptr(fd), "nanoedge-memory-image")
	if _, err := f.Write(mem); err != nil {
		f.Close()
		return nil, fmt.Errorf("wazeroengine: memory image: %w", err)
	}
	// Nothing may change the image under the instances that map it.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("wazeroengine: memory image: %w", err)
	}
	return &memoryImage{f: f, size: len(mem), limit: limit}, nil
}

// Close releases the file; mappings made from it stay valid.
func (im *memoryImage) Close() error { return im.f.Close() }

// mapping reserves the limit's bytes of address space, which the
// instance's memory may grow into, and maps the image over their start.
func (im *memoryImage) mapping() (*mappedMemory, error) {
	b, err := unix.Mmap(-1, 0, im.limit, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("wazeroengine: reserve memory: %w", err)
	}
	if im.size > 0 {
		if _, err := unix.MmapPtr(int(im.f.Fd()), 0, unsafe.Pointer(&b[0]), uintptr(im.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
			unix.Munmap(b)
			return nil, fmt.Errorf("wazeroengine: map memory image: %w", err)
		}
	}
	return &mappedMemory{b: b}, nil
}

// mappedMemory is one instance's linear memory, handed to wazero as its
// allocator (the instance's only memory) and its memory.
type mappedMemory struct{ b []byte }

func (m *mappedMemory) Allocate(_, _ uint64) experimental.LinearMemory { return m }

// Reallocate grows within the reservation; past it, memory.grow fails.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		return nil
	}
	return m.b[:size]
}

// Free unmaps the memory. wazero calls it when the instance closes; the
// engine, if instantiation fails first.
func (m *mappedMemory) Free() {
	if m.b != nil {
		unix.Munmap(m.b)
		m.b = nil
	}
}
