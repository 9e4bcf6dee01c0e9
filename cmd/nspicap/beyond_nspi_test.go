package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
)

// extCollect keeps the events beyond NSPI, by type.
type extCollect struct {
	store []analyze.StoreCall
	rfr   []analyze.ReferralCall
}

func (c *extCollect) Call(*pipeline.Call)         {}
func (c *extCollect) ConnEnd(*analyze.ConnEnd)    {}
func (c *extCollect) TCPEnd(*analyze.ConnAttempt) {}
func (c *extCollect) Extra(ev analyze.Event) {
	switch e := ev.(type) {
	case *analyze.StoreCall:
		c.store = append(c.store, *e)
	case *analyze.ReferralCall:
		c.rfr = append(c.rfr, *e)
	}
}

func extEvents(t *testing.T, name string) *extCollect {
	t.Helper()
	c := &extCollect{}
	pipeline.Run([]string{filepath.Join(testdataDir, name)}, defaultLimitFlags().options(nil), c)
	return c
}

func analyzeCapture(t *testing.T, name string, args ...string) *analyze.Report {
	t.Helper()
	var stderr bytes.Buffer
	r, unreadable := analysis([]string{filepath.Join(testdataDir, name)}, analyze.DefaultLimit, defaultLimitFlags(), false, nil, &stderr)
	if unreadable {
		t.Fatalf("%s unreadable: %s", name, stderr.String())
	}
	return r
}

func defaultLimitFlags() *limitFlags {
	return addLimitFlags(pflag.NewFlagSet("test", pflag.ContinueOnError))
}

