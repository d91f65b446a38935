package rewrite

import (
	"errors"
	"testing"

	"github.com/nanoedge/nanoedge/internal/testing/enginetest"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

func TestCheckBounds(t *testing.T) {
	for name, wasm := range map[string][]byte{
		"hello (Go)":     guests.Build(t, guests.Hello),
		"misbehave (Go)": guests.Build(t, guests.Misbehave),
		"echo (C)":       guests.BuildC(t, guests.CEcho),
		"spin":           spin,
		"recurse":        recurse,
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckBounds(wasm); err != nil {
				t.Fatalf("a real module refused: %v", err)
			}
			instrumented, err := Instrument(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckBounds(instrumented); err != nil {
				t.Fatalf("the instrumented module refused: %v", err)
			}
		})
	}
	for name, wasm := range enginetest.DecoderBombs() {
		t.Run(name, func(t *testing.T) {
			err := CheckBounds(wasm)
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("exp ErrMalformed or ErrUnsupported, got %v", err)
			}
		})
	}
}
