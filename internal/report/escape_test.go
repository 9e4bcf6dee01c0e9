package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// forged is the line a name with a newline tried to add to the report.
const forged = "FAKE VERDICT: everything is fine"

// hostileNames are user names as a hostile client can send them: terminal
// escapes, a forged report line, NUL and backspaces, invalid UTF-8, C1
// controls and a bidi override, and cells a spreadsheet would run.
var hostileNames = []string{
	"CONTOSO\\\x1b]0;pwned\x07eve",
	"CONTOSO\\mallory\r\n" + forged,
	"CONTOSO\\nul\x00byte\x08\x08\x7f",
	"CONTOSO\\bad\xff\xfeutf8",
	"CONTOSO\\evil\u202egnp.exe\u0085\u009b31m\u2028" + forged,
	"=cmd|' /C calc'!A0",
	"=2+5",
	"+SUM(1)",
	"-2+3",
	"@SUM(A1)",
	"\t=1",
	"\r=1",
	"山田\\太郎\x1b[2J",
}

// checkClean fails when out holds a raw control character (but the
// renderer's own newlines), a C1 control, a separator or bidi formatting
// character, or invalid UTF-8; or when the forged line stands on a line of
// its own.
func checkClean(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not valid UTF-8:\n%q", what, out)
	}
	for i, r := range out {
		bad := r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == utf8.RuneError ||
			r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
		if bad {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(i-40, 0):min(i+40, len(out))])
			break
		}
	}
	// A table wraps long names inside their cell; the forged sentence is
	// longer than a wrapped line, and a line that starts with all of it was
	// forged with a line break.
	for _, line := range strings.Split(out, "\n") {
		l := strings.Trim(line, " |*")
		if strings.HasPrefix(l, forged) {
			t.Errorf("%s: a name forged a line: %q", what, line)
		}
	}
}

// hostileReport: each hostile name binds 55 times without unbinding on a
// DC whose limit is 50 (refused from the 51st: findings, verdict and
// timeline name it); the capture file's name and its warnings, an anomaly
// and a referral carry control characters too.
func hostileReport() *analyze.Report {
	g := newEvgen(50)
	g.step = time.Second
	g.file = "ring\n" + forged + "\x1b[2J.pcapng"
	start := g.t
	conn := uint64(1)
	for n, name := range hostileNames {
		for i := 1; i <= 55; i++ {
			if i <= 50 {
				g.ok(conn, crm, dc1, name, 1000*n+i)
			} else {
				g.refused(conn, crm, dc1, name)
			}
			conn++
		}
	}
	in := g.input(start)
	in.Warnings = []string{"bad block\r\n" + forged + "\x1b]0;x\x07"}
	g.a.AddAnomaly(analyze.Anomaly{Kind: "tcp_gap", Count: 1, Message: "first at a\nb frame 3: \x1b[31m" + forged})
	r := g.a.Report([]analyze.Input{in, {Path: "second\x1b.pcap", Format: "pcap", Warnings: []string{}}})
	r.Referrals = append(r.Referrals, analyze.Referral{Server: "10.0.0.1:6004", Client: "10.0.1.5", User: analyze.NullString(hostileNames[0]),
		Op: "RfrGetNewDSA", ReferredTo: "dc\x1b]0;x\x07\n" + forged, Status: "0x00000000", Count: 1, ReplyFrame: analyze.FrameRef{File: g.file, Frame: 9}})
	r.EMSMDBUsers = append(r.EMSMDBUsers, analyze.EMSMDBUserRow{Server: "10.0.0.3:6001", User: analyze.NullString(hostileNames[1])})
	r.EMSMDBClients = append(r.EMSMDBClients, analyze.EMSMDBClientRow{Server: "10.0.0.3:6001", Client: "10.0.1.5"})
	r.Version = "v0.0.0-test"
	return r
}

