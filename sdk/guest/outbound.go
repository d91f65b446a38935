package guest

import (
	"errors"
)

// Errors of outbound calls in a worker, wrapped by the error a call
// returns (http.Get's *url.Error wraps it in turn). The text says why.
var (
	// ErrOutboundRefused: the route does not let its handler call that
	// origin (route set --allow-outbound), or the address it resolved to
	// is not one the worker lets handlers reach.
	ErrOutboundRefused = errors.New("nanoedge: outbound call refused")
	// ErrOutboundLimit: the request has used up its outbound calls or
	// response bytes.
	ErrOutboundLimit = errors.New("nanoedge: outbound limit reached")
	// ErrOutboundFailed: the call failed on the way (connection, TLS,
	// the request's deadline).
	ErrOutboundFailed = errors.New("nanoedge: outbound call failed")
)
