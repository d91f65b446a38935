// Package rewrite edits WebAssembly modules so that a host can control
// them, whatever engine runs them:
//
//   - Instrument makes every loop begin by reading an exported mutable
//     i32 global, GlobalName, and trap (unreachable) when it is not zero:
//     setting it from another goroutine stops a guest at its next loop
//     iteration, for a load and a branch per iteration.
//   - CapMemory sets a maximum on a module's memories, for engines that
//     cannot cap memory themselves.
//   - ExportGlobals and Snapshot turn a module whose initialization has
//     run into a module that starts in that state (as Wizer does), so
//     instances skip initialization.
package rewrite
