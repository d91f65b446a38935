// Package wasmbuild compiles a Go package that uses the guest SDK into a
// Nanoedge handler module with the local Go toolchain.
package wasmbuild
