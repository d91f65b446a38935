package dataplane

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestLazyDeadline(t *testing.T) {
	const short = 20 * time.Millisecond
	for _, tc := range []struct {
		name string
		// use does what a caller would before the deadline passes.
		use func(ctx context.Context) (fired <-chan struct{})
	}{
		{"never asked for Done", func(context.Context) <-chan struct{} { return nil }},
		{"Done asked for", func(ctx context.Context) <-chan struct{} { return ctx.Done() }},
		{"AfterFunc, as engines use it", func(ctx context.Context) <-chan struct{} {
			fired := make(chan struct{})
			context.AfterFunc(ctx, func() { close(fired) })
			return fired
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := context.WithValue(context.Background(), ctxKey{}, "v")
			ctx := withLazyDeadline(parent, short)
			t.Cleanup(ctx.stop)
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > short {
				t.Fatalf("Deadline() = %v, %v; want within %v", dl, ok, short)
			}
			if err := ctx.Err(); err != nil {
				t.Fatalf("Err() before the deadline = %v", err)
			}
			fired := tc.use(ctx)
			if got := ctx.Value(ctxKey{}); got != "v" {
				t.Fatalf("Value() = %v; want the parent's", got)
			}
			if fired != nil {
				select {
				case <-fired:
				case <-time.After(10 * time.Second):
					t.Fatal("nothing fired at the deadline")
				}
			} else {
				waitFor(t, func() bool { return ctx.Err() != nil })
			}
			if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Err() after the deadline = %v", err)
			}
			select {
			case <-ctx.Done():
			default:
				t.Fatal("Done() open after Err() reported the deadline")
			}
			if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Cause() = %v", err)
			}
		})
	}
}

func TestLazyDeadlineFollowsParent(t *testing.T) {
	t.Run("canceled while armed", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx := withLazyDeadline(parent, time.Hour)
		t.Cleanup(ctx.stop)
		done := ctx.Done()
		cancel()
		<-done
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err() = %v; want Canceled", err)
		}
	})
	t.Run("canceled before asked", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx := withLazyDeadline(parent, time.Hour)
		t.Cleanup(ctx.stop)
		cancel()
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err() = %v; want Canceled", err)
		}
		<-ctx.Done()
	})
	t.Run("parent's deadline is sooner", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		ctx := withLazyDeadline(parent, time.Hour)
		t.Cleanup(ctx.stop)
		pd, _ := parent.Deadline()
		if dl, _ := ctx.Deadline(); !dl.Equal(pd) {
			t.Fatalf("Deadline() = %v; want the parent's %v", dl, pd)
		}
	})
	t.Run("stop cancels", func(t *testing.T) {
		ctx := withLazyDeadline(context.Background(), time.Hour)
		done := ctx.Done()
		ctx.stop()
		<-done
	})
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition never held")
		}
	}
}

// BenchmarkRequestContext compares what a request pays for its deadline
// when nothing waits on it: the wasmtime engine's path.
func BenchmarkRequestContext(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	b.Run("WithTimeout", func(b *testing.B) {
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Second)
			_, _ = ctx.Deadline()
			_ = ctx.Err()
			cancel()
		}
	})
	b.Run("lazy", func(b *testing.B) {
		for b.Loop() {
			ctx := withLazyDeadline(parent, time.Second)
			_, _ = ctx.Deadline()
			_ = ctx.Err()
			ctx.stop()
		}
	})
}
