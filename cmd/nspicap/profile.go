package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes Go profiles for nspicap's own developers when the
// environment asks: NSPICAP_CPUPROFILE=FILE (CPU, for the whole run) and
// NSPICAP_MEMPROFILE=FILE (the heap at the end, after the report is
// written). The returned function stops them.
func startProfiles() func() {
	cpu, mem := os.Getenv("NSPICAP_CPUPROFILE"), os.Getenv("NSPICAP_MEMPROFILE")
	var stop []func()
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			stop = append(stop, func() { pprof.StopCPUProfile(); f.Close() })
		} else {
			fmt.Fprintf(os.Stderr, "nspicap: NSPICAP_CPUPROFILE %s: cannot write the profile\n", cpu)
		}
	}
	if mem != "" {
		runtime.MemProfileRate = 64 << 10
		stop = append(stop, func() {
			f, err := os.Create(mem)
			if err != nil {
				fmt.Fprintf(os.Stderr, "nspicap: NSPICAP_MEMPROFILE %s: cannot write the profile\n", mem)
				return
			}
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		})
	}
	return func() {
		for _, s := range stop {
			s()
		}
	}
}
