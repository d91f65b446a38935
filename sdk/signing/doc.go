// Package signing signs and verifies Nanoedge handler modules with ed25519
// publisher keys. A signature covers the module's name and content digest,
// so neither can be swapped without the publisher's key.
package signing
