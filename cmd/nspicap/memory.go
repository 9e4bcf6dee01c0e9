package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
)

// defaultMaxMemory is --max-memory in MiB: a soft limit of the Go heap that
// makes the garbage collector work harder as the heap nears it. It keeps the
// collector's headroom from doubling a large live heap; the other limits
// bound what is live (README, "Damaged captures and limits").
const defaultMaxMemory = 224

// Below --max-memory, nspicap keeps the memory the collector may use near
// what is live instead of Go's default of about twice the live heap, when
// that is cheap: the limit it gives the runtime follows the live heap
// (sampled ten times a second) at memHeadroom times it, never under
// memFloor, as long as that stays within memTarget. A live heap too large
// for that gets Go's own pacing under --max-memory: holding it closer costs
// a third more time (measured on the busy-DC bench capture) for memory
// that would still be above the target. Small runs are not slowed at all:
// twice their live heap is under the floor.
const (
	memFloor    = 40 << 20
	memTarget   = 56 << 20 // with the program's own pages, about 64 MiB resident
	memHeadroom = 1.5
)

// memState is what setMemoryLimit decided, read by the sampling goroutine.
var memState struct {
	ceiling atomic.Int64 // the limit warnMemory reports against; 0: Go's own
	tune    atomic.Bool  // the limit follows the live heap (tunedLimit)
}

// setMemoryLimit applies --max-memory. Without the flag, a GOMEMLIMIT in
// the environment is left as it is; with GOGC in the environment the
// collector is not tuned below the limit.
func setMemoryLimit(fs *pflag.FlagSet, mib int) {
	if !fs.Changed("max-memory") && os.Getenv("GOMEMLIMIT") != "" {
		memState.tune.Store(false)
		memState.ceiling.Store(debug.SetMemoryLimit(-1))
		return
	}
	ceiling := int64(mib) << 20
	memState.ceiling.Store(ceiling)
	tune := os.Getenv("GOGC") == ""
	memState.tune.Store(tune)
	if !tune {
		debug.SetMemoryLimit(ceiling)
		return
	}
	debug.SetMemoryLimit(tunedLimit(liveHeap(), ceiling))
}

// tunedLimit is the runtime's memory limit for a live heap under ceiling.
func tunedLimit(live uint64, ceiling int64) int64 {
	want := int64(float64(live) * memHeadroom)
	if want > memTarget {
		return ceiling
	}
	return min(max(want, memFloor), ceiling)
}

// retune moves the runtime's limit after the live heap.
func retune(live uint64) {
	if memState.tune.Load() {
		debug.SetMemoryLimit(tunedLimit(live, memState.ceiling.Load()))
	}
}

const liveMetric = "/gc/heap/live:bytes"

// watchMemory samples the live heap (as of the last collection) ten times a
// second until the returned function is called, moving the runtime's memory
// limit after it (retune); that function reports the highest sample.
func watchMemory() func() uint64 {
	var peak uint64
	stop := watchLive(func(live uint64) {
		peak = max(peak, live)
		retune(live)
	})
	return func() uint64 {
		stop()
		return peak
	}
}

// liveHeap is the live heap as of the last collection, 0 if unknown.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: liveMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

// watchLive calls f with the live heap ten times a second, from a goroutine
// of its own, and once more when the returned function stops it.
func watchLive(f func(live uint64)) (stop func()) {
	sample := func() {
		if live := liveHeap(); live != 0 {
			f(live)
		}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		sample()
	}
}

// warnMemory says so when the live heap came within a tenth of the memory
// limit: the collector then works much harder and the run slows down. The
// results are whole, but the limit was too small for this input.
func warnMemory(peak uint64, stderr io.Writer) {
	limit := memState.ceiling.Load()
	if limit <= 0 || limit == math.MaxInt64 || peak < uint64(limit)/10*9 {
		return
	}
	fmt.Fprintf(stderr, "nspicap: warning: memory: the live heap reached %d MiB against the --max-memory limit of %d MiB, so the garbage collector worked harder and the run slowed down; the results are complete. Raise --max-memory, or lower --max-rows, --max-conns or --max-buffered-total.\n", peak>>20, limit>>20)
}
