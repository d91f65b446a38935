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
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("registry: closed")
)
