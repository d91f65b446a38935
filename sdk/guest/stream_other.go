//go:build !wasip1

package guest

import "github.com/nanoedge/nanoedge/sdk/abi"

// Outside a worker, responses are delivered whole (the SDK's own tests
// serve through it natively).
func responseStart([]byte) int32 { return abi.Unsupported }

func responseWrite([]byte) int32 { return abi.Unsupported }

func responseTrailers([]byte) int32 { return abi.Unsupported }
