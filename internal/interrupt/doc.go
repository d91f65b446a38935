// Package interrupt instruments a WebAssembly module so that a host can
// stop it cheaply: every loop begins by reading an exported mutable i32
// global, GlobalName, and traps (unreachable) when it is not zero. Setting
// the global from another goroutine stops a guest at its next loop
// iteration, which is what a deadline needs, at the cost of a load and a
// branch per iteration. CapMemory sets a maximum on a module's memories,
// for engines that cannot cap memory themselves.
package interrupt
