package testutil

import (
	"fmt"
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
