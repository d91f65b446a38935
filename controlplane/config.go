package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Server.
type Config struct {
	// MaxModuleSize bounds one upload's Wasm bytes.
	MaxModuleSize int64
	// ChunkSize is the size of the chunks FetchModule streams.
	ChunkSize int
	// MaxUploadChunks bounds the messages of one upload, so a client cannot
	// make the server churn through millions of tiny chunks.
	MaxUploadChunks int
	// ValidateModule, if set, judges uploaded bytes before they are stored;
	// an error refuses the upload with InvalidArgument.
	ValidateModule func(ctx context.Context, wasm []byte) error
	// ValidateTimeout bounds ValidateModule, so a module crafted to be slow
	// to compile is refused instead of holding the server.
	ValidateTimeout time.Duration
	// MaxSnapshotSize bounds a backup RestoreSnapshot accepts.
	MaxSnapshotSize int64
	// Auth requires a bearer token on every call but health and reflection.
	Auth bool
	// RequireSignatures refuses uploads not signed by a trusted, unrevoked
	// publisher key.
	RequireSignatures bool
	// WatchProgress is how often a quiet watch gets a progress response
	// (no events, the node's revision), by which workers tell a quiet
	// node from one that stopped answering. A node out of touch with its
	// leader for OutOfTouch ends its watches (Unavailable), so that
	// workers follow another node.
	WatchProgress time.Duration
	OutOfTouch    time.Duration
	// MaxWorkersPerToken bounds the workers one token reports for, and
	// MaxWorkers the fleet the leader keeps telemetry of.
	MaxWorkersPerToken int
	MaxWorkers         int
	// PeerTLS, if set, is how this node dials other nodes' APIs when it
	// forwards calls to the leader.
	PeerTLS *tls.Config
	// Keyring seals and opens secrets; nil refuses secrets.
	Keyring *Keyring
	Logger  *slog.Logger
}

// DefaultConfig returns limits suited to Go handler modules (several MiB).
func DefaultConfig() Config {
	return Config{
		MaxModuleSize:      64 << 20,
		ChunkSize:          256 << 10,
		MaxUploadChunks:    4096,
		ValidateTimeout:    30 * time.Second,
		MaxSnapshotSize:    16 << 30,
		Auth:               true,
		RequireSignatures:  true,
		WatchProgress:      2 * time.Second,
		OutOfTouch:         5 * time.Second,
		MaxWorkersPerToken: 1000,
		MaxWorkers:         10000,
		Logger:             slog.Default(),
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.MaxModuleSize <= 0 || c.MaxSnapshotSize <= 0 {
		errs = append(errs, errors.New("MaxModuleSize and MaxSnapshotSize must be positive"))
	}
	if c.ChunkSize < 1<<10 || c.ChunkSize > 2<<20 {
		errs = append(errs, errors.New("ChunkSize must be between 1 KiB and 2 MiB"))
	}
	if c.WatchProgress <= 0 || c.OutOfTouch <= 0 {
		errs = append(errs, errors.New("WatchProgress and OutOfTouch must be positive"))
	}
	if c.MaxWorkersPerToken <= 0 || c.MaxWorkers <= 0 {
		errs = append(errs, errors.New("MaxWorkersPerToken and MaxWorkers must be positive"))
	}
	if c.MaxUploadChunks <= 0 {
		errs = append(errs, errors.New("MaxUploadChunks must be positive"))
	}
	if c.ValidateTimeout <= 0 {
		errs = append(errs, errors.New("ValidateTimeout must be positive"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("no Logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("controlplane: config: %w", err)
	}
	return nil
}
