// Package abi defines version 1 of the host<->guest interface of a Nanoedge
// handler module: the names of the functions a module exports and the binary
// encoding of requests and responses. Hosts and the guest SDK share this code,
// so both sides decode exactly the same bytes. docs/abi.md is the reference.
package abi
