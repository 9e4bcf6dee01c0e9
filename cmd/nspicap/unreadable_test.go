package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreadableInputs: when no input can be read, every command prints
// the error lines only (one per file, naming it) and exits 1: a report of
// "No NSPI traffic found" would read as a finding. When some can, the
// report's first lines say which inputs it does not cover.
func TestUnreadableInputs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent.pcap")
	for _, cmd := range []string{"analyze", "sessions", "calls", "endpoints"} {
		for _, format := range []string{"table", "json", "jsonl"} {
			if (format == "json") != (cmd == "analyze") && format != "table" {
				continue
			}
			out, errOut, code := nspicap(t, cmd, "--format", format, missing)
			if code != 1 || out != "" || errOut != "nspicap: "+missing+": no such file\n" {
				t.Errorf("%s --format %s on a missing file: exit %d, stdout %q, stderr %q", cmd, format, code, out, errOut)
			}
			var o, e bytes.Buffer
			code = run(t.Context(), []string{cmd, "--format", format, "-"}, strings.NewReader(""), &o, &e)
			if code != 1 || o.Len() != 0 || e.String() != "nspicap: stdin: empty file\n" {
				t.Errorf("%s --format %s on empty standard input: exit %d, stdout %q, stderr %q", cmd, format, code, o.String(), e.String())
			}
		}
	}

	clean := filepath.Join(testdataDir, "clean.pcap")
	for _, format := range []string{"table", "json"} {
		out, errOut, code := nspicap(t, "analyze", "--format", format, missing, clean)
		if code != 1 || errOut != "nspicap: "+missing+": no such file\n" {
			t.Errorf("analyze --format %s, one missing input: exit %d, stderr %q", format, code, errOut)
		}
		want := "This report does not cover " + missing + ": it could not be read (no such file)."
		if format == "json" {
			r := parseReport(t, out)
			if len(r.Verdict) < 2 || r.Verdict[0] != want || r.Inputs[0].Error != "no such file" || r.Inputs[1].Error != "" {
				t.Errorf("json: verdict %q, inputs %+v", r.Verdict, r.Inputs)
			}
			continue
		}
		head, _, _ := strings.Cut(out, "\n  * No NSPI")
		if first := strings.Join(strings.Fields(head), " "); first != "VERDICT * "+want {
			t.Errorf("table: first lines %q", head)
		}
	}
}