// TestHostileNamesAnalyze: the analyze table (verdict, findings, tables,
// timeline, referrals, inputs, anomalies) prints every hostile name
// escaped, and the JSON keeps them as they are.
func TestHostileNamesAnalyze(t *testing.T) {
	r := hostileReport()
	var buf bytes.Buffer
	if err := WriteAnalyze(&buf, "table", r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	checkClean(t, "analyze table", out)
	for _, want := range []string{`\x1b]0;pwned\x07eve`, `mallory\x0d\x0aFAKE`, `\u202egnp.exe`, `bad\xff\xfeutf8`, "TIMELINE", "REFERRALS", `ring\x0aFAKE`} {
		if !strings.Contains(out, want) {
			t.Errorf("analyze table does not show %q:\n%s", want, out)
		}
	}
	if len(r.Findings) == 0 || !strings.Contains(strings.Join(r.Verdict, " "), "pwned") {
		t.Fatalf("the report does not name the hostile users in its verdict and findings: %q", r.Verdict)
	}
	// JSON escapes by itself: the names come back as they were sent (but
	// invalid UTF-8, which encoding/json replaces).
	buf.Reset()
	if err := WriteAnalyze(&buf, "json", r); err != nil {
		t.Fatal(err)
	}
	var back analyze.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got := string(back.Referrals[0].User); got != hostileNames[0] {
		t.Errorf("JSON user %q, want %q", got, hostileNames[0])
	}
}

// TestHostileNamesSessions: the sessions table and CSV escape the names,
// and the CSV guards cells a spreadsheet would run as formulas.
func TestHostileNamesSessions(t *testing.T) {
	r := hostileReport()
	for _, format := range []string{"table", "csv"} {
		var buf bytes.Buffer
		if err := WriteSessions(&buf, format, r.Sessions); err != nil {
			t.Fatal(err)
		}
		checkClean(t, "sessions "+format, buf.String())
		if format == "csv" {
			checkCSV(t, "sessions csv", buf.String(), "server_port", "bind_frame", "end_frame", "calls")
			for _, want := range []string{",'=cmd|' /C calc'!A0,", ",'=2+5,", ",'+SUM(1),", ",'-2+3,", ",'@SUM(A1),", `,\x09=1,`, `,\x0d=1,`} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("sessions csv has no cell %q", want)
				}
			}
		}
	}
}

// checkCSV parses out and fails on a cell outside the numeric columns that
// starts as a formula.
func checkCSV(t *testing.T, what, out string, numeric ...string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	num := map[int]bool{}
	for i, h := range recs[0] {
		for _, n := range numeric {
			if h == n {
				num[i] = true
			}
		}
	}
	if len(num) != len(numeric) {
		t.Fatalf("%s: header %q lacks some of %q", what, recs[0], numeric)
	}
	for _, rec := range recs[1:] {
		for i, c := range rec {
			if num[i] || c == "" || c == "-" {
				continue
			}
			if strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("%s: column %s: cell %q starts a formula", what, recs[0][i], c)
			}
		}
	}
}

