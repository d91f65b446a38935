// Package rewrite edits WebAssembly modules so that a host can control
// them, whatever engine runs them:
//
//   - Instrument makes every loop iteration, and every call no count
//     dominates, count down an exported global, CountdownName; at zero
//     the guest traps (unreachable) if the exported flag GlobalName is
//     set, else yields and counts again. A host that sets the flag and
//     zeroes the countdown stops the guest at its next count; the guest
//     pays a load, a store and a branch for each.
//   - CapMemory sets a maximum on a module's memories, for engines that
//     cannot cap memory themselves.
//   - ExportGlobals and Snapshot turn a module whose initialization has
//     run into a module that starts in that state (as Wizer does), so
//     instances skip initialization.
package rewrite
