package controlplane

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// ErrNoDataKey: this control plane was started without a data key, so it
// can neither seal nor open secrets.
var ErrNoDataKey = errors.New("controlplane: no data key to seal secrets with (--secrets-key-file)")

// Keyring seals secrets with the current data key and opens those any of
// its keys sealed (envelope encryption: each value is sealed with a fresh
// data-encryption key, which the data key seals). Every control plane
// node needs the same keys: any node may serve a worker's watch.
type Keyring struct {
	current string            // key id
	keys    map[string][]byte // by key id
}

// keyID names a data key: the first 16 hex digits of its SHA-256.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// NewKeyring takes the current data key and older ones still sealing
// some secrets; each is 32 bytes.
func NewKeyring(current []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	for i, key := range append([][]byte{current}, older...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("controlplane: data key %d is %d bytes; want 32", i+1, len(key))
		}
		k.keys[keyID(key)] = key
	}
	k.current = keyID(current)
	return k, nil
}

// ReadDataKey reads a data key file: 32 bytes, in base64 or hex (a
// trailing newline is fine).
func ReadDataKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString} {
		if key, err := dec(s); err == nil && len(key) == 32 {
			return key, nil
		}
	}
	return nil, fmt.Errorf("controlplane: %s: want 32 bytes in base64 or hex (make one with: head -c 32 /dev/urandom | base64)", path)
}

// NewDataKey returns a fresh data key, base64-encoded for a file.
func NewDataKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(key) + "\n", nil
}

// CurrentKeyID names the key new secrets are sealed with.
func (k *Keyring) CurrentKeyID() string { return k.current }

const sealVersion = 1

// aad binds a sealed value to its place: module name and secret name.
func aad(module, name string) []byte {
	return []byte("nanoedge.secret.v1\x00" + module + "\x00" + name)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal seals value for module's secret name with the current key.
func (k *Keyring) Seal(module, name string, value []byte) (*registryv1.Secret, error) {
	if k == nil {
		return nil, ErrNoDataKey
	}
	kek, err := gcm(k.keys[k.current])
	if err != nil {
		return nil, err
	}
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, err
	}
	inner, err := gcm(dek)
	if err != nil {
		return nil, err
	}
	ad := aad(module, name)
	out := []byte{sealVersion}
	nonce := make([]byte, kek.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	out = kek.Seal(out, nonce, dek, ad)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	out = inner.Seal(out, nonce, value, ad)
	return &registryv1.Secret{Sealed: out, KeyId: k.current, Digest: k.digest(module, name, value)}, nil
}

// digest tells two values of one secret apart without giving either
// away: an HMAC under a key derived from the current data key.
func (k *Keyring) digest(module, name string, value []byte) string {
	h := hmac.New(sha256.New, k.keys[k.current])
	h.Write([]byte("nanoedge.secret.digest\x00"))
	h.Write(aad(module, name))
	h.Write([]byte{0})
	h.Write(value)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Open returns the value of module's secret name.
func (k *Keyring) Open(module, name string, s *registryv1.Secret) ([]byte, error) {
	if k == nil {
		return nil, ErrNoDataKey
	}
	key, ok := k.keys[s.GetKeyId()]
	if !ok {
		return nil, fmt.Errorf("controlplane: secret %s of %s is sealed by data key %s, which this node does not have (--secrets-old-key-file)", name, module, s.GetKeyId())
	}
	kek, err := gcm(key)
	if err != nil {
		return nil, err
	}
	b := s.GetSealed()
	ns := kek.NonceSize()
	wrapped := 32 + kek.Overhead()
	if len(b) < 1+ns+wrapped+ns || b[0] != sealVersion {
		return nil, fmt.Errorf("controlplane: secret %s of %s: not a sealed value", name, module)
	}
	ad := aad(module, name)
	dek, err := kek.Open(nil, b[1:1+ns], b[1+ns:1+ns+wrapped], ad)
	if err != nil {
		return nil, fmt.Errorf("controlplane: secret %s of %s does not open: %w", name, module, err)
	}
	inner, err := gcm(dek)
	if err != nil {
		return nil, err
	}
	rest := b[1+ns+wrapped:]
	v, err := inner.Open(nil, rest[:ns], rest[ns:], ad)
	if err != nil {
		return nil, fmt.Errorf("controlplane: secret %s of %s does not open: %w", name, module, err)
	}
	return v, nil
}
