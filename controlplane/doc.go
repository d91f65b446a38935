// Package controlplane serves Nanoedge's gRPC API. It validates requests,
// calls the registry, which each service sees through the small interface it
// declares (store.go), and
// maps errors to gRPC codes through one table (errors.go).
package controlplane
