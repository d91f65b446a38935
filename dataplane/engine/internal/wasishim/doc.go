// Package wasishim is WASI preview 1 written in Go for engines whose own
// WASI cannot be trusted with a worker (wasmer's aborts the process when a
// guest sleeps) or cannot be pointed at one request's stdin and stdout
// (wasmtime's takes files). An engine adapts each Func to its own host
// function type; the functions see guest memory as a byte slice.
//
// It gives a guest what a handler needs and nothing more: the
// environment, stdin, stdout and stderr, clocks, randomness, sleeps (in
// slices of at most MaxSleepSlice, so that a sleeping guest returns to
// code where its deadline is checked) and exit. No files, no arguments, no
// sockets. A pointer outside guest memory is answered EFAULT, never a
// crash of the host.
package wasishim
