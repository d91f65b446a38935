// Package layers holds the test that keeps the package tree layered:
// every import runs down, never up (docs/architecture.md draws the
// layers). Run it alone with
//
//	go test ./internal/layers
package layers
