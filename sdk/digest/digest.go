// Package digest names a module by its content: "sha256:" and the 64
// lowercase hex digits of the SHA-256 of its bytes. The registry stores
// modules under it, signatures cover it, and clients check fetched bytes
// against it.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Prefix starts every digest.
const Prefix = "sha256:"

// Of returns the digest of wasm.
func Of(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return Prefix + hex.EncodeToString(sum[:])
}

// Valid reports whether d is a well-formed digest.
func Valid(d string) bool {
	h, ok := strings.CutPrefix(d, Prefix)
	return ok && len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}
