package registry

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput is one operation on a route: put sets its module, get reads it.
type kvInput struct {
	put   bool
	key   string
	value string
}

// routeModel is a register per route path; reads of a missing route see "".
var routeModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %.15s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %.15s", in.key, output)
	},
}

// TestLinearizableUnderFaults runs clients against a 3-node cluster while a
// seeded nemesis partitions, heals, kills and restarts nodes, then checks
// the history of route writes and linearizable reads with porcupine. Set
// NANOEDGE_LINEARIZABILITY_SEEDS to run more seeds (make soak).
func TestLinearizableUnderFaults(t *testing.T) {
	seeds := 2
	if s, err := strconv.Atoi(os.Getenv("NANOEDGE_LINEARIZABILITY_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { checkLinearizable(t, seed) })
	}
}

func checkLinearizable(t *testing.T, seed int64) {
	fn := newFaultNet()
	// Fixed addresses so a restarted node keeps its identity.
	var cfgs []Config
	for i := 0; i < 3; i++ {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		cfg := testConfig(t.TempDir())
		cfg.NodeID, cfg.RaftAddr, cfg.Layer = fmt.Sprintf("n%d", i+1), addr, fn.layer
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
		cfg.Bootstrap = i == 0
		cfgs = append(cfgs, cfg)
	}
	var mu sync.Mutex
	stores := make([]*Store, 3)
	for i, cfg := range cfgs {
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range stores {
			if s != nil {
				s.Close()
			}
		}
	})
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := stores[0].WaitLeader(wctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	for _, s := range stores[1:] {
		if err := stores[0].AddVoter(ctx, s.NodeID(), s.RaftAddr(), ""); err != nil {
			t.Fatal(err)
		}
	}
	var digests []string
	for i := 0; i < 3; i++ {
		digests = append(digests, mustPut(t, stores[0], "m", fakeWasm(strconv.Itoa(i))).Digest)
	}

	start := time.Now()
	now := func() int64 { return time.Since(start).Nanoseconds() }
	var hmu sync.Mutex
	var history []porcupine.Operation
	record := func(op porcupine.Operation) {
		hmu.Lock()
		history = append(history, op)
		hmu.Unlock()
	}
	pick := func(r *rand.Rand) *Store {
		mu.Lock()
		defer mu.Unlock()
		return stores[r.Intn(3)]
	}

	const runFor = 3 * time.Second
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed*100 + int64(c)))
			for time.Since(start) < runFor {
				s := pick(r)
				if s == nil || !s.IsLeader() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				key := "/k/" + strconv.Itoa(r.Intn(3))
				opCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				call := now()
				if r.Intn(2) == 0 {
					v := digests[r.Intn(len(digests))]
					_, _, err := s.SetRoute(opCtx, "", key, v, nil)
					ret := now()
					if err != nil {
						ret = math.MaxInt64 // may or may not have happened
					}
					record(porcupine.Operation{ClientId: c, Input: kvInput{put: true, key: key, value: v}, Call: call, Output: "", Return: ret})
				} else if err := s.LinearizableRead(opCtx); err == nil {
					v := ""
					routes, _, err := s.ListRoutes()
					for _, rt := range routes {
						if rt.PathPrefix == key {
							v = rt.ModuleDigest
						}
					}
					if err == nil {
						record(porcupine.Operation{ClientId: c, Input: kvInput{key: key}, Call: call, Output: v, Return: now()})
					}
				}
				cancel()
			}
		}(c)
	}

	// The nemesis: cut one node off, heal, or kill and restart one.
	r := rand.New(rand.NewSource(seed))
	for time.Since(start) < runFor {
		time.Sleep(time.Duration(150+r.Intn(250)) * time.Millisecond)
		i := r.Intn(3)
		switch r.Intn(3) {
		case 0:
			var others []string
			for j, c := range cfgs {
				if j != i {
					others = append(others, c.RaftAddr)
				}
			}
			fn.partition([]string{cfgs[i].RaftAddr}, others)
		case 1:
			fn.heal()
		case 2:
			mu.Lock()
			s := stores[i]
			stores[i] = nil
			mu.Unlock()
			s.Close()
			cfg := cfgs[i]
			cfg.Bootstrap = false
			s, err := Open(cfg)
			if err != nil {
				t.Fatalf("restart %s: %v", cfg.NodeID, err)
			}
			mu.Lock()
			stores[i] = s
			mu.Unlock()
		}
	}
	wg.Wait()
	fn.heal()

	res, info := porcupine.CheckOperationsVerbose(routeModel, history, 30*time.Second)
	if res != porcupine.Ok {
		f, _ := os.CreateTemp("", "nanoedge-linearizability-*.html")
		porcupine.Visualize(routeModel, info, f)
		f.Close()
		t.Fatalf("history of %d operations is %s; visualization in %s", len(history), res, f.Name())
	}
	writes := 0
	for _, op := range history {
		if op.Input.(kvInput).put && op.Return != math.MaxInt64 {
			writes++
		}
	}
	if writes < 10 || len(history)-writes < 10 {
		t.Fatalf("too little happened to judge: %d operations, %d acknowledged writes", len(history), writes)
	}
	t.Logf("seed %d: %d operations (%d acknowledged writes) linearizable", seed, len(history), writes)
	waitConverged(t, stores)
}
