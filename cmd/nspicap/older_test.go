package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/synth"
)

// olderCaptures start in the middle of long-lived NSPI, RFR and EMSMDB
// connections, with the endpoint mapper asked before, after and never.
var olderCaptures = []string{"older-epm-before.pcap", "older-epm-after.pcap", "older-no-evidence.pcap"}

// orderSink keeps what the pipeline sends, in its order.
type orderSink struct {
	calls  []*pipeline.Call
	extras []analyze.Event
	seq    []string // "call <reply frame>", "end <conn>"
}

func (s *orderSink) Call(c *pipeline.Call) {
	s.calls = append(s.calls, c)
	s.seq = append(s.seq, fmt.Sprintf("call %d", c.Row.Frame))
}

func (s *orderSink) ConnEnd(ev *analyze.ConnEnd) {
	s.seq = append(s.seq, fmt.Sprintf("end %d", ev.ConnID))
}

func (s *orderSink) Extra(ev analyze.Event) { s.extras = append(s.extras, ev) }

// TestOlderConnections checks every call of the older-* captures against
// what the generator wrote: the interface of each call on a connection
// whose bind is not in the capture is inferred, with the evidence the
// manifest names (epm, stub_shape, handle), when the capture holds it, and
// stays unknown when it does not; the analysis events of inferred NSPI,
// EMSMDB and RFR calls say so (Quality IfaceInferred); the sink receives
// the calls in the order of their replies, also when calls waited for an
// ept_map answer that came later; the verdict counts the inferred calls.
func TestOlderConnections(t *testing.T) {
	for _, f := range olderCaptures {
		t.Run(f, func(t *testing.T) {
			m := loadManifest(t, f)
			s := &orderSink{}
			pipeline.Run([]string{filepath.Join(testdataDir, f)}, pipeline.Options{Rows: true}, s)
			byFrame := map[int]*pipeline.Call{}
			for _, c := range s.calls {
				byFrame[lastReqFrame(c)] = c
			}
			inferred, unknown := 0, 0
			for _, w := range append(append([]synth.Call(nil), m.NSPI...), m.Other...) {
				if w.RequestFrame == 0 {
					continue
				}
				c := byFrame[w.RequestFrame]
				if c == nil {
					t.Errorf("frame %d (%s %s): no call", w.RequestFrame, w.Interface, w.Op)
					continue
				}
				row := &c.Row
				outside := w.Auth == "unknown"
				switch {
				case outside && w.InferredFrom != "":
					inferred++
					if row.Interface != w.Interface || !row.InterfaceInferred || row.InferredFrom != w.InferredFrom {
						t.Errorf("frame %d (%s %s): interface %q inferred %v from %q, want %q from %q",
							w.RequestFrame, w.Interface, w.Op, row.Interface, row.InterfaceInferred, row.InferredFrom, w.Interface, w.InferredFrom)
					}
					if row.Op != w.Op {
						t.Errorf("frame %d: op %q, want %q", w.RequestFrame, row.Op, w.Op)
					}
				case outside:
					unknown++
					if row.Interface != "unknown" || row.InterfaceInferred || row.InferredFrom != "" || c.Event != nil {
						t.Errorf("frame %d (%s %s): without evidence, interface %q inferred %v from %q: nothing may be guessed",
							w.RequestFrame, w.Interface, w.Op, row.Interface, row.InterfaceInferred, row.InferredFrom)
					}
				default:
					if row.Interface != w.Interface || row.InterfaceInferred {
						t.Errorf("frame %d (%s %s): interface %q inferred %v", w.RequestFrame, w.Interface, w.Op, row.Interface, row.InterfaceInferred)
					}
				}
				if c.Event != nil && (c.Event.Quality&analyze.IfaceInferred != 0) != (outside && w.InferredFrom != "") {
					t.Errorf("frame %d: NSPI event quality %v", w.RequestFrame, c.Event.Quality.Names())
				}
			}
			t.Logf("%d calls inferred, %d left unknown", inferred, unknown)
			if f == "older-no-evidence.pcap" && (inferred != 0 || unknown == 0) {
				t.Errorf("older-no-evidence: %d inferred, %d unknown", inferred, unknown)
			}
			if f != "older-no-evidence.pcap" && (inferred == 0 || unknown != 0) {
				t.Errorf("%s: %d inferred, %d unknown", f, inferred, unknown)
			}
			// The store and referral events of the inferred calls.
			nx := 0
			for _, ev := range s.extras {
				switch e := ev.(type) {
				case *analyze.StoreCall:
					nx++
					if e.Quality&analyze.IfaceInferred == 0 {
						t.Errorf("store event at frame %d without interface_inferred", e.Frame.Frame)
					}
				case *analyze.ReferralCall:
					nx++
					if e.Quality&analyze.IfaceInferred == 0 {
						t.Errorf("referral event at frame %d without interface_inferred", e.Frame.Frame)
					}
				}
			}
			if f != "older-no-evidence.pcap" && nx == 0 {
				t.Errorf("no store or referral event")
			}
			// The sink's order: replies in capture order (every call is
			// answered), a connection's end after its calls.
			last := int64(0)
			for _, c := range s.calls {
				r := c.Raw.Response.LastPos.Frame
				if r < last {
					t.Errorf("call answered in frame %d reached the sink after one answered in frame %d", r, last)
				}
				last = r
			}
			// The verdict counts the inferred calls.
			out, _, code := nspicap(t, "analyze", filepath.Join(testdataDir, f))
			if code != 0 {
				t.Fatalf("analyze: exit %d", code)
			}
			sentence := fmt.Sprintf("%d calls whose bind was not read (a connection older than the capture, or a bind the snap length cut) were classified by inference", inferred)
			flat := strings.Join(strings.Fields(out), " ")
			if got := strings.Contains(flat, sentence); got != (inferred > 0) {
				t.Errorf("verdict has %q: %v, want %v", sentence, got, inferred > 0)
			}
		})
	}
}

// TestOlderTshark compares the older-* captures with tshark frame by frame:
// every DCE/RPC request tshark decodes (with the manifest's Decode As of the
// two ports: tshark does not know the interface of a connection whose bind
// it never saw) is a call of nspicap with the same opnum, and nspicap lists
// no other.
func TestOlderTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	for _, f := range olderCaptures {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(testdataDir, f)
			args := append([]string{"-n", "-r", path}, loadManifest(t, f).TsharkArgs...)
			args = append(args, "-Y", "dcerpc.pkt_type == 0", "-T", "fields", "-e", "frame.number", "-e", "dcerpc.opnum")
			out, err := exec.Command("tshark", args...).Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			theirs := map[int]int{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				fs := strings.Split(line, "\t")
				if len(fs) < 2 {
					continue
				}
				frame, _ := strconv.Atoi(fs[0])
				op, _ := strconv.Atoi(firstOf(fs[1]))
				theirs[frame] = op
			}
			got, _ := runPipeline(t, path)
			ours := map[int]int{}
			for _, c := range got.calls {
				ours[lastReqFrame(c)] = int(c.Row.Opnum)
			}
			for frame, op := range theirs {
				if o, ok := ours[frame]; !ok || o != op {
					t.Errorf("frame %d: tshark request opnum %d, nspicap %d (listed %v)", frame, op, o, ok)
				}
			}
			if len(ours) != len(theirs) {
				t.Errorf("nspicap lists %d requests, tshark %d", len(ours), len(theirs))
			}
			t.Logf("%d requests agree with tshark", len(theirs))
		})
	}
}
