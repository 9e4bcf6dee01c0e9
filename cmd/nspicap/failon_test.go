package main

import (
	"path/filepath"
	"testing"
)

// TestFailOnSeverity: --fail-on by severity, and kinds that skip info
// findings unless written KIND:info (Outlook's anonymous first bind is an
// info logon_failed and must not fail a regression test).
func TestFailOnSeverity(t *testing.T) {
	anon := filepath.Join(testdataDir, "outlook-anon-first.pcap")
	leak := filepath.Join(testdataDir, "leak-to-limit.pcap")
	dead := filepath.Join(testdataDir, "dead-conn.pcap") // warnings only
	for _, c := range []struct {
		cmd, rule, file string
		want            int
	}{
		{"analyze", "error", anon, 0},
		{"analyze", "warning", anon, 0},
		{"analyze", "logon_failed", anon, 0},
		{"analyze", "logon_failed:info", anon, 3},
		{"analyze", "error", leak, 3},
		{"analyze", "warning", leak, 3},
		{"analyze", "leak", leak, 3},
		{"analyze", "error", dead, 0},
		{"analyze", "warning", dead, 3},
		{"analyze", "dead_connection", dead, 3},
		{"analyze", "leak,logon_failed", anon, 0},
		{"sessions", "error", leak, 3},
		{"sessions", "error", anon, 0},
		{"sessions", "logon_failed:info", anon, 3},
		{"analyze", "logon_failed:warning", anon, 2},
		{"analyze", "fatal", anon, 2},
		{"sessions", "nonsense", anon, 2},
	} {
		if _, errOut, code := nspicap(t, c.cmd, "--fail-on", c.rule, c.file); code != c.want {
			t.Errorf("%s --fail-on %s %s: exit %d, want %d (%s)", c.cmd, c.rule, filepath.Base(c.file), code, c.want, errOut)
		}
	}
}
