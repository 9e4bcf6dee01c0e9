package testutil

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// FirstDiff shows the first line where got differs from want, quoted, with
// its number (a line one text does not have shows as "(none)"); "" when
// the texts are equal.
func FirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	line := func(l []string, i int) string {
		if i < len(l) {
			return fmt.Sprintf("%q", l[i])
		}
		return "(none)"
	}
	for i := 0; i < len(w) || i < len(g); i++ {
		if a, b := line(w, i), line(g, i); a != b {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, a, b)
		}
	}
	return ""
}

// HeapAfterGC runs a collection and returns the bytes of heap objects then
// allocated (runtime.MemStats.HeapAlloc).
func HeapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// SlowEnv is the one switch for the slow variants of the tests:
// NSPICAP_SLOW_TESTS=1 go test ./... runs every test at the size it had
// before the suite was made quick (CI sets it; docs/testing.md lists what it
// turns on). Without it, go test ./... runs the same tests with the same
// assertions, at sizes still large enough to prove them.
const SlowEnv = "NSPICAP_SLOW_TESTS"

// Slow reports whether the slow variants are on: NSPICAP_SLOW_TESTS is set
// to anything but "" or "0". The environment is read, never written, so
// parallel tests may call it.
func Slow() bool {
	v := os.Getenv(SlowEnv)
	return v != "" && v != "0"
}

// Size returns slow when the slow variants are on, else quick.
func Size[T any](quick, slow T) T {
	if Slow() {
		return slow
	}
	return quick
}
