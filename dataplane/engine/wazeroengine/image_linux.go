package wazeroengine

import (
	"fmt"
	"os"
	"sync"
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
	m, err := reserveMemory(im.limit)
	if err != nil || im.size == 0 {
		return m, err
	}
	m.n = im.size
	if _, err := unix.MmapPtr(int(im.f.Fd()), 0, unsafe.Pointer(&m.b[0]), uintptr(im.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		m.Free()
		return nil, fmt.Errorf("wazeroengine: map memory image: %w", err)
	}
	return m, nil
}

// reserveMemory reserves limit bytes of address space for an instance's
// linear memory, zero pages that take memory only once written, so that
// the memory grows in place. wazero's own linear memory grows by copying
// itself into a larger slice, each time into pages new to the process: a
// C guest growing a megabyte at a time took 2.4 s to reach a 128 MiB cap
// (0.2 s in place).
func reserveMemory(limit int) (*mappedMemory, error) {
	b, err := unix.Mmap(-1, 0, limit, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("wazeroengine: reserve memory: %w", err)
	}
	return &mappedMemory{b: b}, nil
}

// memoryPool keeps the reservations of closed instances, zeroed, for new
// ones: a new instance then writes pages the process holds already, as it
// did when wazero allocated memory from Go's heap, instead of faulting in
// fresh ones (which tripled the time to instantiate and initialize a Go
// module). At most maxIdleMemories are kept, each of at most
// maxPooledBytes in use; the rest are unmapped.
type memoryPool struct {
	limit int
	mu    sync.Mutex
	idle  []*mappedMemory
	kept  int // idle, and being zeroed to join them
}

const (
	maxIdleMemories = 8
	maxPooledBytes  = 16 << 20
)

func newMemoryPool(limit int) *memoryPool { return &memoryPool{limit: limit} }

// get returns an idle reservation, or a new one.
func (p *memoryPool) get() (*mappedMemory, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		m := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.kept--
		p.mu.Unlock()
		return m, nil
	}
	p.mu.Unlock()
	m, err := reserveMemory(p.limit)
	if m != nil {
		m.pool = p
	}
	return m, err
}

// put keeps the reservation b, of which n bytes were used, zeroed, if
// there is room and it is small enough. It zeroes b outside the lock,
// which get takes on every instantiation.
func (p *memoryPool) put(b []byte, n int) bool {
	if n > maxPooledBytes {
		return false
	}
	p.mu.Lock()
	if p.kept >= maxIdleMemories {
		p.mu.Unlock()
		return false
	}
	p.kept++
	p.mu.Unlock()
	clear(b[:n])
	p.mu.Lock()
	p.idle = append(p.idle, &mappedMemory{b: b, n: n, pool: p})
	p.mu.Unlock()
	return true
}

// Close unmaps the idle reservations.
func (p *memoryPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.idle {
		unix.Munmap(m.b)
	}
	p.idle, p.kept = nil, 0
}

// mappedMemory is one instance's linear memory, handed to wazero as its
// allocator (the instance's only memory) and its memory.
type mappedMemory struct {
	b []byte
	// n: bytes of b in use now or before (or mapped from an image), which
	// growth does not populate again.
	n    int
	pool *memoryPool // nil: unmapped when freed
}

func (m *mappedMemory) Allocate(_, _ uint64) experimental.LinearMemory { return m }

// Reallocate grows within the reservation; past it, memory.grow fails.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		return nil
	}
	if int(size) > m.n {
		unix.Madvise(m.b[m.n:size], unix.MADV_POPULATE_WRITE)
		m.n = int(size)
	}
	return m.b[:size]
}

// Free returns the memory to its pool or unmaps it. wazero calls it when
// the instance closes; the engine, if instantiation fails first.
func (m *mappedMemory) Free() {
	b := m.b
	if b == nil {
		return
	}
	m.b = nil
	if m.pool == nil || !m.pool.put(b, m.n) {
		unix.Munmap(b)
	}
}
