package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/nspicap/nspicap/internal/safetext"
)

// startProfiles writes Go profiles for nspicap's own developers when the
// environment asks: NSPICAP_CPUPROFILE=FILE (CPU, for the whole run) and
// NSPICAP_MEMPROFILE=FILE (the heap as it was when the live heap was at its
// largest, sampled every 100 ms, and at the end if that is larger). The
// returned function stops them.
func startProfiles() func() {
	cpu, mem := os.Getenv("NSPICAP_CPUPROFILE"), os.Getenv("NSPICAP_MEMPROFILE")
	var stop []func()
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			stop = append(stop, func() { pprof.StopCPUProfile(); f.Close() })
		} else {
			fmt.Fprintf(os.Stderr, "nspicap: NSPICAP_CPUPROFILE %s: cannot write the profile\n", safetext.Line(cpu))
		}
	}
	if mem != "" {
		runtime.MemProfileRate = 64 << 10
		p := &peakProfile{file: mem}
		stopWatch := watchLive(p.sample)
		stop = append(stop, func() {
			stopWatch()
			if p.err {
				fmt.Fprintf(os.Stderr, "nspicap: NSPICAP_MEMPROFILE %s: cannot write the profile\n", safetext.Line(mem))
			}
		})
	}
	return func() {
		for _, s := range stop {
			s()
		}
	}
}

// peakProfile keeps the heap profile of the largest live heap seen.
type peakProfile struct {
	file string
	max  uint64
	err  bool
}

func (p *peakProfile) sample(live uint64) {
	if p.max != 0 && live <= p.max+p.max/20 {
		return
	}
	p.max = live
	f, err := os.Create(p.file)
	if err != nil {
		p.err = true
		return
	}
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
}
