// Package dataplane is a Nanoedge worker: it follows the registry's routes
// through a watch, fetches and compiles the modules they name, keeps warm
// instances of each, and serves HTTP by running every request through the
// module its route selects. Workers hold no state of their own. See DESIGN.md.
package dataplane
