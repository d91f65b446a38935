package fetch

import (
	"errors"
)

// Errors of outbound calls in a worker, wrapped by the error a call
// returns (http.Get's *url.Error wraps it in turn). The text says why.
var (
	// ErrRefused: the route does not let its handler call that
	// origin (route set --allow-outbound), or the address it resolved to
	// is not one the worker lets handlers reach.
	ErrRefused = errors.New("nanoedge: outbound call refused")
	// ErrLimit: the request has used up its outbound calls or
	// response bytes.
	ErrLimit = errors.New("nanoedge: outbound limit reached")
	// ErrFailed: the call failed on the way (connection, TLS,
	// the request's deadline).
	ErrFailed = errors.New("nanoedge: outbound call failed")
)
