package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/spf13/pflag"
)

// defaultMaxMemory is --max-memory in MiB: a soft limit of the Go heap that
// makes the garbage collector work harder as the heap nears it, so that the
// process stays under 256 MiB with the other limits at their defaults
// (README, "Damaged captures and limits").
const defaultMaxMemory = 192

// setMemoryLimit applies --max-memory. Without the flag, a GOMEMLIMIT in
// the environment is left as it is.
func setMemoryLimit(fs *pflag.FlagSet, mib int) {
	if !fs.Changed("max-memory") && os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(mib) << 20)
}

const limiterMetric = "/gc/limiter/last-enabled:gc-cycle"

// limiterCycle is the last GC cycle in which the collector's CPU limiter
// was on: it turns on when the live heap is so near the memory limit that
// collecting would take more than half the CPU.
func limiterCycle() uint64 {
	s := []metrics.Sample{{Name: limiterMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// warnMemory says so when, since the limiter cycle before, the heap came so
// near the memory limit that the collector had to be held back: the
// results are whole, but the limit was too small for this input.
func warnMemory(before uint64, stderr io.Writer) {
	if after := limiterCycle(); after > before {
		fmt.Fprintf(stderr, "nspicap: warning: memory: the live heap reached the --max-memory limit of %d MiB and the run slowed down; the results are complete. Raise --max-memory, or lower --max-rows, --max-conns or --max-buffered-total.\n", debug.SetMemoryLimit(-1)>>20)
	}
}
