package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/internal/testutil"
	"github.com/nspicap/nspicap/nspi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const testdataDir = "../../testdata"

// captures lists the sample captures shipped in testdata/.
func captures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		m, err := filepath.Glob(filepath.Join(testdataDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			out = append(out, filepath.Base(f))
		}
	}
	sort.Strings(out)
	if len(out) < 10 {
		t.Fatalf("only %d captures in %s", len(out), testdataDir)
	}
	return out
}

func nspicap(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

// TestGolden runs the commands a user runs on every sample capture and
// compares their output with the golden files (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files := captures(t)
	t.Chdir(testdataDir)
	for _, f := range files {
		for _, c := range []struct {
			suffix string
			args   []string
		}{
			{"calls.jsonl", []string{"calls", "--format", "jsonl", f}},
			{"analyze.json", []string{"analyze", "--format", "json", f}},
			{"analyze.txt", []string{"analyze", f}},
			{"analyze.html", []string{"analyze", "--format", "html", f}},
			{"sessions.txt", []string{"sessions", f}},
		} {
			out, errOut, code := nspicap(t, withKeys(t, f, c.args)...)
			if code != 0 {
				t.Errorf("%s: exit %d: %s", strings.Join(c.args, " "), code, errOut)
				continue
			}
			golden := filepath.Join("golden", f+"."+c.suffix)
			if *update {
				os.MkdirAll("golden", 0o755)
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Errorf("%v (run go test ./cmd/nspicap -update)", err)
				continue
			}
			if out != string(want) {
				t.Errorf("nspicap %s differs from %s:\n%s", strings.Join(c.args, " "), golden, testutil.FirstDiff(string(want), out))
			}
		}
	}
}

// collect runs the pipeline and keeps every call.
type collect struct {
	calls []*pipeline.Call
	ends  int
}

func (c *collect) Call(x *pipeline.Call)       { c.calls = append(c.calls, x) }
func (c *collect) ConnEnd(ev *analyze.ConnEnd) { c.ends++ }

func runPipeline(t *testing.T, files ...string) (*collect, pipeline.Result) {
	t.Helper()
	c := &collect{}
	res := pipeline.Run(files, pipeline.Options{Rows: true, Keys: manifestKeys(t, files)}, c)
	for _, in := range res.Inputs {
		if in.Err != nil {
			t.Fatalf("%v", in.Err)
		}
	}
	return c, res
}

func loadManifest(t *testing.T, capture string) *synth.Manifest {
	t.Helper()
	name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(capture, ".gz"), ".pcapng"), ".pcap")
	b, err := os.ReadFile(filepath.Join(testdataDir, name+".manifest.json"))
	if err != nil {
		t.Fatalf("manifest of %s: %v", capture, err)
	}
	var m synth.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest of %s: %v", capture, err)
	}
	return &m
}

// callKey identifies a call by the frame that completes its request, as the
// generator's manifest and tshark both do.
func lastReqFrame(c *pipeline.Call) int {
	if c.Raw.Request == nil {
		return 0
	}
	return int(c.Raw.Request.LastPos.Frame)
}

