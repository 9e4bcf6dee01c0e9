package capture

import (
	"fmt"
	"strings"
	"testing"
)

// TestTotalBufferLimit: many connections each holding out-of-order bytes
// cannot make the assembler buffer more than MaxBufferedTotal (plus one
// segment): past it, the connection being buffered declares its hole lost.
func TestTotalBufferLimit(t *testing.T) {
	var segs []seg
	for i := 0; i < 50; i++ {
		c := fmt.Sprintf("10.0.1.%d:50000", i+1)
		s := "10.0.0.2:135"
		segs = append(segs,
			seg{c, s, 100, 0, "S", ""},
			seg{s, c, 500, 101, "SA", ""},
			seg{c, s, 111, 501, "PA", "0123456789abcdefghij"}, // hole of 10 before it
		)
	}
	r, _ := runSegs(t, segs, Options{MaxBufferedTotal: 5 * (20 + segOverhead)})
	// Connections 1 to 5 fit (20 bytes and the overhead each); from the 6th on, each
	// connection's hole is declared lost as soon as its data arrives, that
	// is before the next connection opens (not in the end-of-capture flush).
	immediate := 0
	for k, e := range r.events {
		var id, frame, n int
		if _, err := fmt.Sscanf(e, "gap %d c2s f0:%d %d", &id, &frame, &n); err != nil {
			continue
		}
		for _, later := range r.events[k:] {
			if strings.HasPrefix(later, fmt.Sprintf("open %d ", id+1)) {
				immediate++
				break
			}
		}
	}
	if immediate < 44 {
		t.Fatalf("%d holes declared lost at once, want at least 44:\n%v", immediate, r.events)
	}
}
