package registry

import (
	"errors"
)

var (
	// ErrNotFound: the named module or route does not exist.
	ErrNotFound = errors.New("registry: not found")
	// ErrInvalid: a write or reference is malformed.
	ErrInvalid = errors.New("registry: invalid argument")
	// ErrTooLarge: a module exceeds Config.MaxModuleSize.
	ErrTooLarge = errors.New("registry: too large")
	// ErrAmbiguous: a digest prefix matches more than one module.
	ErrAmbiguous = errors.New("registry: ambiguous reference")
	// ErrNotLeader: this node cannot accept writes.
	ErrNotLeader = errors.New("registry: not the leader")
	// ErrQuotaExceeded: storing the module would exceed Config.Quota.
	ErrQuotaExceeded = errors.New("registry: quota exceeded")
	// ErrTimeout: Raft did not accept or commit the request before the
	// caller's deadline. A write that timed out may still apply.
	ErrTimeout = errors.New("registry: timed out")
	// ErrInUse: the object is still referenced, for example a flag a
	// route rule follows.
	ErrInUse = errors.New("registry: in use")
	// ErrRevoked: a module's publisher key was revoked; it cannot be routed.
	ErrRevoked = errors.New("registry: signing key revoked")
	// ErrUncertain: the write was proposed but its outcome is unknown (the
	// leader lost leadership, or the caller's deadline passed, before it
	// committed): it may or may not apply. Retrying with the same request
	// id is safe.
	ErrUncertain = errors.New("registry: outcome unknown: the write may have been applied")
	// ErrAlreadyApplied: a write whose request id applied before, whose
	// answer cannot be given again (a token's secret is never stored).
	ErrAlreadyApplied = errors.New("registry: already applied")
	// ErrConflict: a compare-and-set write found the object changed since
	// its caller read it.
	ErrConflict = errors.New("registry: conflict")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("registry: closed")
)
