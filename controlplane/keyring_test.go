package controlplane

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyring: a sealed value opens only in its place and with a key
// that sealed it; it never holds the value; an older key still opens
// what it sealed.
func TestKeyring(t *testing.T) {
	oldKey, newKeyBytes := newKey(t), newKey(t)
	old, err := NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	value := []byte("sk_live_0123456789")
	sec, err := old.Seal("app", "API_KEY", value)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sec.Sealed, value) || strings.Contains(sec.Digest, "sk_live") || len(sec.Digest) != 16 {
		t.Fatalf("the sealed secret gives the value away: %+v", sec)
	}
	again, _ := old.Seal("app", "API_KEY", value)
	if bytes.Equal(again.Sealed, sec.Sealed) || again.Digest != sec.Digest {
		t.Fatal("sealing twice must differ in bytes and agree in digest")
	}
	if v, err := old.Open("app", "API_KEY", sec); err != nil || !bytes.Equal(v, value) {
		t.Fatalf("open: %q %v", v, err)
	}
	for _, c := range []struct{ module, name string }{{"other", "API_KEY"}, {"app", "OTHER"}} {
		if _, err := old.Open(c.module, c.name, sec); err == nil {
			t.Fatalf("a secret opened as %s/%s", c.module, c.name)
		}
	}
	tampered := proto.Clone(sec).(*registryv1.Secret)
	tampered.Sealed[len(tampered.Sealed)-1] ^= 1
	if _, err := old.Open("app", "API_KEY", tampered); err == nil {
		t.Fatal("a tampered secret opened")
	}
	rotated, err := NewKeyring(newKeyBytes, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rotated.Open("app", "API_KEY", sec); err != nil || !bytes.Equal(v, value) {
		t.Fatalf("open with the old key kept: %q %v", v, err)
	}
	only, _ := NewKeyring(newKeyBytes)
	if _, err := only.Open("app", "API_KEY", sec); err == nil || !strings.Contains(err.Error(), "which this node does not have") {
		t.Fatalf("open without the key that sealed it: %v", err)
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("a short key was taken")
	}
	var none *Keyring
	if _, err := none.Seal("app", "X", value); err != ErrNoDataKey {
		t.Fatalf("sealing without a key: %v", err)
	}
}
