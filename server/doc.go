// Package server assembles Nanoedge's processes from their packages: a
// control plane (registry + gRPC API) and a worker (data plane + SDK client
// + engine). The CLI and the system tests start them the same way.
package server
