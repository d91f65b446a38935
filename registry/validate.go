package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

const digestPrefix = "sha256:"

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	hostRE = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// Digest returns the content address of wasm: "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return digestPrefix + hex.EncodeToString(sum[:])
}

func checkDigest(digest string, wasm []byte) error {
	if got := Digest(wasm); got != digest {
		return fmt.Errorf("%w: digest %s does not match content %s", ErrInvalid, digest, got)
	}
	return nil
}

// ValidateName checks a module name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: module name %q: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

func validateRoute(host, pathPrefix string) error {
	if host != "" && !hostRE.MatchString(host) {
		return fmt.Errorf("%w: route host %q: want a lowercase host name without port, or empty for any host", ErrInvalid, host)
	}
	if !strings.HasPrefix(pathPrefix, "/") {
		return fmt.Errorf("%w: route path prefix %q must start with /", ErrInvalid, pathPrefix)
	}
	if strings.ContainsAny(pathPrefix, "?#") || strings.ContainsFunc(pathPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: route path prefix %q has characters a path cannot hold", ErrInvalid, pathPrefix)
	}
	return nil
}
