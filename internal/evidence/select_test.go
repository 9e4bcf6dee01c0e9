package evidence

import (
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
)

func ref(n int64) analyze.FrameRef { return analyze.FrameRef{File: "a.pcap", Frame: n} }

// TestPlanBound: a leak of 60 sessions (120 frames) keeps the first 25 and
// the last 25 frames, says so, and keeps the tags of a frame two findings
// share; frames of another user are not taken.
func TestPlanBound(t *testing.T) {
	r := &analyze.Report{}
	for i := int64(0); i < 60; i++ {
		end := ref(1000 + i)
		r.Sessions = append(r.Sessions, analyze.Session{Server: "10.0.0.1", Client: "10.0.0.2:5000", User: `D\u`, BindFrame: ref(10 + i), End: "unbind", EndFrame: &end, BindTime: time.Unix(0, 0)})
	}
	r.Sessions = append(r.Sessions, analyze.Session{Server: "10.0.0.1", Client: "10.0.0.3:5000", User: `D\other`, BindFrame: ref(5)})
	r.Findings = []analyze.Finding{
		{Kind: "leak", Severity: "error", Server: "10.0.0.1", User: `D\u`, Frames: []analyze.FrameRef{ref(10)}},
		{Kind: "session_limit", Severity: "error", Server: "10.0.0.1", User: `D\u`, Frames: []analyze.FrameRef{ref(10)}},
	}
	p := NewPlan(r, []string{"a.pcap"}, []Identity{{Frame: ref(9), Server: "10.0.0.1", User: `d\U`}, {Frame: ref(8), Server: "10.0.0.9", User: `D\u`}})
	if len(p.Cuts) != 1 || p.Cuts[0] != (Cut{Kind: "leak", User: `D\u`, Total: 121, Kept: 50}) {
		t.Fatalf("cuts %+v", p.Cuts)
	}
	leak := 0
	for k, tags := range p.frames {
		for _, x := range tags {
			if x.kind == "leak" {
				leak++
			}
		}
		if k.frame == 5 || k.frame == 8 {
			t.Fatalf("frame %d of another user or server taken", k.frame)
		}
	}
	// 50 frames; frame 10 has two leak tags (cited, NspiBind).
	if leak != 51 {
		t.Fatalf("%d leak tags", leak)
	}
	for _, n := range []int64{9, 10, 33, 1035, 1059} { // first 25: 9..33; last 25: 1035..1059
		if p.frames[frameKey{0, n}] == nil {
			t.Fatalf("frame %d not taken", n)
		}
	}
	for _, n := range []int64{34, 69, 1034} {
		if p.frames[frameKey{0, n}] != nil {
			t.Fatalf("frame %d taken beyond the bound", n)
		}
	}
	if tags := p.frames[frameKey{0, 10}]; len(tags) != 3 { // leak cited, leak NspiBind, session_limit cited
		t.Fatalf("frame 10: %+v", tags)
	}
}
