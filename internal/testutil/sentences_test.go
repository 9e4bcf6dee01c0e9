package testutil

import (
	"strings"
	"testing"
)

// TestSentenceProblems: each rule fires on the sentence that breaks it and
// not on its corrected form.
func TestSentenceProblems(t *testing.T) {
	for _, c := range []struct {
		verdict  []string
		msg      string
		problems bool
		want     string // "" for none
	}{
		{[]string{"A leaks.", "A leaks."}, "", false, "said twice"},
		{nil, "It held only 0 sessions (limit 50).", false, `"only 0"`},
		{nil, "It held no session (limit 50).", false, ""},
		{[]string{"The capture had 1 decoding anomalies (listed at the end)."}, "", false, `"1 decoding anomalies"`},
		{[]string{"The capture had 1 decoding anomaly (listed at the end)."}, "", false, ""},
		{nil, "1 call stay sealed without a known user.", false, `"1 call stay"`},
		{nil, "1 call stays sealed; 0.5 s, 10.1 calls, x1 calls.", false, ""},
		{[]string{"X died silently.", "No NSPI problems found."}, "", true, "after problems"},
		{[]string{"No NSPI problems found."}, "", false, ""},
		{nil, "It reached 1 minutes. It reached 1 minutes.", false, "said twice"},
	} {
		var msgs []string
		if c.msg != "" {
			msgs = []string{c.msg}
		}
		got := strings.Join(SentenceProblems(c.verdict, msgs, c.problems), "\n")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%q %q: got %q, want %q", c.verdict, c.msg, got, c.want)
		}
	}
	if s := Sentences("It took 0.6 s. Then (again) it bound. e.g. x. End"); len(s) != 3 {
		t.Errorf("Sentences: %q", s)
	}
}
