// Package client is the Go SDK for Nanoedge's control plane: upload handler
// modules, route them, list what is deployed and watch changes. The
// nanoedge CLI and the data plane's workers are built on it.
package client
