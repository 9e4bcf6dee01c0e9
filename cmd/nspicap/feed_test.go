package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/report"
)

// TestFeederSameAsDirect: the analyzer fed from its own goroutine gives the
// same report as one called directly, on every sample capture, with
// batches of one event, of a few, and of the size nspicap uses.
func TestFeederSameAsDirect(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir, "*.pcap*"))
	if len(files) < 10 {
		t.Fatalf("only %d sample captures found", len(files))
	}
	most := 0
	for _, f := range files {
		report := func(batch int) ([]byte, int) {
			a := newAnalyzer()
			s := &eventSink{a: a}
			n := &countSink{eventSink: s}
			if batch > 0 {
				s.feed = newFeeder(a, batch)
			}
			res := pipeline.Run([]string{f}, pipeline.Options{Recycle: true}, n)
			if batch > 0 {
				s.feed.wait()
			}
			b, err := json.Marshal(a.Report(inputs(&res)))
			if err != nil {
				t.Fatal(err)
			}
			return b, n.n
		}
		direct, n := report(0)
		for _, batch := range []int{1, 7, feedBatch} {
			if fed, _ := report(batch); !bytes.Equal(direct, fed) {
				t.Errorf("%s: the report through the feeder (batches of %d) differs from the direct one", filepath.Base(f), batch)
			}
		}
		most = max(most, n)
	}
	if most <= 7 {
		t.Errorf("at most %d events in one capture: no capture filled a batch of 7", most)
	}
}

// countSink counts the events that reach the analyzer.
type countSink struct {
	*eventSink
	n int
}

func (c *countSink) Call(x *pipeline.Call) {
	if x.Event != nil {
		c.n++
	}
	c.eventSink.Call(x)
}
func (c *countSink) ConnEnd(ev *analyze.ConnEnd)    { c.n++; c.eventSink.ConnEnd(ev) }
func (c *countSink) Extra(ev analyze.Event)         { c.n++; c.eventSink.Extra(ev) }
func (c *countSink) TCPEnd(ev *analyze.ConnAttempt) { c.n++; c.eventSink.TCPEnd(ev) }

// TestStreamedReportSameBytes: on every sample capture, the report that
// unpacks its sessions and refusals as they are written (what analyze
// writes) gives the same JSON and table bytes as the report holding them.
func TestStreamedReportSameBytes(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir, "*.pcap*"))
	listed := 0
	for _, f := range files {
		held, _ := analysis([]string{f}, analyze.DefaultLimit, defaultLimitFlags(), false, nil, io.Discard)
		streamed, _ := analysis([]string{f}, analyze.DefaultLimit, defaultLimitFlags(), true, nil, io.Discard)
		if streamed.NumSessions() != len(held.Sessions) || len(streamed.Sessions) != 0 {
			t.Fatalf("%s: %d sessions streamed (%d in the slice), %d held", filepath.Base(f), streamed.NumSessions(), len(streamed.Sessions), len(held.Sessions))
		}
		listed += len(held.Sessions) + len(held.Refusals)
		for _, format := range []string{"json", "table"} {
			var want, got bytes.Buffer
			if err := report.WriteAnalyze(&want, format, held); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteAnalyze(&got, format, streamed); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s: the streamed report's %s differs from the held one's", filepath.Base(f), format)
			}
		}
	}
	if listed < 100 {
		t.Errorf("%d sessions and refusals over all sample captures: too few", listed)
	}
}
