package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
)

// Member is one node of the cluster as Raft and the registry know it.
type Member struct {
	ID, RaftAddr, GRPCAddr string
	Leader, Voter          bool
}

// Members returns the Raft configuration joined with each node's API
// address, sorted by ID.
func (s *Store) Members() ([]Member, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("registry: configuration: %w", err)
	}
	_, leaderID := s.raft.LeaderWithID()
	var out []Member
	for _, srv := range f.Configuration().Servers {
		addr, _ := s.NodeAddr(string(srv.ID))
		out = append(out, Member{
			ID: string(srv.ID), RaftAddr: string(srv.Address), GRPCAddr: addr,
			Leader: srv.ID == leaderID, Voter: srv.Suffrage == raft.Voter,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// NodeAddr returns the API address a node registered, or ErrNotFound.
func (s *Store) NodeAddr(id string) (string, error) {
	var addr string
	err := s.fsm.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNodes).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: node %q has no API address", ErrNotFound, id)
		}
		addr = string(v)
		return nil
	})
	return addr, err
}

// Leader returns the leader's ID and API address ("" if none is known).
func (s *Store) Leader() (id, grpcAddr string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	addr, _ := s.NodeAddr(string(lid))
	return string(lid), addr
}

// InTouch reports whether this node follows the cluster: it leads, or it
// heard from a leader within bound.
func (s *Store) InTouch(bound time.Duration) bool {
	if s.IsLeader() {
		return true
	}
	if addr, _ := s.raft.LeaderWithID(); addr == "" {
		return false
	}
	return time.Since(s.raft.LastContact()) < bound
}

// NodeID is this node's Raft ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// AddVoter adds a node to the cluster and records its API address. It must
// run on the leader. Adding a member again with the same address changes
// nothing.
func (s *Store) AddVoter(ctx context.Context, id, raftAddr, grpcAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: a member needs an id and a raft address", ErrInvalid)
	}
	if err := s.await(ctx, s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, s.timeout(ctx)), "adding a voter"); err != nil {
		return err
	}
	return s.PutNode(ctx, id, grpcAddr)
}

// PutNode records the API address of a member.
func (s *Store) PutNode(ctx context.Context, id, grpcAddr string) error {
	if err := validateNode(id, grpcAddr); err != nil {
		return err
	}
	if cur, err := s.NodeAddr(id); err == nil && cur == grpcAddr {
		return nil
	}
	_, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutNode{PutNode: &raftlogv1.PutNodeCommand{Id: id, GrpcAddr: grpcAddr}}})
	return err
}

// RemoveMember removes a node from the Raft configuration and forgets its
// API address. It must run on the leader.
func (s *Store) RemoveMember(ctx context.Context, id string) error {
	if err := s.await(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, s.timeout(ctx)), "removing a member"); err != nil {
		return err
	}
	_, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_DeleteNode{DeleteNode: &raftlogv1.DeleteNodeCommand{Id: id}}})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// LinearizableRead returns once this node is the leader and has applied
// every write committed before the call, so a read that follows observes
// all of them. Followers get ErrNotLeader: the API forwards such reads.
func (s *Store) LinearizableRead(ctx context.Context) error {
	if s.raft.State() != raft.Leader {
		return fmt.Errorf("%w (leader: %s)", ErrNotLeader, s.leaderAddr())
	}
	// A new leader may not have applied what its predecessor committed
	// until an entry of its own term commits: one barrier per term.
	term := s.raft.CurrentTerm()
	if !s.barriers.done(term) {
		if err := s.await(ctx, s.raft.Barrier(s.timeout(ctx)), "applying the previous term's writes"); err != nil {
			return err
		}
		s.barriers.mark(term)
	}
	return s.await(ctx, s.raft.VerifyLeader(), "confirming leadership")
}

// await waits for a Raft future as long as the caller and the store do.
// Raft's own timeouts bound only the enqueueing of a request, and it does
// not answer every future on every path: a verify future when it shuts
// down, an apply future on a leader cut off while its entry is in flight.
// what says, in the error, what ran out of time.
func (s *Store) await(ctx context.Context, f raft.Future, what string) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return s.raftErr(err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: %s: %w", ErrUncertain, ErrTimeout, what, ctx.Err())
	case <-s.closed:
		return ErrClosed
	}
}

type termBarriers struct {
	mu   sync.Mutex
	term uint64
}

func (b *termBarriers) done(term uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.term == term
}

func (b *termBarriers) mark(term uint64) {
	b.mu.Lock()
	b.term = max(b.term, term)
	b.mu.Unlock()
}

func (s *Store) timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return s.cfg.ApplyTimeout
}

func (s *Store) raftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrLeadershipLost):
		// Appended, then leadership went: it commits if the next leader
		// has the entry.
		return fmt.Errorf("%w: %v", ErrUncertain, err)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (leader: %s): %v", ErrNotLeader, s.leaderAddr(), err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return fmt.Errorf("registry: raft: %w", err)
}

func validateNode(id, grpcAddr string) error {
	if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("%w: node id %q: want printable ASCII", ErrInvalid, id)
	}
	if err := LimitNodeID.Check(id); err != nil {
		return err
	}
	return LimitNodeAddr.Check(grpcAddr)
}

func (w *writer) putNode(c *raftlogv1.PutNodeCommand) error {
	if err := validateNode(c.Id, c.GrpcAddr); err != nil {
		return err
	}
	if err := w.tx.Bucket(bucketNodes).Put([]byte(c.Id), []byte(c.GrpcAddr)); err != nil {
		return err
	}
	w.audit("put_node", c.Id+" "+c.GrpcAddr)
	return nil
}

func (w *writer) deleteNode(c *raftlogv1.DeleteNodeCommand) error {
	nodes := w.tx.Bucket(bucketNodes)
	if nodes.Get([]byte(c.Id)) == nil {
		return fmt.Errorf("%w: node %q", ErrNotFound, c.Id)
	}
	if err := nodes.Delete([]byte(c.Id)); err != nil {
		return err
	}
	w.audit("delete_node", c.Id)
	return nil
}
