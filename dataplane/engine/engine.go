package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
)

var (
	// ErrInvalidModule: the bytes are not a module this engine can run, or
	// the module does not speak a supported ABI version.
	ErrInvalidModule = errors.New("engine: invalid module")
	// ErrTrap: the guest trapped, panicked, exited or ran out of memory. The
	// instance is unusable afterwards.
	ErrTrap = errors.New("engine: guest trapped")
	// ErrDeadline: the call ran past its context's deadline and was stopped.
	// The instance is unusable afterwards.
	ErrDeadline = errors.New("engine: guest deadline exceeded")
	// ErrBadResponse: the guest returned bytes that are not a response.
	ErrBadResponse = errors.New("engine: malformed guest response")
)

// Engine compiles modules. It is safe for concurrent use.
type Engine interface {
	// Compile validates and compiles wasm. The result is shared by every
	// instance of the module.
	Compile(ctx context.Context, wasm []byte) (Module, error)
	Close(ctx context.Context) error
}

// Module is a compiled module.
type Module interface {
	// Instantiate creates an instance and runs the module's initialization.
	Instantiate(ctx context.Context, cfg InstanceConfig) (Instance, error)
	Close(ctx context.Context) error
}

// Renewer is implemented by a Module whose instances are cheap to
// replace, such as instances started from a copy-on-write snapshot.
// RenewAfter is how many requests an instance should serve before a
// fresh one takes its place, or 0 for no advice. A Go guest's heap
// touches new pages as it collects garbage and never gives them back; a
// fresh instance holds only the pages it writes.
type Renewer interface {
	RenewAfter() int
}

// RenewSnapshotsAfter is the advice of engines whose instances start from
// a copy-on-write snapshot; instances that run their own initialization
// are not worth replacing so often. A fresh instance faults in every page
// it writes, at a cost that 2,000 requests make small (docs/benchmarks-history.md
// weighs 1,000, 2,000 and 10,000).
const RenewSnapshotsAfter = 2000

// InstanceConfig carries what differs between instances of one module.
type InstanceConfig struct {
	// Stdout and Stderr receive the guest's output; nil discards it.
	Stdout, Stderr io.Writer
	// Env is the instance's environment ("NAME=value"): its module's
	// configuration. A CGI module's runs see it before the request's
	// variables.
	Env []string
}

// Instance is one instantiated module. It serves one call at a time.
type Instance interface {
	// Handle passes one ABI-encoded request and returns the ABI-encoded
	// response, which stays valid until the next call. An error wrapping
	// ErrTrap or ErrDeadline means the instance must be closed.
	Handle(ctx context.Context, req []byte) ([]byte, error)
	// MemorySize is the size of the guest's linear memory in bytes.
	MemorySize() uint64
	Close(ctx context.Context) error
}

// Broken reports whether err leaves an instance unusable.
func Broken(err error) bool {
	return errors.Is(err, ErrTrap) || errors.Is(err, ErrDeadline)
}

// CheckMemoryLimit reports a per-instance memory cap outside what every
// engine supports: 64 KiB (one page) to 4 GiB (32-bit memories).
func CheckMemoryLimit(limit uint64) error {
	if limit < 1<<16 || limit > 4<<30 {
		return fmt.Errorf("MemoryLimit %d out of range [64 KiB, 4 GiB]", limit)
	}
	return nil
}

// Options is what a worker asks of whichever engine it runs. An engine
// that cannot honour an option refuses it (ErrUnsupported) rather than
// running without it.
type Options struct {
	// MemoryLimit caps each instance's linear memory, in bytes.
	MemoryLimit uint64
	// CacheDir, if set, keeps compiled code on disk across restarts; each
	// engine uses a directory of its own below it. Engines without a disk
	// cache compile at every start.
	CacheDir string
	// PreInitialize starts every instance from a snapshot taken after the
	// module's initialization, instead of running it per instance.
	PreInitialize bool
}

// DefaultOptions returns a 128 MiB memory cap, no disk cache, instances
// that initialize themselves.
func DefaultOptions() Options { return Options{MemoryLimit: 128 << 20} }

// ErrUnsupported: the engine cannot honour an option.
var ErrUnsupported = errors.New("engine: option not supported")

// Edge is what a handler reads of its worker's state during one request
// (the host functions of sdk/abi's ImportModule): feature flags, and the
// edge data stores its module may read, all as of one registry revision.
type Edge interface {
	// Flag reports a flag's state, and whether it exists.
	Flag(name string) (on, exists bool)
	// Get returns a key's value in a store; storeOK is false when the
	// module may read no store of that name.
	Get(store, key string) (value []byte, found, storeOK bool)
}

type noEdge struct{}

func (noEdge) Flag(string) (bool, bool)                { return false, false }
func (noEdge) Get(string, string) ([]byte, bool, bool) { return nil, false, false }
