// Package registry is Nanoedge's source of truth: a hashicorp/raft replicated
// state machine on bbolt that stores handler modules (content-addressed by
// sha256) and routes. Every write gets a revision, the Raft index of its log
// entry, and Watch streams changes from any retained revision. Writes and
// calls that wait (Watch, LinearizableRead, WaitLeader) take a context;
// reads are local bbolt reads and take none. See DESIGN.md.
package registry
