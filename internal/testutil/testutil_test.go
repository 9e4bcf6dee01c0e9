package testutil

import (
	"runtime"
	"testing"
)

func TestFirstDiff(t *testing.T) {
	for _, c := range []struct{ want, got, diff string }{
		{"a\nb", "a\nb", ""},
		{"a\nb", "a\nc", "line 2:\nwant \"b\"\ngot  \"c\""},
		{"a", "a\n", "line 2:\nwant (none)\ngot  \"\""},
		{"a\nb", "a", "line 2:\nwant \"b\"\ngot  (none)"},
	} {
		if d := FirstDiff(c.want, c.got); d != c.diff {
			t.Errorf("FirstDiff(%q, %q) = %q; want %q", c.want, c.got, d, c.diff)
		}
	}
}

func TestHeapAfterGC(t *testing.T) {
	before := HeapAfterGC()
	keep := make([]byte, 32<<20)
	if after := HeapAfterGC(); after < before+30<<20 {
		t.Errorf("heap %d after allocating 32 MiB, %d before", after, before)
	}
	runtime.KeepAlive(keep)
}

func TestSlow(t *testing.T) {
	for _, c := range []struct {
		v    string
		slow bool
	}{{"", false}, {"0", false}, {"1", true}, {"yes", true}} {
		t.Setenv(SlowEnv, c.v)
		if Slow() != c.slow || Size(1, 2) != map[bool]int{false: 1, true: 2}[c.slow] {
			t.Errorf("%s=%q: Slow() = %v, Size(1, 2) = %d", SlowEnv, c.v, Slow(), Size(1, 2))
		}
	}
}
