package main

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestSessionsProto: sessions --proto emsmdb and all list the Exchange
// store sessions the report holds; the default (nspi) is unchanged.
func TestSessionsProto(t *testing.T) {
	ems := filepath.Join(testdataDir, "emsmdb-limit.pcap")
	dead := filepath.Join(testdataDir, "dead-conn.pcap") // NSPI and store sessions
	def, _, _ := nspicap(t, "sessions", ems)
	nspi, _, _ := nspicap(t, "sessions", "--proto", "nspi", ems)
	if def != nspi || def != "No NSPI sessions.\n" {
		t.Errorf("default %q, --proto nspi %q", def, nspi)
	}
	all, errOut, code := nspicap(t, "sessions", "--proto", "all", ems)
	if code != 0 || strings.Contains(all, "No NSPI") || !strings.Contains(all, "Store sessions on 198.51.100.20 (33)\n") {
		t.Errorf("--proto all on the EMSMDB sample: exit %d %s\n%s", code, errOut, all)
	}
	for _, f := range []string{ems, dead} {
		r := analyzeJSON(t, filepath.Base(f))
		out, _, code := nspicap(t, "sessions", "--proto", "all", "--format", "jsonl", f)
		var nspiN, emsN int
		for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var row struct {
				Proto, Handle, Op, End string
				StartFrame             struct{ Frame int64 } `json:"start_frame"`
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%s line %d: %v", f, i+1, err)
			}
			switch row.Proto {
			case "nspi":
				s := r.Sessions[nspiN]
				if row.Handle != s.Handle || row.StartFrame.Frame != s.BindFrame.Frame || row.Op != "NspiBind" || row.End != s.End {
					t.Errorf("%s: row %+v, session %+v", f, row, s)
				}
				nspiN++
			case "emsmdb":
				s := r.EMSMDBSessions[emsN]
				if row.Handle != s.Handle || row.StartFrame.Frame != s.ConnectFrame.Frame || row.Op != s.Op || row.End != s.End {
					t.Errorf("%s: row %+v, store session %+v", f, row, s)
				}
				emsN++
			default:
				t.Errorf("%s: proto %q", f, row.Proto)
			}
		}
		if code != 0 || nspiN != len(r.Sessions) || emsN != len(r.EMSMDBSessions) || emsN == 0 {
			t.Errorf("%s: exit %d, %d NSPI and %d store rows; report %d and %d", f, code, nspiN, emsN, len(r.Sessions), len(r.EMSMDBSessions))
		}
		out, _, _ = nspicap(t, "sessions", "--proto", "emsmdb", "--format", "csv", f)
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 1+len(r.EMSMDBSessions) || rows[0][0] != "proto" || rows[1][0] != "emsmdb" {
			t.Errorf("%s: csv %v %q", f, err, out)
		}
		table, _, _ := nspicap(t, "sessions", "--proto", "emsmdb", f)
		if strings.Contains(table, "Sessions on") || strings.Count(table, "Store sessions on") == 0 {
			t.Errorf("%s: --proto emsmdb table\n%s", f, table)
		}
	}
	if out, _, _ := nspicap(t, "sessions", "--proto", "emsmdb", filepath.Join(testdataDir, "clean.pcap")); out != "No EMSMDB (Exchange store) sessions.\n" {
		t.Errorf("--proto emsmdb without store sessions: %q", out)
	}
	if _, _, code := nspicap(t, "sessions", "--proto", "smtp", ems); code != 2 {
		t.Errorf("--proto smtp: exit %d, want 2", code)
	}
}
