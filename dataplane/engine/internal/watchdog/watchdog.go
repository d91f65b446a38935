package watchdog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
)

// Tick is how often a Watchdog looks at the calls it watches: a
// call is interrupted at most this long after its deadline (plus the time
// the guest takes to reach its next check).
const Tick = time.Millisecond

// Watchdog interrupts guest calls whose context has ended or whose
// deadline has passed, for engines that stop a guest by raising a flag it
// checks (wazero and wasmer with dataplane/engine/internal/rewrite's instrumentation). One
// ticker serves every call, and ticks only while calls are in flight: a
// call costs two short critical sections instead of a timer and a
// registration with its context (context.AfterFunc).
type Watchdog struct {
	mu      sync.Mutex
	watched []*Watch
	wake    chan struct{} // a first call began; buffered
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// Watch is one instance's standing under a Watchdog. An instance keeps
// one for its life: its calls never overlap, so one Watch serves each in
// turn.
type Watch struct {
	dog      *Watchdog
	raise    func()
	ctx      context.Context
	deadline time.Time // zero: none
	index    int       // in Watchdog.watched, while watched
	raised   bool
}

// NewWatch returns a Watch under d whose raise interrupts the instance.
func (d *Watchdog) NewWatch(raise func()) *Watch { return &Watch{dog: d, raise: raise, index: -1} }

// Call runs fn watched under ctx. If ctx ends first, the interrupt is
// raised and Call reports engine.ErrDeadline, with ctx's cause, whatever fn
// returned; otherwise it returns fn's error.
func (w *Watch) Call(ctx context.Context, fn func() error) error {
	w.dog.Start(ctx, w)
	err := fn()
	if w.dog.Stop(w) {
		return fmt.Errorf("%w: %v", engine.ErrDeadline, context.Cause(ctx))
	}
	return err
}

// New starts a watchdog; Close stops it.
func New() *Watchdog {
	d := &Watchdog{wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go d.run()
	return d
}

// Close stops the watchdog's goroutine. Calls still watched are no longer
// interrupted.
func (d *Watchdog) Close() {
	d.once.Do(func() { close(d.done) })
	<-d.stopped
}

// Start watches a call under ctx until Stop. A context that has ended
// already raises the interrupt at once. A context without a deadline or a
// Done channel is not watched. Start does not ask ctx for its Done
// channel when it has a deadline (which would arm a lazy one).
func (d *Watchdog) Start(ctx context.Context, w *Watch) {
	w.raised = false
	deadline, ok := ctx.Deadline()
	if !ok && ctx.Done() == nil {
		return
	}
	if ctx.Err() != nil {
		w.raised = true
		w.raise()
		return
	}
	w.ctx, w.deadline = ctx, deadline
	d.mu.Lock()
	w.index = len(d.watched)
	d.watched = append(d.watched, w)
	first := len(d.watched) == 1
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Stop ends the watch Start began and reports whether the interrupt was
// raised, in which case the instance is not to be used again (its guest
// trapped, or will at its next check).
func (d *Watchdog) Stop(w *Watch) (raised bool) {
	d.mu.Lock()
	if i := w.index; i >= 0 {
		last := len(d.watched) - 1
		d.watched[i] = d.watched[last]
		d.watched[i].index = i
		d.watched[last] = nil
		d.watched = d.watched[:last]
		w.index = -1
	}
	raised = w.raised
	d.mu.Unlock()
	w.ctx = nil
	return raised
}

func (d *Watchdog) run() {
	defer close(d.stopped)
	for {
		select {
		case <-d.wake:
		case <-d.done:
			return
		}
		t := time.NewTicker(Tick)
		for d.sweep(time.Now()) {
			select {
			case <-t.C:
			case <-d.done:
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

// sweep raises the interrupt of every call past its deadline or whose
// context has ended, and reports whether calls are still in flight.
func (d *Watchdog) sweep(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.watched {
		if w.raised {
			continue
		}
		if (!w.deadline.IsZero() && !now.Before(w.deadline)) || w.ctx.Err() != nil {
			w.raised = true
			w.raise()
		}
	}
	return len(d.watched) > 0
}
