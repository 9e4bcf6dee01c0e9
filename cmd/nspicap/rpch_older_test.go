package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/pipeline"
)

// olderCalls runs the pipeline on a capture and returns its NSPI calls by
// the frame that completes their request, and the result.
func olderCalls(t *testing.T, f string) (map[int]*pipeline.Call, pipeline.Result) {
	t.Helper()
	got, res := runPipeline(t, filepath.Join(testdataDir, f))
	byFrame := map[int]*pipeline.Call{}
	for _, c := range got.calls {
		if c.Event != nil {
			byFrame[lastReqFrame(c)] = c
		}
	}
	return byFrame, res
}

// TestOlderChannelsPaired: the four channels of two virtual connections
// opened before the capture (no banner, no CONN/A2 or CONN/B2, first PDUs a
// request and an answer, the same call_ids on both) are recognised by their
// RTS PDUs and paired by the channel cookies of their flow control
// acknowledgments: every call is answered by the answer the generator
// wrote (reply frame, status), over ncacn_http, its interface inferred from
// a bind elsewhere; no anomaly, no unanswered call.
func TestOlderChannelsPaired(t *testing.T) {
	const f = "rpch-older.pcap"
	calls, res := olderCalls(t, f)
	if len(res.Anomalies) != 0 {
		t.Errorf("anomalies %+v, want none", res.Anomalies)
	}
	m := loadManifest(t, f)
	old := 0
	for _, w := range m.NSPI {
		c := calls[w.RequestFrame]
		if c == nil {
			t.Errorf("frame %d: no NSPI call (%s call_id %d)", w.RequestFrame, w.Op, w.CallID)
			continue
		}
		row := c.Row
		if row.Op != w.Op || row.CallID != w.CallID || row.Transport != "ncacn_http" {
			t.Errorf("frame %d: %s call_id %d over %s, want %s call_id %d over ncacn_http", w.RequestFrame, row.Op, row.CallID, row.Transport, w.Op, w.CallID)
		}
		if c.Raw.Response == nil || int(c.Raw.Response.LastPos.Frame) != w.ReplyFrame || str(row.Status) != w.StatusHex || row.AnswerElsewhere {
			t.Errorf("frame %d %s: answer %v status %s, want frame %d status %s", w.RequestFrame, w.Op, c.Raw.Response, str(row.Status), w.ReplyFrame, w.StatusHex)
		}
		if w.InferredFrom != "" {
			old++
			if !row.InterfaceInferred || row.InferredFrom != w.InferredFrom {
				t.Errorf("frame %d: inferred %v from %q, want %q", w.RequestFrame, row.InterfaceInferred, row.InferredFrom, w.InferredFrom)
			}
		}
	}
	if old != 9 || len(calls) != len(m.NSPI) {
		t.Errorf("%d calls of the old virtual connections, %d NSPI calls; want 9 and %d", old, len(calls), len(m.NSPI))
	}
	r := analyzeCapture(t, f)
	for _, x := range r.Findings {
		if x.Kind == "unanswered_call" || x.Kind == "dead_connection" {
			t.Errorf("finding %s: %s", x.Kind, x.Message)
		}
	}
	if r.Totals.BindsUnknown != 0 || r.Totals.Binds != 2 || r.Totals.Unbinds != 3 {
		t.Errorf("totals %+v", r.Totals)
	}
}

// TestOlderChannelsUnpaired: channels opened before the capture that
// nothing ties (Pings only; an IN channel whose acknowledgments name an
// OUT channel the capture does not hold) are each reported once, as a
// notice; their requests are listed without answers, marked
// answer_elsewhere, and never counted unanswered; their answers are never
// given to a request; no orphan answer is reported.
func TestOlderChannelsUnpaired(t *testing.T) {
	const f = "rpch-older-unpaired.pcap"
	calls, res := olderCalls(t, f)
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != pipeline.AnomalyHTTPChannelOlder || res.Anomalies[0].Count != 5 || res.Anomalies[0].First.Frame == 0 {
		t.Errorf("anomalies %+v, want http_channel_older for 5 channels", res.Anomalies)
	}
	m := loadManifest(t, f)
	elsewhere := 0
	for _, w := range m.NSPI {
		c := calls[w.RequestFrame]
		if c == nil {
			t.Errorf("frame %d: no NSPI call (%s)", w.RequestFrame, w.Op)
			continue
		}
		row := c.Row
		if w.InferredFrom == "" { // alice, on a virtual connection of the capture
			if row.ReplyFrame == nil || int(c.Raw.Response.LastPos.Frame) != w.ReplyFrame || row.AnswerElsewhere {
				t.Errorf("frame %d: alice's %s not answered in frame %d", w.RequestFrame, w.Op, w.ReplyFrame)
			}
			continue
		}
		elsewhere++
		if row.ReplyFrame != nil || row.Status != nil || !row.AnswerElsewhere || c.Event.Answered || !c.Event.Elsewhere || row.Transport != "ncacn_http" {
			t.Errorf("frame %d %s: reply %v status %s elsewhere %v/%v; want no answer, answer_elsewhere", w.RequestFrame, w.Op, row.ReplyFrame, str(row.Status), row.AnswerElsewhere, c.Event.Elsewhere)
		}
	}
	if elsewhere != 12 {
		t.Errorf("%d calls of unpaired channels, want 12", elsewhere)
	}
	out, _, _ := nspicap(t, "analyze", "--format", "json", filepath.Join(testdataDir, f))
	var r struct {
		Verdict   []string `json:"verdict"`
		Findings  []struct{ Kind string }
		Anomalies []struct {
			Kind   string `json:"kind"`
			Notice bool   `json:"notice"`
		} `json:"anomalies"`
		Totals struct {
			BindsUnknown int `json:"binds_unknown"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, x := range r.Findings {
		if x.Kind == "unanswered_call" || x.Kind == "dead_connection" {
			t.Errorf("finding %s from calls whose answers are elsewhere", x.Kind)
		}
	}
	if len(r.Anomalies) != 1 || !r.Anomalies[0].Notice || strings.Contains(strings.Join(r.Verdict, " "), "decoding anomal") {
		t.Errorf("anomalies %+v, verdict %q: want one notice, no decoding anomaly", r.Anomalies, r.Verdict)
	}
	if r.Totals.BindsUnknown != 1 {
		t.Errorf("binds_unknown %d, want 1 (the NspiBind whose answer is on an unpaired channel)", r.Totals.BindsUnknown)
	}
}
