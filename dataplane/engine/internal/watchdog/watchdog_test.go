package watchdog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
)

// raises counts a Watch's raises.
func raises(d *Watchdog) (*Watch, *atomic.Int32) {
	var n atomic.Int32
	return d.NewWatch(func() { n.Add(1) }), &n
}

func newWatchdog(t *testing.T) *Watchdog {
	t.Helper()
	d := New()
	t.Cleanup(d.Close)
	return d
}

// within polls cond until it holds or 5 s pass, and reports whether it
// held.
func within(cond func() bool) bool {
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

func TestWatchdogRaisesEndedCalls(t *testing.T) {
	d := newWatchdog(t)
	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
	}{
		{"deadline passes", func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}},
		{"canceled while running", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			t.Cleanup(cancel)
			return ctx
		}},
		{"deadline without a Done channel", func(*testing.T) context.Context {
			return deadlineOnly{time.Now().Add(20 * time.Millisecond)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, n := raises(d)
			start := time.Now()
			d.Start(tt.ctx(t), w)
			if !within(func() bool { return n.Load() == 1 }) {
				t.Fatal("not raised within 5s")
			}
			if took := time.Since(start); took < 20*time.Millisecond {
				t.Errorf("raised after %v, before the call ended", took)
			}
			time.Sleep(5 * Tick) // a raised call is not raised again
			if !d.Stop(w) || n.Load() != 1 {
				t.Fatalf("Stop = false or raised %d times; want true, once", n.Load())
			}
		})
	}
}

func TestWatchdogLeavesLiveCalls(t *testing.T) {
	d := newWatchdog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, ctx := range []context.Context{ctx, context.Background()} {
		w, n := raises(d)
		d.Start(ctx, w)
		time.Sleep(10 * Tick)
		if d.Stop(w) || n.Load() != 0 {
			t.Fatalf("a call with its context alive was raised (%d)", n.Load())
		}
	}
	// Stopped before its deadline, a call is no longer watched.
	w, n := raises(d)
	short, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	d.Start(short, w)
	d.Stop(w)
	<-short.Done()
	time.Sleep(10 * Tick)
	if n.Load() != 0 {
		t.Fatal("a stopped call was raised")
	}
}

func TestWatchdogRaisesAnEndedContextAtOnce(t *testing.T) {
	d := newWatchdog(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, n := raises(d)
	d.Start(ctx, w)
	if n.Load() != 1 {
		t.Fatal("Start with an ended context did not raise")
	}
	if !d.Stop(w) {
		t.Fatal("Stop = false after a raise")
	}
	// The same Watch serves the instance's next call afresh.
	d.Start(context.Background(), w)
	if d.Stop(w) {
		t.Fatal("Stop = true for a call that was not raised")
	}
}

// Many calls start and stop concurrently while some end: exactly the
// ended ones are raised, each once (run with -race).
func TestWatchdogConcurrentCalls(t *testing.T) {
	d := newWatchdog(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			w, n := raises(d)
			for i := range 50 {
				timeout := time.Hour
				ends := (g+i)%5 == 0
				if ends {
					timeout = 2 * time.Millisecond
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				want := n.Load()
				if ends {
					want++
				}
				d.Start(ctx, w)
				if ends {
					<-ctx.Done()
					within(func() bool { return n.Load() == want })
				}
				if raised := d.Stop(w); raised != ends || n.Load() != want {
					t.Errorf("goroutine %d call %d: Stop = %v, raises %d; want %v", g, i, raised, n.Load()-want, ends)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if n := len(d.watched); n != 0 {
		t.Fatalf("%d calls still watched", n)
	}
}

func TestWatchdogCloseStopsItsGoroutine(t *testing.T) {
	d := New()
	w, _ := raises(d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	d.Start(ctx, w) // ticking
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	d.Close() // twice is harmless
}

// deadlineOnly has a deadline and no Done channel, like a lazy deadline
// that has not been asked for one: asking would be a failure here.
type deadlineOnly struct{ at time.Time }

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.at, true }
func (deadlineOnly) Done() <-chan struct{}         { panic("Done asked for") }
func (deadlineOnly) Value(any) any                 { return nil }
func (c deadlineOnly) Err() error {
	if time.Now().Before(c.at) {
		return nil
	}
	return context.DeadlineExceeded
}

// Call reports engine.ErrDeadline when the watchdog raised the interrupt, and
// the function's own error otherwise.
func TestWatchCallReportsTheDeadline(t *testing.T) {
	d := newWatchdog(t)
	w, _ := raises(d)
	own := errors.New("guest trapped on its own")
	if err := w.Call(context.Background(), func() error { return own }); err != own {
		t.Fatalf("Call = %v, exp the function's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	err := w.Call(ctx, func() error { <-ctx.Done(); time.Sleep(10 * Tick); return own })
	if !errors.Is(err, engine.ErrDeadline) || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("Call = %v, exp engine.ErrDeadline with the context's cause", err)
	}
}
