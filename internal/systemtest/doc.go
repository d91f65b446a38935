// Package systemtest wires whole Nanoedge nodes together in one process, over
// real gRPC and HTTP on loopback, and drives them as users do.
package systemtest
