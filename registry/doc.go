// Package registry is Nanoedge's source of truth: a hashicorp/raft replicated
// state machine on bbolt that stores handler modules (content-addressed by
// sha256) and routes. Every write gets a revision, the Raft index of its log
// entry, and Watch streams changes from any retained revision. See DESIGN.md.
package registry