// TestHostileNamesCalls: the calls table and CSV escape the names, the
// file names and the addresses, and guard the CSV.
func TestHostileNamesCalls(t *testing.T) {
	for _, format := range []string{"table", "csv"} {
		for _, multi := range []bool{false, true} {
			var buf bytes.Buffer
			cw, err := NewCallWriter(&buf, format, multi)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
			for i, name := range hostileNames {
				user := name
				reply, lat, status := int64(2*i+2), int64(-5), "0x00000000"
				tm := start.Add(time.Duration(i) * time.Second)
				row := CallRow{File: "a\n" + forged + ".pcap", Frame: int64(2*i + 1), ReplyFrame: &reply, Time: FormatTime(tm),
					Client: "10.0.1.5:50001", Server: "10.0.0.1:4997", Interface: "nspi", Op: "NspiBind", User: &user,
					Auth: "ntlmssp", AuthLevel: "connect", Status: &status, StatusName: "\x1b[32mOK\x1b[0m", LatencyUS: &lat}
				if err := cw.Write(&row, tm); err != nil {
					t.Fatal(err)
				}
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("calls %s (multi %v)", format, multi)
			checkClean(t, what, buf.String())
			if format == "csv" {
				checkCSV(t, what, buf.String(), "frame", "reply_frame", "call_id", "opnum", "latency_us")
				if !strings.Contains(buf.String(), ",'=2+5,") || !strings.Contains(buf.String(), ",-5,") {
					t.Errorf("%s: the name =2+5 is not guarded, or the tool's own negative number is:\n%s", what, buf.String())
				}
			}
		}
	}
}

// TestHostileEndpoints: the endpoints table and CSV escape what the mapper
// answered.
func TestHostileEndpoints(t *testing.T) {
	rows := []EndpointRow{{Mapper: "10.0.0.1:135", Interface: "nspi", UUID: "f5cc5a18-4264-101a-8c59-08002b2f8426", Version: "56.0",
		Status: "registered", Protocol: "ncacn_ip_tcp", Host: "dc\x1b]0;x\x07\n" + forged, Port: 4997, Annotation: "=1+1\r\n" + forged,
		Frames: []int64{1}, Replies: []int64{2}, File: "e\x1b.pcap", FirstTime: "2025-03-04T09:00:00.000000Z"}}
	for _, format := range []string{"table", "csv"} {
		var buf bytes.Buffer
		if err := WriteEndpoints(&buf, format, rows, true); err != nil {
			t.Fatal(err)
		}
		checkClean(t, "endpoints "+format, buf.String())
		if format == "csv" {
			checkCSV(t, "endpoints csv", buf.String(), "port")
		}
	}
}

// TestWrapNameKeepsEscapes: a long escaped name wraps between escapes,
// never inside one.
func TestWrapNameKeepsEscapes(t *testing.T) {
	for n := 12; n <= 21; n++ {
		for pad := range 8 {
			s := safetext.Escape(strings.Repeat("a", pad) + "CONTOSO\\\x1b\x1b\u202e\x1b.bob\x07")
			// The places between escapes and other characters.
			between := map[int]bool{}
			for i := 0; i < len(s); {
				between[i] = true
				switch {
				case strings.HasPrefix(s[i:], `\x`):
					i += 4
				case strings.HasPrefix(s[i:], `\u`):
					i += 6
				default:
					i++
				}
			}
			w := wrapName(s, n)
			if strings.ReplaceAll(w, "\n", "") != s {
				t.Fatalf("wrapName(%q, %d) = %q: lost text", s, n, w)
			}
			at := 0
			for _, line := range strings.Split(w, "\n") {
				if len([]rune(line)) > n {
					t.Errorf("wrapName(%q, %d): line %q too long", s, n, line)
				}
				if !between[at] {
					t.Errorf("wrapName(%q, %d) cut an escape: %q", s, n, w)
				}
				at += len(line)
			}
		}
	}
}

// TestPlainTableEscapedIsTablewriter: escaped hostile and East Asian names
// give the same bytes through tablewriter and writePlain (the cells are
// escaped before either sees them), on a table big enough for the fast
// path.
func TestPlainTableEscapedIsTablewriter(t *testing.T) {
	header := []string{"USER", "BINDS", "OK"}
	align := tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignRight}
	names := append([]string{"山田\\太郎", "ｶﾀｶﾅ\\ﾃｽﾄ", "CONTOSO\\élodie", "한국어\u202e\x1b"}, hostileNames...)
	var rows [][]string
	for i := range plainRowsMin + 20 {
		name := names[i%len(names)] + strings.Repeat("x", i%9)
		rows = append(rows, []string{wrapName(safetext.Escape(name), 24), countText(i), countText(i % 7)})
	}
	want, got := renderBoth(t, renderPlain, header, align, rows)
	if want != got {
		t.Fatalf("writePlain differs from tablewriter on escaped names:\n%s", firstDiffLine(want, got))
	}
	checkClean(t, "plain table", got)
}

func firstDiffLine(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n%q\n%q", i+1, al[i], bl[i])
		}
	}
	return "lengths differ"
}