func findings(r *analyze.Report, kind string) []analyze.Finding {
	var out []analyze.Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func frameNums(fs []analyze.FrameRef) string {
	var s []string
	for _, f := range fs {
		s = append(s, strconv.FormatInt(f.Frame, 10))
	}
	return strings.Join(s, ",")
}

// tsharkFields runs tshark on a capture and returns its rows.
func tsharkFields(t *testing.T, name, filter string, fields ...string) [][]string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	args := []string{"-r", filepath.Join(testdataDir, name), "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows
}

func TestEMSMDBLimitCapture(t *testing.T) {
	r := analyzeCapture(t, "emsmdb-limit.pcap")
	lim := findings(r, analyze.KindEMSMDBSessionLimit)
	if len(lim) != 1 {
		t.Fatalf("emsmdb_session_limit findings: %d, want 1", len(lim))
	}
	f := lim[0]
	if f.Severity != "error" || f.User != `CONTOSO\svc-archive` || f.Count != 8 || frameNums(f.Frames) != "160,163,166,169,172,175,178,181" {
		t.Errorf("emsmdb_session_limit: %s %s count %d frames %s", f.Severity, f.User, f.Count, frameNums(f.Frames))
	}
	for _, want := range []string{"Maximum Allowed Sessions Per User", `HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeIS\ParametersSystem`, "9646", "ecMaxObjsExceeded", "held 32 store sessions"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("emsmdb_session_limit message lacks %q: %s", want, f.Message)
		}
	}
	if len(findings(r, analyze.KindEMSMDBLeak)) != 1 || len(r.Findings) != 2 {
		t.Errorf("findings %d, want emsmdb_session_limit and emsmdb_leak", len(r.Findings))
	}
	if len(r.EMSMDBSessions) != 33 || len(r.EMSMDBUsers) != 2 || r.EMSMDBUsers[1].PeakConcurrent != 32 || r.EMSMDBUsers[0].Disconnects != 1 {
		t.Errorf("emsmdb sessions %d users %+v", len(r.EMSMDBSessions), r.EMSMDBUsers)
	}
	if len(r.Referrals) != 1 || r.Referrals[0].ReferredTo != "mbx01.contoso.example" || r.Referrals[0].Op != "RfrGetFQDNFromServerDN" {
		t.Errorf("referrals %+v", r.Referrals)
	}
	var tl *analyze.TimelineRow
	for i := range r.Timeline {
		if r.Timeline[i].Proto == "emsmdb" && r.Timeline[i].User == `CONTOSO\svc-archive` {
			tl = &r.Timeline[i]
		}
	}
	if tl == nil || tl.Peak != 32 || len(tl.Held) > 60 || tl.Held[len(tl.Held)-1] != 32 || tl.Limit != 32 {
		t.Errorf("timeline %+v", tl)
	}
	if !strings.Contains(strings.Join(r.Verdict, " "), "Exchange store session limit") {
		t.Errorf("verdict %q", r.Verdict)
	}
	// --emsmdb-limit reaches the report.
	var out, stderr bytes.Buffer
	if code := run(t.Context(), []string{"analyze", "--format", "json", "--emsmdb-limit", "40", filepath.Join(testdataDir, "emsmdb-limit.pcap")}, nil, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(out.String(), `"emsmdb_limit": 40`) {
		t.Errorf("--emsmdb-limit 40 not in the report")
	}
}

// TestEMSMDBAgainstTshark checks the opnum and status of every EMSMDB call
// against tshark's MAPI (EMSMDB) dissector.
func TestEMSMDBAgainstTshark(t *testing.T) {
	for _, name := range []string{"emsmdb-limit.pcap", "dead-conn.pcap"} {
		rows := tsharkFields(t, name, "mapi", "frame.number", "dcerpc.pkt_type", "mapi.opnum", "mapi.MAPISTATUS_status")
		reqs, stat := map[string]string{}, map[string]string{}
		for _, r := range rows {
			if r[1] == "0" {
				reqs[r[0]] = r[2]
			} else if len(r) > 3 && r[3] != "" {
				stat[r[0]] = r[3]
			}
		}
		evs := extEvents(t, name).store
		if len(evs) != len(reqs) || len(evs) == 0 {
			t.Errorf("%s: %d EMSMDB calls, tshark %d", name, len(evs), len(reqs))
		}
		for _, e := range evs {
			f := strconv.FormatInt(e.Frame.Frame, 10)
			if reqs[f] != strconv.Itoa(int(e.Opnum)) {
				t.Errorf("%s frame %s: opnum %d, tshark %q", name, f, e.Opnum, reqs[f])
			}
			if e.Answered && e.Op == analyze.OpOpen {
				rf := strconv.FormatInt(e.ReplyFrame.Frame, 10)
				if want := "0x" + strings.Repeat("0", 8-len(strconv.FormatUint(uint64(e.Status), 16))) + strconv.FormatUint(uint64(e.Status), 16); stat[rf] != want {
					t.Errorf("%s frame %s: status %s, tshark %q", name, rf, want, stat[rf])
				}
			}
		}
	}
}

// TestRFRAgainstTshark checks the server names RFR returned against
// tshark's RFR dissector (alter-context.pcap: RfrGetNewDSA;
// emsmdb-limit.pcap: RfrGetFQDNFromServerDN).
func TestRFRAgainstTshark(t *testing.T) {
	for _, c := range []struct{ file, field, want string }{
		{"alter-context.pcap", "rfr.RfrGetNewDSA.ppszServer", "dc01.contoso.example"},
		{"emsmdb-limit.pcap", "rfr.RfrGetFQDNFromLegacyDN.ppszServerFQDN", "mbx01.contoso.example"},
	} {
		evs := extEvents(t, c.file).rfr
		if len(evs) != 1 || evs[0].Referral != c.want {
			t.Fatalf("%s: referrals %+v", c.file, evs)
		}
		rows := tsharkFields(t, c.file, "rfr && dcerpc.pkt_type == 2", "frame.number", c.field)
		if len(rows) != 1 || len(rows[0]) < 2 || rows[0][1] != evs[0].Referral || rows[0][0] != strconv.FormatInt(evs[0].ReplyFrame.Frame, 10) {
			t.Errorf("%s: tshark %v, nspicap %q in frame %d", c.file, rows, evs[0].Referral, evs[0].ReplyFrame.Frame)
		}
	}
}

func TestEndpointTroubleCapture(t *testing.T) {
	r := analyzeCapture(t, "endpoint-trouble.pcap")
	nr := findings(r, analyze.KindEndpointNotRegistered)
	if len(nr) != 1 || nr[0].Severity != "error" || frameNums(nr[0].Frames) != "7" || !strings.Contains(nr[0].Message, "nspi") {
		t.Errorf("endpoint_not_registered: %+v", nr)
	}
	un := findings(r, analyze.KindEndpointUnreachable)
	if len(un) != 2 {
		t.Fatalf("endpoint_unreachable: %d findings, want 2", len(un))
	}
	if !strings.Contains(un[0].Message, "198.51.100.20:59531") || !strings.Contains(un[0].Message, "2 reset") || frameNums(un[0].Frames) != "18,23,24,25,26" {
		t.Errorf("unreachable 59531: %s frames %s", un[0].Message, frameNums(un[0].Frames))
	}
	if !strings.Contains(un[1].Message, "198.51.100.20:59532") || !strings.Contains(un[1].Message, "never answered") {
		t.Errorf("unreachable 59532: %s", un[1].Message)
	}
	if len(r.Findings) != 3 {
		t.Errorf("%d findings, want 3", len(r.Findings))
	}
	// tshark agrees on the ept_map answers.
	rows := tsharkFields(t, "endpoint-trouble.pcap", "epm && dcerpc.pkt_type == 2", "frame.number", "epm.rc", "epm.proto.tcp_port")
	if len(rows) != 3 || rows[0][0] != "7" || rows[0][1] != "0x16c9a0d6" || rows[1][2] != "59531" || rows[2][2] != "59532" {
		t.Errorf("tshark ept_map answers: %v", rows)
	}
}

func TestDeadConnCapture(t *testing.T) {
	r := analyzeCapture(t, "dead-conn.pcap")
	dc := findings(r, analyze.KindDeadConnection)
	if len(dc) != 2 {
		t.Fatalf("dead_connection: %d findings, want 2", len(dc))
	}
	for _, f := range dc {
		if f.Count != 2 || f.Client != "192.0.2.60" || f.User != `CONTOSO\dave` || len(f.Frames) != 2 ||
			!strings.Contains(f.Message, "KeepAliveTime of 2 hours") || !strings.Contains(f.Message, "held 2 sessions") {
			t.Errorf("dead_connection: %+v", f)
		}
	}
	for _, f := range r.Findings {
		switch f.Kind {
		case analyze.KindDeadConnection, analyze.KindUnansweredCall:
		default:
			t.Errorf("unexpected finding %s: %s", f.Kind, f.Message)
		}
	}
}

// TestQuietOnOldCaptures: none of the new findings on the captures that
// have none of these problems.
func TestQuietOnOldCaptures(t *testing.T) {
	for _, name := range []string{"clean.pcap", "leak-to-limit.pcap", "conn-close.pcap", "midstream.pcap", "outlook-anon-first.pcap", "alter-context.pcap", "missing-segment.pcap"} {
		r := analyzeCapture(t, name)
		for _, f := range r.Findings {
			if strings.HasPrefix(f.Kind, "emsmdb_") || strings.HasPrefix(f.Kind, "endpoint_") || f.Kind == analyze.KindDeadConnection {
				t.Errorf("%s: %s: %s", name, f.Kind, f.Message)
			}
		}
	}
}
