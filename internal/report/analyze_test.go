package report

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nspicap/nspicap/analyze"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// evgen builds fake analyzer events: each call takes two frames (request
// and answer) in the current file.
type evgen struct {
	t     time.Time
	step  time.Duration
	file  string
	frame map[string]int64
	a     *analyze.Analyzer
}

func newEvgen(limit int) *evgen {
	return &evgen{
		t:     time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC),
		step:  30 * time.Second,
		file:  "capture.pcapng",
		frame: map[string]int64{},
		a:     analyze.New(analyze.Options{Limit: limit}),
	}
}

func (g *evgen) next() (analyze.FrameRef, time.Time) {
	g.frame[g.file]++
	g.t = g.t.Add(g.step)
	return analyze.FrameRef{File: g.file, Frame: g.frame[g.file]}, g.t
}

func handle(n int) [20]byte {
	var h [20]byte
	h[4], h[5], h[6], h[7] = byte(n), byte(n>>8), 0x5c, 0x91
	return h
}

var (
	dc1     = netip.MustParseAddrPort("10.0.0.1:4997")
	dc2     = netip.MustParseAddrPort("10.0.0.2:4997")
	crm     = netip.MustParseAddrPort("10.0.1.5:50001")
	desk    = netip.MustParseAddrPort("10.0.1.6:50001")
	v6      = netip.MustParseAddrPort("[2001:db8:0:1::1234]:50010")
	svcUser = `CONTOSO\svc-crm`
)

type opt func(*analyze.NSPICall)

func noAnswer(e *analyze.NSPICall) {
	e.Answered, e.HasStatus, e.ReplyFrame, e.ReplyTime = false, false, analyze.FrameRef{}, time.Time{}
}

func (g *evgen) call(op analyze.SessionOp, conn uint64, c, s netip.AddrPort, user string, status uint32, h int, opts ...opt) *evgen {
	f, t := g.next()
	rf, rt := g.next()
	ev := &analyze.NSPICall{
		Meta:     analyze.Meta{Time: t, Frame: f, ConnID: conn, Client: c, Server: s},
		Identity: analyze.Identity{User: user, Auth: "ntlmssp", AuthLevel: "connect"},
		Answer:   analyze.Answer{ReplyFrame: rf, ReplyTime: rt, Answered: true, HasStatus: true, Status: status},
		Op:       op, HasHandle: true,
	}
	ev.Name = map[analyze.SessionOp]string{analyze.OpOpen: "NspiBind", analyze.OpClose: "NspiUnbind", analyze.OpUse: "NspiQueryRows"}[op]
	if user == "" {
		ev.Auth, ev.AuthLevel, ev.Anonymous = "none", "none", true
	}
	if h != 0 {
		ev.Handle = handle(h)
	}
	for _, o := range opts {
		o(ev)
	}
	g.a.Add(ev)
	return g
}

func (g *evgen) ok(conn uint64, c, s netip.AddrPort, user string, h int) *evgen {
	return g.call(analyze.OpOpen, conn, c, s, user, 0, h)
}

func (g *evgen) refused(conn uint64, c, s netip.AddrPort, user string) *evgen {
	return g.call(analyze.OpOpen, conn, c, s, user, analyze.StatusLogonFailed, 0)
}

func (g *evgen) unbind(conn uint64, c, s netip.AddrPort, user string, h int) *evgen {
	return g.call(analyze.OpClose, conn, c, s, user, analyze.UnbindSuccess, h)
}

func (g *evgen) use(conn uint64, c, s netip.AddrPort, user string, h int, opts ...opt) *evgen {
	return g.call(analyze.OpUse, conn, c, s, user, 0, h, opts...)
}

func (g *evgen) end(conn uint64, c, s netip.AddrPort, how analyze.How) *evgen {
	f, t := g.next()
	g.a.Add(&analyze.ConnEnd{Meta: analyze.Meta{Time: t, Frame: f, ConnID: conn, Client: c, Server: s}, How: how})
	return g
}

func (g *evgen) input(first time.Time) analyze.Input {
	return analyze.Input{Path: "testdata/" + g.file, Format: "pcapng", Packets: g.frame[g.file] + 40, FirstTime: first, LastTime: g.t, Warnings: []string{}}
}

// leakReport: the service account binds 60 times and never unbinds; the DC
// refuses it from the 51st bind on. Alice binds and unbinds; Bob's Outlook
// binds anonymously first.
func leakReport() *analyze.Report {
	g := newEvgen(50)
	start := g.t
	alice, bob := `CONTOSO\alice`, `CONTOSO\bob`
	g.refused(1, desk, dc1, "").end(1, desk, dc1, analyze.HowFIN).ok(2, desk, dc1, bob, 500).use(2, desk, dc1, bob, 500)
	for i := 1; i <= 60; i++ {
		if i <= 50 {
			g.ok(uint64(10+i), crm, dc1, svcUser, i).use(uint64(10+i), crm, dc1, svcUser, i)
		} else {
			g.refused(uint64(10+i), crm, dc1, svcUser)
		}
		if i%20 == 0 {
			g.ok(3, desk, dc1, alice, 600+i).use(3, desk, dc1, alice, 600+i).unbind(3, desk, dc1, alice, 600+i)
		}
	}
	g.unbind(2, desk, dc1, bob, 500).end(2, desk, dc1, analyze.HowFIN).end(3, desk, dc1, analyze.HowEndOfCapture)
	r := g.a.Report([]analyze.Input{g.input(start)})
	r.Version = "v0.0.0-test"
	return r
}

