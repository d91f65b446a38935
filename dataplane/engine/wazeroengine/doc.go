// Package wazeroengine implements engine.Engine on wazero, a pure Go
// WebAssembly runtime: no cgo, and a guest cannot reach the host beyond the
// WASI functions it is given (clocks, random, stdout and stderr).
package wazeroengine