// TestManifest checks every NSPI call of every generated capture against what
// the generator says it wrote: opnum, user, status or fault, reply frame.
func TestManifest(t *testing.T) {
	for _, f := range captures(t) {
		t.Run(f, func(t *testing.T) {
			m := loadManifest(t, f)
			got, _ := runPipeline(t, filepath.Join(testdataDir, f))
			byFrame := map[int]*pipeline.Call{}
			nspiCalls := 0
			for _, c := range got.calls {
				if c.Event != nil {
					nspiCalls++
					byFrame[lastReqFrame(c)] = c
				}
			}
			want := 0
			for _, w := range m.NSPI {
				if w.RequestFrame == 0 {
					continue // a request byte is missing from the capture
				}
				if w.User == "" && w.Auth == "unknown" {
					continue // the bind is not in the capture: the interface is unknown
				}
				want++
				c := byFrame[w.RequestFrame]
				if c == nil {
					t.Errorf("no NSPI call completed in frame %d (%s call_id %d)", w.RequestFrame, w.Op, w.CallID)
					continue
				}
				row := c.Row
				if row.Opnum != w.Opnum || row.Op != w.Op {
					t.Errorf("frame %d: op %d %s, want %d %s", w.RequestFrame, row.Opnum, row.Op, w.Opnum, w.Op)
				}
				user := ""
				if row.User != nil {
					user = *row.User
				}
				wantUser := w.User
				if w.KDCNamed {
					// Kerberos named by the KDC reply that issued the ticket.
					wantUser = w.KDCUser
					if row.IdentityFrom != "tgs_rep" || row.IdentityFrame == 0 || row.Via != w.Via || w.KDCFrame != 0 && row.IdentityFrame != int64(w.KDCFrame) {
						t.Errorf("frame %d: identity from %q frame %d via %q, want tgs_rep frame %d via %q", w.RequestFrame, row.IdentityFrom, row.IdentityFrame, row.Via, w.KDCFrame, w.Via)
					}
				}
				if !strings.EqualFold(user, wantUser) {
					t.Errorf("frame %d: user %q, want %q", w.RequestFrame, user, wantUser)
				}
				if w.TicketLabel != "" && (row.Ticket != w.TicketLabel || row.User != nil) {
					t.Errorf("frame %d: ticket %q user %v, want the label %q and no user", w.RequestFrame, row.Ticket, str(row.User), w.TicketLabel)
				}
				switch {
				case w.Sealed == "no-key" && (row.Status == nil || *row.Status == w.StatusHex):
					// sealed without a key: no status, or an inferred one
				case w.Reply == "response":
					if row.Status == nil || *row.Status != w.StatusHex {
						t.Errorf("frame %d: status %v, want %s", w.RequestFrame, str(row.Status), w.StatusHex)
					}
					if r := c.Raw.Response; r == nil || int(r.LastPos.Frame) != w.ReplyFrame {
						t.Errorf("frame %d: reply completes in frame %v, want %d", w.RequestFrame, r, w.ReplyFrame)
					}
				case w.Reply == "fault":
					if row.Fault == nil || *row.Fault != w.StatusHex {
						t.Errorf("frame %d: fault %v, want %s", w.RequestFrame, str(row.Fault), w.StatusHex)
					}
				case w.Reply == "none":
					if row.ReplyFrame != nil {
						t.Errorf("frame %d: reply frame %d, want none", w.RequestFrame, *row.ReplyFrame)
					}
				}
				if w.Op == "NspiBind" && w.Reply == "response" && w.Status == 0 && w.Sealed != "no-key" {
					if !c.Event.HasHandle || fmt.Sprintf("%x", c.Event.Handle) != w.Handle {
						t.Errorf("frame %d: handle %x, want %s", w.RequestFrame, c.Event.Handle, w.Handle)
					}
				}
			}
			if nspiCalls < want {
				t.Errorf("%d NSPI calls decoded, manifest lists %d", nspiCalls, want)
			}
		})
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

type tsharkCall struct {
	opnum  int
	status string
}

// tsharkNSPI runs tshark and returns, per frame that completes an NSPI
// request, its opnum; and per response frame, its MAPI status.
func tsharkNSPI(t *testing.T, path string, extra []string) (reqs map[int]int, status map[int]string) {
	t.Helper()
	reqs, status, _ = tsharkRead(t, path, extra, false)
	return reqs, status
}

// tsharkRead runs tshark once and returns what tsharkNSPI returns and, with
// ntlm, the identity (domain\user, as tshark spells them) of every NTLM
// AUTHENTICATE message: one pass over the capture for both.
func tsharkRead(t *testing.T, path string, extra []string, ntlm bool) (reqs map[int]int, status map[int]string, users []string) {
	t.Helper()
	args := append([]string{"-n", "-r", path}, extra...)
	filter, fields := "nspi", []string{"frame.number", "dcerpc.pkt_type", "nspi.opnum", "nspi.MAPISTATUS_status"}
	if ntlm {
		// A frame is listed when either filter matches: the nspi field (the
		// protocol's own line, never empty) tells which rows are NSPI.
		filter = "nspi || ntlmssp.messagetype == 3"
		fields = append(fields, "nspi", "ntlmssp.messagetype", "ntlmssp.auth.domain", "ntlmssp.auth.username")
	}
	args = append(args, "-Y", filter, "-T", "fields", "-E", "separator=/t")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	reqs, status = map[int]int{}, map[int]string{}
	// Only the line ends are trimmed: a line's trailing tabs are its empty
	// last fields.
	for _, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < len(fields) {
			continue
		}
		if ntlm {
			for _, typ := range strings.Split(f[5], ",") {
				if n, err := strconv.ParseUint(typ, 0, 32); err == nil && n == 3 {
					users = append(users, f[6]+"\\"+f[7])
					break
				}
			}
			if f[4] == "" {
				continue // not NSPI
			}
		}
		frame, _ := strconv.Atoi(f[0])
		op, _ := strconv.Atoi(firstOf(f[2]))
		switch firstOf(f[1]) {
		case "0":
			reqs[frame] = op
		case "2":
			if s := firstOf(f[3]); s != "" {
				status[frame] = s
			}
		}
	}
	return reqs, status, users
}

func firstOf(s string) string {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return s[:i]
	}
	return s
}

