package controlplane

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/history"
)

// codeTable maps the registry's sentinel errors to gRPC codes. The first
// match wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{registry.ErrNotFound, codes.NotFound},
	{registry.ErrInvalid, codes.InvalidArgument},
	{registry.ErrAmbiguous, codes.InvalidArgument},
	{registry.ErrTooLarge, codes.ResourceExhausted},
	{registry.ErrQuotaExceeded, codes.ResourceExhausted},
	{registry.ErrTimeout, codes.Unavailable},
	{history.ErrCompacted, codes.OutOfRange},
	{registry.ErrNotLeader, codes.Unavailable},
	{registry.ErrClosed, codes.Unavailable},
	{registry.ErrRestoring, codes.Unavailable},
	{registry.ErrInUse, codes.FailedPrecondition},
	{registry.ErrRevoked, codes.FailedPrecondition},
	{registry.ErrConflict, codes.Aborted},
	{registry.ErrAlreadyApplied, codes.FailedPrecondition},
	{ErrInvalidModule, codes.InvalidArgument},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// ErrInvalidModule: uploaded bytes are not a runnable handler module.
var ErrInvalidModule = errors.New("controlplane: invalid module")

// toStatus converts err to a gRPC status error, keeping its message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, registry.ErrUncertain) {
		return outcomeUnknown(err.Error() + "; retry it with the same request id")
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

func statusInvalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }

// OutcomeUnknown is the ErrorInfo reason of an error after which a write
// may or may not have been applied (the leader changed, the commit timed
// out). Retrying with the same request id is safe: the registry applies
// a request id once.
const OutcomeUnknown = "OUTCOME_UNKNOWN"

// outcomeUnknown is an Unavailable status saying a write may have been
// applied.
func outcomeUnknown(msg string) error {
	st, err := status.New(codes.Unavailable, msg).WithDetails(&errdetails.ErrorInfo{Reason: OutcomeUnknown, Domain: "nanoedge"})
	if err != nil {
		return status.Error(codes.Unavailable, msg)
	}
	return st.Err()
}