// outlookReport: Outlook binds anonymously, is refused, binds with NTLM.
func outlookReport() *analyze.Report {
	g := newEvgen(50)
	start := g.t
	g.refused(1, desk, dc1, "").end(1, desk, dc1, analyze.HowFIN).
		ok(2, desk, dc1, `CONTOSO\bob`, 1).use(2, desk, dc1, `CONTOSO\bob`, 1).use(2, desk, dc1, `CONTOSO\bob`, 1).
		unbind(2, desk, dc1, `CONTOSO\bob`, 1).end(2, desk, dc1, analyze.HowFIN)
	r := g.a.Report([]analyze.Input{g.input(start)})
	r.Version = "v0.0.0-test"
	return r
}

// multiReport: two files, two servers, an IPv6 client with a long user
// name, a session bound before the capture, an unanswered call, a session
// dropped by RST, anomalies and input warnings.
func multiReport() *analyze.Report {
	g := newEvgen(50)
	long := `CONTOSO-EUROPE-WEST\svc-document-archiver-prod`
	g.file = "ring_00001.pcapng"
	s1 := g.t
	g.use(1, crm, dc1, svcUser, 77).ok(1, crm, dc1, svcUser, 1).ok(2, v6, dc2, long, 2).
		use(2, v6, dc2, long, 2).ok(2, v6, dc2, long, 3).ok(2, v6, dc2, long, 4).ok(2, v6, dc2, long, 5)
	in1 := g.input(s1)
	in1.Warnings = []string{"snap length 96 truncated 12 packets"}
	g.file = "ring_00002.pcapng"
	s2 := g.t
	g.unbind(1, crm, dc1, svcUser, 1).unbind(1, crm, dc1, svcUser, 77).
		end(2, v6, dc2, analyze.HowRST).
		use(4, desk, dc1, `CONTOSO\carol`, 9, noAnswer).end(4, desk, dc1, analyze.HowEndOfCapture)
	in2 := g.input(s2)
	g.a.AddAnomaly(analyze.Anomaly{Kind: "tcp_gap", Count: 2, Message: "bytes missing in a TCP stream; calls after the gap were not decoded"})
	r := g.a.Report([]analyze.Input{in1, in2})
	r.Version = "v0.0.0-test"
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", name, got)
	}
}

func checkWidth(t *testing.T, name string, b []byte) {
	t.Helper()
	for i, line := range strings.Split(string(b), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("%s line %d is %d columns wide: %q", name, i+1, n, line)
		}
		if strings.TrimRight(line, " ") != line {
			t.Errorf("%s line %d has trailing blanks: %q", name, i+1, line)
		}
	}
}

func TestGoldenAnalyze(t *testing.T) {
	reports := map[string]func() *analyze.Report{"leak": leakReport, "outlook": outlookReport, "multi": multiReport}
	for name, mk := range reports {
		for _, format := range AnalyzeFormats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := WriteAnalyze(&buf, format, mk()); err != nil {
					t.Fatal(err)
				}
				golden(t, name+".analyze."+format+".golden", buf.Bytes())
				if format == "table" {
					checkWidth(t, name, buf.Bytes())
				}
			})
		}
	}
}

func TestGoldenSessions(t *testing.T) {
	reports := map[string]func() *analyze.Report{"leak": leakReport, "multi": multiReport}
	for name, mk := range reports {
		for _, format := range SessionFormats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := WriteSessions(&buf, format, mk().Sessions); err != nil {
					t.Fatal(err)
				}
				golden(t, name+".sessions."+format+".golden", buf.Bytes())
				if format == "table" {
					checkWidth(t, name, buf.Bytes())
				}
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		if err := WriteAnalyze(&buf, "json", multiReport()); err != nil {
			t.Fatal(err)
		}
		if err := WriteAnalyze(&buf, "table", multiReport()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatal("output differs between runs")
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	r := outlookReport()
	if err := WriteAnalyze(&bytes.Buffer{}, "xml", r); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("analyze: %v", err)
	}
	if err := WriteSessions(&bytes.Buffer{}, "json", r.Sessions); err == nil {
		t.Error("sessions: no error for json")
	}
}

func TestNoSessions(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSessions(&buf, "table", nil); err != nil || buf.String() != "No NSPI sessions.\n" {
		t.Errorf("%q %v", buf.String(), err)
	}
	buf.Reset()
	if err := WriteSessions(&buf, "jsonl", nil); err != nil || buf.Len() != 0 {
		t.Errorf("%q %v", buf.String(), err)
	}
}
