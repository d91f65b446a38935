// Package history holds the contract of a watch that asks for history
// the registry no longer keeps: the one error value the registry returns,
// the API carries (OUT_OF_RANGE with compact_revision) and the SDK and
// workers test for.
package history

import (
	"errors"
	"fmt"
)

// ErrCompacted: the history a watch asked for is gone. List again, then
// watch from the listed revision + 1.
var ErrCompacted = errors.New("revision compacted")

// CompactedError says how far the history was compacted; it matches
// ErrCompacted.
type CompactedError struct {
	// CompactRevision is the newest revision whose history is gone.
	CompactRevision int64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: history up to revision %d is gone; list and watch from the listed revision + 1", ErrCompacted, e.CompactRevision)
}

// Is makes errors.Is(err, ErrCompacted) hold.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }
