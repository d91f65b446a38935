// Package cli implements the nanoedge command: one function per subcommand,
// each parsing its own flags and calling the SDK or the server assembly.
package cli
