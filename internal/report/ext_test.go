package report

import "testing"

func TestSparkline(t *testing.T) {
	if got := Sparkline([]int{0, 1, 25, 49, 50}, 50); got != " .+%@" {
		t.Errorf("Sparkline = %q", got)
	}
	// Above the limit, the peak is the top of the scale.
	if got := Sparkline([]int{0, 1, 25, 49, 50, 60}, 50); got != " .=##@" {
		t.Errorf("Sparkline = %q", got)
	}
	if got := Sparkline([]int{0, 0}, 0); got != "  " {
		t.Errorf("Sparkline of zeros = %q", got)
	}
}