// TestTshark requires that tshark, an independent dissector, reads every
// generated capture the way nspicap does: the same NSPI opnum per request
// frame and the same MAPI status per response frame. The captures are
// checked in parallel subtests: most of the time goes to tshark.
func TestTshark(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	for _, f := range captures(t) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(testdataDir, f)
			if why := loadManifest(t, f).TsharkNone; why != "" {
				t.Skip(why)
			}
			// Some captures need dissector options (out-of-order reassembly,
			// decode-as for a connection tshark's heuristics miss): the
			// generator records them in the manifest.
			reqs, status, users := tsharkRead(t, path, loadManifest(t, f).TsharkArgs, true)
			got, res := runPipeline(t, path)
			// NTLM identities: the same users, as many times, as tshark.
			var theirs, mine []string
			for _, l := range users {
				if l != "" && l != "\\" && !strings.HasSuffix(l, "\\NULL") {
					theirs = append(theirs, strings.ToLower(l))
				}
			}
			for _, l := range res.Logons {
				if l.User != "" {
					mine = append(mine, strings.ToLower(l.User))
				}
			}
			sort.Strings(theirs)
			sort.Strings(mine)
			t.Logf("NTLM users %v", mine)
			if strings.Join(theirs, ",") != strings.Join(mine, ",") {
				t.Errorf("NTLM users: tshark %v, nspicap %v", theirs, mine)
			}
			ours := map[int]int{}
			ourStatus := map[int]string{}
			bound := 0 // NSPI calls whose bind is in the capture: tshark names those
			for _, c := range got.calls {
				if c.Event == nil {
					continue
				}
				if !c.Row.InterfaceInferred {
					bound++
				}
				ours[lastReqFrame(c)] = int(c.Row.Opnum)
				if c.Raw.Response != nil && c.Row.Status != nil {
					ourStatus[int(c.Raw.Response.LastPos.Frame)] = *c.Row.Status
				}
			}
			for frame, op := range reqs {
				if o, ok := ours[frame]; !ok {
					t.Errorf("tshark sees NSPI opnum %d completed in frame %d; nspicap has no NSPI call there", op, frame)
				} else if o != op {
					t.Errorf("frame %d: tshark opnum %d, nspicap %d", frame, op, o)
				}
			}
			for frame, s := range status {
				if o, ok := ourStatus[frame]; !ok || o != s {
					t.Errorf("frame %d: tshark status %s, nspicap %q", frame, s, o)
				}
			}
			if len(reqs) == 0 && bound > 0 {
				t.Errorf("tshark sees no NSPI call, nspicap %d with their bind", bound)
			}
			t.Logf("%d NSPI requests and %d statuses agree with tshark", len(reqs), len(status))
		})
	}
}

// TestSharedCaptures reads real captures made by others: no panic, no NSPI
// call invented, and the NTLM identities that are there.
func TestSharedCaptures(t *testing.T) {
	dir := "../../../shared/captures"
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		t.Skip("no shared captures beside the project")
	}
	users := map[string]bool{}
	for _, f := range files {
		got, res := runPipeline(t, f)
		for _, c := range got.calls {
			if c.Event != nil || c.Row.Interface == "nspi" {
				t.Errorf("%s: NSPI call invented at frame %d", f, c.Row.Frame)
			}
		}
		for _, l := range res.Logons {
			users[filepath.Base(f)+" "+strconv.FormatInt(l.Frame.Frame, 10)+" "+l.User] = true
		}
	}
	if !users[`dce_rpc_ntlm.pcapng 6 BLACKCLOVER\Administrator`] {
		t.Errorf("NTLM identity BLACKCLOVER\\Administrator (frame 6) not found; got %v", users)
	}
	_ = nspi.OpName
}
