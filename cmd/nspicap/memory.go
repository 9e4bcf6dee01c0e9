package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/spf13/pflag"
)

// defaultMaxMemory is --max-memory in MiB: a soft limit of the Go heap that
// makes the garbage collector work harder as the heap nears it. It keeps the
// collector's headroom from doubling a large live heap; the other limits
// bound what is live (README, "Damaged captures and limits").
const defaultMaxMemory = 208

// setMemoryLimit applies --max-memory. Without the flag, a GOMEMLIMIT in
// the environment is left as it is.
func setMemoryLimit(fs *pflag.FlagSet, mib int) {
	if !fs.Changed("max-memory") && os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(mib) << 20)
}

const liveMetric = "/gc/heap/live:bytes"

// watchMemory samples the live heap (as of the last collection) ten times a
// second until the returned function is called; that function reports the
// highest sample.
func watchMemory() func() uint64 {
	var peak uint64
	stop := watchLive(func(live uint64) { peak = max(peak, live) })
	return func() uint64 {
		stop()
		return peak
	}
}

// watchLive calls f with the live heap ten times a second, from a goroutine
// of its own, and once more when the returned function stops it.
func watchLive(f func(live uint64)) (stop func()) {
	sample := func() {
		s := []metrics.Sample{{Name: liveMetric}}
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			f(s[0].Value.Uint64())
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
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == math.MaxInt64 || peak < uint64(limit)/10*9 {
		return
	}
	fmt.Fprintf(stderr, "nspicap: warning: memory: the live heap reached %d MiB against the --max-memory limit of %d MiB, so the garbage collector worked harder and the run slowed down; the results are complete. Raise --max-memory, or lower --max-rows, --max-conns or --max-buffered-total.\n", peak>>20, limit>>20)
}
