package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/synth"
)

// TestJSONAsDocumented holds the JSON to docs/json-schema.md where it
// said one thing and did another: status_name and fault_name are null
// when there is no name (never ""), and every anomaly has file and frame
// fields (null when it has no frame), the frame the message names.
func TestJSONAsDocumented(t *testing.T) {
	files := captures(t)
	t.Chdir(testdataDir)
	for _, f := range files {
		out, errOut, code := nspicap(t, withKeys(t, f, []string{"calls", "--format", "jsonl", f})...)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", f, code, errOut)
		}
		for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var row map[string]any
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%s row %d: %v", f, i+1, err)
			}
			for _, pair := range [][2]string{{"status", "status_name"}, {"fault", "fault_name"}} {
				v, name := row[pair[0]], row[pair[1]]
				if _, present := row[pair[1]]; !present || name == "" || v == nil && name != nil {
					t.Errorf("%s row %d: %s %v, %s %#v", f, i+1, pair[0], v, pair[1], name)
				}
			}
		}
		out, _, _ = nspicap(t, withKeys(t, f, []string{"analyze", "--format", "json", f})...)
		var r struct {
			Anomalies []map[string]any `json:"anomalies"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		for _, a := range r.Anomalies {
			file, hasFile := a["file"]
			frame, hasFrame := a["frame"]
			if !hasFile || !hasFrame || (file == nil) != (frame == nil) {
				t.Errorf("%s: anomaly %v: file %v, frame %v", f, a["kind"], file, frame)
				continue
			}
			if frame != nil && !strings.Contains(a["message"].(string), fmt.Sprintf("%s frame %v:", file, frame)) {
				t.Errorf("%s: anomaly %v at %v#%v, message %q", f, a["kind"], file, frame, a["message"])
			}
		}
	}
	// The sample with a lost segment names the frame of its anomalies.
	out, _, _ := nspicap(t, "analyze", "--format", "json", "missing-segment.pcap")
	if !strings.Contains(out, `"file": "missing-segment.pcap",`+"\n      \"frame\": ") {
		t.Errorf("missing-segment.pcap: no anomaly with its frame:\n%s", out)
	}
}

// TestTimelineDates: the timeline of a capture over more than a day says
// the dates it runs between; one within a day keeps the time of day.
func TestTimelineDates(t *testing.T) {
	c := synth.NewCapture("two-days")
	client := netip.MustParseAddr("192.0.2.50")
	port := uint16(50000)
	bind := func() {
		port++
		cn := c.NewConn(netip.AddrPortFrom(client, port), netip.AddrPortFrom(synth.ServerV4, synth.NSPIPort))
		cn.Open()
		r := c.NewRPC(cn, 1)
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), Auth: synth.AuthNTLM, Creds: synth.SvcCRM, Target: synth.DC01,
			NewAssoc: uint32(port), SecAddr: fmt.Sprint(synth.NSPIPort), PadByte: 0x5c})
		r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	}
	for range 6 {
		bind()
		c.Advance(6 * time.Hour)
	}
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "two-days.pcap")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := nspicap(t, "analyze", p)
	if code != 0 || !strings.Contains(out, "TIMELINE") {
		t.Fatalf("exit %d %s\n%s", code, errOut, out)
	}
	_, tl, _ := strings.Cut(out, "TIMELINE")
	if !strings.Contains(strings.Join(strings.Fields(tl), " "), "from 2026-03-02 09:00:00 to 2026-03-03 ") {
		t.Errorf("timeline over 30 hours without its dates:\n%s", tl)
	}
	out, _, _ = nspicap(t, "analyze", filepath.Join(testdataDir, "leak-to-limit.pcap"))
	if _, tl, _ = strings.Cut(out, "TIMELINE"); !strings.Contains(tl, "from 09:00:00 UTC") {
		t.Errorf("timeline within a day:\n%s", tl)
	}
}
