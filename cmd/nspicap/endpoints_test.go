package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/report"
)

// TestEndpoints: the endpoint mapper's answer in the sample captures maps NSPI
// to TCP 4997, as tshark's EPM dissector reads it too.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"clean.pcap", "outlook-anon-first.pcap"} {
		path := filepath.Join(testdataDir, f)
		out, errOut, code := nspicap(t, "endpoints", "--format", "jsonl", path)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errOut)
		}
		var rows []report.EndpointRow
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r report.EndpointRow
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		if len(rows) != 1 || rows[0].Interface != "nspi" || rows[0].Port != 4997 || rows[0].Status != "registered" || rows[0].Protocol != "ncacn_ip_tcp" {
			t.Fatalf("%s: %+v", f, rows)
		}
		if _, err := exec.LookPath("tshark"); err != nil {
			continue
		}
		ts, err := exec.Command("tshark", "-n", "-r", path, "-Y", "epm.proto.tcp_port", "-T", "fields", "-e", "frame.number", "-e", "epm.proto.tcp_port").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ts), "4997") {
			t.Errorf("%s: tshark does not see port 4997: %s", f, ts)
		}
	}
}
