// Package enginetest is what every engine.Engine must do, as a suite each
// engine runs against itself: serve the test guests, pass requests through
// unchanged, keep instances apart, stop misbehaving guests (traps, exits,
// runaway loops, long sleeps, memory bombs) with the right error, refuse
// modules that are not handlers, and serve CGI modules.
package enginetest
