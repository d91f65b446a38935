package dataplane

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is a request's context with the route's deadline, like
// context.WithDeadline's, except that it arms no timer and does not
// register with its parent until something asks for its Done channel or
// its values. Guest calls read only Deadline and Err (wasmtime's epochs,
// wazero's and wasmer's engine.Watchdog), and a request that finds an
// instance free never waits for one, so on the common path the timer and
// the registration are never paid for (BenchmarkRequestContext).
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	armed  context.Context // parent with the deadline, once asked for
	cancel context.CancelFunc
}

// withLazyDeadline returns parent bounded by timeout; its stop method
// releases what it took and is to be called when the work is done.
func withLazyDeadline(parent context.Context, timeout time.Duration) *lazyDeadline {
	d := time.Now().Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &lazyDeadline{parent: parent, deadline: d}
}

// arm returns the context with the deadline, making it on first use.
// Made past the deadline, it is canceled at once.
func (c *lazyDeadline) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.armed
}

func (c *lazyDeadline) armedContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

func (c *lazyDeadline) stop() {
	if c.armedContext() != nil {
		c.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().Done() }

// Err answers without arming while the deadline is ahead and the parent
// alive. Past it, arming cancels at once, so Err, Done and
// context.Cause agree.
func (c *lazyDeadline) Err() error {
	if armed := c.armedContext(); armed != nil {
		return armed.Err()
	}
	if c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.arm().Err()
}

// Value arms: context.Cause finds the cancellation's cause through it.
func (c *lazyDeadline) Value(key any) any { return c.arm().Value(key) }
