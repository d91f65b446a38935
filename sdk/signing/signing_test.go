package signing

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateKey()
	digest := "sha256:" + strings.Repeat("ab", 32)
	sig := Sign(priv, "hello", digest)
	pk := priv.Public().(ed25519.PublicKey)
	tests := []struct {
		name, mod, digest string
		sig               []byte
		key               []byte
		want              error
	}{
		{"valid", "hello", digest, sig, pk, nil},
		{"other name", "evil", digest, sig, pk, ErrBadSignature},
		{"other digest", "hello", "sha256:" + strings.Repeat("cd", 32), sig, pk, ErrBadSignature},
		{"other key", "hello", digest, sig, other.Public().(ed25519.PublicKey), ErrBadSignature},
		{"short signature", "hello", digest, sig[:10], pk, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.key, tt.mod, tt.digest, tt.sig); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("exp %v, got %v", tt.want, err)
			}
		})
	}
}

func TestEncodings(t *testing.T) {
	priv, _ := GenerateKey()
	back, err := ParsePrivateKey(MarshalPrivateKey(priv))
	if err != nil || !back.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub, err := ParsePublicKey(EncodePublicKey(priv.Public().(ed25519.PublicKey)))
	if err != nil || KeyID(pub) != KeyID(priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("public key round trip: %v", err)
	}
	id, sig, err := ParseSignature(EncodeSignature("ed25519:0011223344556677", Sign(priv, "a", "b")))
	if err != nil || id != "ed25519:0011223344556677" || Verify(pub, "a", "b", sig) != nil {
		t.Fatalf("signature round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "rsa:AAAA", "ed25519:!!!", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParsePublicKey(%q): exp ErrMalformed, got %v", bad, err)
		}
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("exp ErrMalformed for a foreign PEM, got %v", err)
	}
}

func FuzzParseSignature(f *testing.F) {
	priv, _ := GenerateKey()
	f.Add(EncodeSignature(KeyID(priv.Public().(ed25519.PublicKey)), Sign(priv, "n", "d")))
	f.Add("ed25519:x AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, sig, err := ParseSignature(s)
		if err == nil && (len(sig) != 64 || !strings.HasPrefix(id, "ed25519:")) {
			t.Fatalf("accepted %q as %q/%d bytes", s, id, len(sig))
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	priv, _ := GenerateKey()
	f.Add(EncodePublicKey(priv.Public().(ed25519.PublicKey)))
	f.Add("ed25519:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if pub, err := ParsePublicKey(s); err == nil && len(pub) != 32 {
			t.Fatalf("accepted a %d-byte key", len(pub))
		}
	})
}
