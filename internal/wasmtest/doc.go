// Package wasmtest builds the repository's handler modules for tests, once
// per test binary.
package wasmtest
