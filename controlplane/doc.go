// Package controlplane serves Nanoedge's gRPC API. It validates requests,
// calls a Store (the registry, seen only through the interface it needs) and
// maps errors to gRPC codes through one table (errors.go).
package controlplane
