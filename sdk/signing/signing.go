package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrBadSignature: the signature does not verify with the key.
	ErrBadSignature = errors.New("signing: signature does not verify")
	// ErrMalformed: a key or signature is not in the expected encoding.
	ErrMalformed = errors.New("signing: malformed")
)

const pemType = "NANOEDGE PUBLISHER KEY"

// Payload is what a publisher signs for a module.
func Payload(name, digest string) []byte {
	return []byte("nanoedge.module.v1\x00" + name + "\x00" + digest)
}

// KeyID names a public key: "ed25519:" and 16 hex digits of its sha256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new private key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// Sign signs a module's name and digest.
func Sign(priv ed25519.PrivateKey, name, digest string) []byte {
	return ed25519.Sign(priv, Payload(name, digest))
}

// Verify checks sig over name and digest.
func Verify(pub ed25519.PublicKey, name, digest string, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrMalformed, len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, Payload(name, digest), sig) {
		return fmt.Errorf("%w: %s over %s@%s", ErrBadSignature, KeyID(pub), name, digest)
	}
	return nil
}

// MarshalPrivateKey encodes a private key as PEM (its 32-byte seed).
func MarshalPrivateKey(priv ed25519.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: priv.Seed()})
}

// ParsePrivateKey decodes MarshalPrivateKey's output.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("%w: not a %q PEM block", ErrMalformed, pemType)
	}
	if len(block.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: key seed is %d bytes, want %d", ErrMalformed, len(block.Bytes), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(block.Bytes), nil
}

// EncodePublicKey renders a public key as "ed25519:<base64>".
func EncodePublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey decodes EncodePublicKey's output.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "ed25519:")
	if !ok {
		return nil, fmt.Errorf("%w: public key must start with \"ed25519:\"", ErrMalformed)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrMalformed, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// EncodeSignature renders a detached signature file's content.
func EncodeSignature(keyID string, sig []byte) string {
	return keyID + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// ParseSignature decodes EncodeSignature's output.
func ParseSignature(s string) (keyID string, sig []byte, err error) {
	keyID, b64, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || !strings.HasPrefix(keyID, "ed25519:") {
		return "", nil, fmt.Errorf("%w: signature file: want \"ed25519:<id> <base64>\"", ErrMalformed)
	}
	sig, err = base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return "", nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(sig), ed25519.SignatureSize)
	}
	return keyID, sig, nil
}
