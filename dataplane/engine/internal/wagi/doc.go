// Package wagi translates between Nanoedge's ABI and CGI, as WAGI does
// for WebAssembly: a module that is a plain WASI command (any language that
// targets WASI) gets the request in its environment and on stdin, and
// writes a CGI response to stdout. Engines use it to run such modules
// behind the same interface as ABI modules.
package wagi
