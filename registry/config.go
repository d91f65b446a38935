package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a Store.
type Config struct {
	// DataDir holds the Raft log, snapshots and the state database.
	DataDir string
	// NodeID is this node's Raft server ID; stable across restarts.
	NodeID string
	// RaftAddr is the host:port the Raft transport listens on. Port 0 picks
	// a free port, which suits tests and single-node use.
	RaftAddr string
	// RaftAdvertise is the address peers dial to reach this node, when it
	// differs from RaftAddr (listening on 0.0.0.0, behind NAT, in a pod).
	RaftAdvertise string
	// TLS, if set, runs Raft over mutual TLS. Certificates[0] is this
	// node's certificate, whose common name must be NodeID; RootCAs is the
	// cluster CA every peer's certificate must chain to. A peer is accepted
	// only if the certificate it presents names a member of the cluster,
	// and a dialed member must present the certificate of the node the
	// configuration has at that address.
	TLS *tls.Config
	// Insecure allows plain TCP Raft on an address other than loopback.
	// Anyone who reaches such a port can append entries to the log, that
	// is, write anything into the registry.
	Insecure bool
	// Bootstrap creates a new single-voter cluster when DataDir holds no state.
	Bootstrap bool
	// Recover rewrites the Raft configuration found in DataDir to this node
	// alone, then starts: disaster recovery from one surviving node's data
	// (or a copy of it) when the rest of the cluster is gone. Others then
	// join it afresh.
	Recover bool

	// HeartbeatTimeout and ElectionTimeout tune Raft failure detection.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot;
	// TrailingLogs how many stay behind after it.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// ApplyTimeout bounds one write when the caller's context has no deadline.
	ApplyTimeout time.Duration

	// MaxModuleSize bounds the Wasm bytes of one module.
	MaxModuleSize int64
	// Quota bounds the module bytes the registry stores (0: no quota). At
	// quota, uploads fail with ErrQuotaExceeded; everything else works.
	Quota int64
	// HistoryLimit is how many events Watch can replay; older ones are compacted.
	HistoryLimit int

	Logger *slog.Logger

	// Layer, if set, wraps the stream layer Raft uses (TCP, or TLS over
	// TCP); tests put a fault-injecting layer here.
	Layer func(raft.StreamLayer) raft.StreamLayer
}

// DefaultConfig returns a single-node configuration storing under dataDir.
func DefaultConfig(dataDir string) Config {
	return Config{
		DataDir:           dataDir,
		NodeID:            "node1",
		RaftAddr:          "127.0.0.1:7071",
		Bootstrap:         true,
		HeartbeatTimeout:  time.Second,
		ElectionTimeout:   time.Second,
		SnapshotThreshold: 8192,
		TrailingLogs:      10240,
		ApplyTimeout:      10 * time.Second,
		MaxModuleSize:     64 << 20,
		Quota:             8 << 30,
		HistoryLimit:      10000,
		Logger:            slog.Default(),
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is empty"))
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("NodeID is empty"))
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("RaftAddr %q: %w", c.RaftAddr, err))
	} else if c.TLS == nil && !c.Insecure && !IsLoopback(c.RaftAddr) {
		errs = append(errs, fmt.Errorf("RaftAddr %q is not loopback: peers must authenticate with mutual TLS (a cluster CA and node certificates), "+
			"or anyone who reaches the port can write anything into the registry: give Raft TLS (--raft-tls-ca/cert/key), or set Insecure (--insecure) to accept that", c.RaftAddr))
	}
	if c.TLS != nil {
		if err := checkNodeCertificate(c.TLS, c.NodeID); err != nil {
			errs = append(errs, err)
		}
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.ApplyTimeout <= 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	if c.MaxModuleSize <= 0 {
		errs = append(errs, errors.New("MaxModuleSize must be positive"))
	}
	if c.HistoryLimit <= 0 {
		errs = append(errs, errors.New("HistoryLimit must be positive"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("no Logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registry: config: %w", err)
	}
	return nil
}
