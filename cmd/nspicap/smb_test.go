package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/smb"
)

type synthCall = synth.Call

// sharedCapture finds a capture of ../shared/captures beside the project
// (or beside the worktree that holds it); the test skips without it.
func sharedCapture(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"../../../shared/captures", "../../../../shared/captures"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no shared captures beside the project")
	return ""
}

// tsharkDCERPC returns, per frame, the DCE/RPC requests (pkt_type 0) and
// responses (2) tshark dissects: opnum per request frame, and the set of
// response frames.
func tsharkDCERPC(t *testing.T, path string, extra ...string) (reqs map[int]int, resps map[int]bool) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	args := append([]string{"-n", "-r", path}, extra...)
	args = append(args, "-Y", "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2", "-T", "fields", "-E", "separator=/t",
		"-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.opnum")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	reqs, resps = map[int]int{}, map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			continue
		}
		frame, _ := strconv.Atoi(f[0])
		op, _ := strconv.Atoi(firstOf(f[2]))
		switch firstOf(f[1]) {
		case "0":
			reqs[frame] = op
		case "2":
			resps[frame] = true
		}
	}
	return reqs, resps
}

// checkPipeCalls compares nspicap's calls over named pipes with tshark's
// DCE/RPC requests and responses, frame by frame: every request tshark
// lists is a call of nspicap with the same opnum and the interface iface
// (when not ""), over ncacn_np; every response frame answers one of them.
func checkPipeCalls(t *testing.T, path, iface string, extra ...string) (*collect, pipeline.Result) {
	t.Helper()
	reqs, resps := tsharkDCERPC(t, path, extra...)
	got, res := runPipeline(t, path)
	ours, ourResps := map[int]*pipeline.Call{}, map[int]bool{}
	for _, c := range got.calls {
		ours[lastReqFrame(c)] = c
		if c.Raw.Response != nil {
			ourResps[int(c.Raw.Response.LastPos.Frame)] = true
		}
	}
	for frame, op := range reqs {
		c := ours[frame]
		switch {
		case c == nil:
			t.Errorf("%s: tshark sees a request (opnum %d) in frame %d; nspicap has no call there", path, op, frame)
		case int(c.Row.Opnum) != op:
			t.Errorf("%s frame %d: opnum %d, tshark %d", path, frame, c.Row.Opnum, op)
		case iface != "" && c.Row.Interface != iface:
			t.Errorf("%s frame %d: interface %s, want %s", path, frame, c.Row.Interface, iface)
		case c.Row.Transport != analyze.TransportNP.String() || !strings.HasPrefix(c.Row.Pipe, `\PIPE\`):
			t.Errorf("%s frame %d: transport %q pipe %q, want ncacn_np and a pipe", path, frame, c.Row.Transport, c.Row.Pipe)
		}
	}
	for frame := range resps {
		if !ourResps[frame] {
			t.Errorf("%s: tshark sees a response in frame %d; no call of nspicap is answered there", path, frame)
		}
	}
	if len(got.calls) != len(reqs) {
		t.Errorf("%s: nspicap lists %d calls, tshark %d requests", path, len(got.calls), len(reqs))
	}
	t.Logf("%s: %d requests and %d responses agree with tshark", filepath.Base(path), len(reqs), len(resps))
	return got, res
}

// TestSMBSharedCaptures: SAMR over SMB2 named pipes in captures made by
// others, read call by call as tshark reads them, with their user, and no
// anomaly where tshark sees no loss.
func TestSMBSharedCaptures(t *testing.T) {
	path := sharedCapture(t, "20-fids.pcap")
	got, res := checkPipeCalls(t, path, "samr")
	if len(got.calls) < 100 {
		t.Errorf("%d calls, want the 102 SAMR requests", len(got.calls))
	}
	for _, c := range got.calls {
		if c.Row.User == nil || *c.Row.User != `WORKGROUP\zeek` || c.Row.Pipe != `\PIPE\samr` || c.Row.Op == "" || strings.HasPrefix(c.Row.Op, "opnum_") {
			t.Errorf("frame %d: user %v pipe %q op %q", c.Row.Frame, str(c.Row.User), c.Row.Pipe, c.Row.Op)
		}
	}
	if len(res.Anomalies) != 0 {
		t.Errorf("anomalies on a clean capture: %+v", res.Anomalies)
	}
	if res.SMB.Pipes != 20 || res.SMB.Encrypted != 0 {
		t.Errorf("SMB stats %+v, want 20 pipes", res.SMB)
	}

	// The same capture with the CLOSE exchanges cut out: the segments
	// missing are gaps (tshark: "previous segment not captured"), and
	// every request it still holds is listed.
	path = sharedCapture(t, "20-fids-no-close.pcap")
	_, res = checkPipeCalls(t, path, "samr")
	for _, a := range res.Anomalies {
		if a.Kind != smb.AnomalyGap {
			t.Errorf("20-fids-no-close: anomaly %+v", a)
		}
	}

	// Kerberos over SMB, no pipe: nothing invented, nothing reported.
	got, res = runPipeline(t, sharedCapture(t, "kerberos445_auth.pcapng"))
	if len(got.calls) != 0 || len(res.Anomalies) != 0 {
		t.Errorf("kerberos445_auth: %d calls, anomalies %+v", len(got.calls), res.Anomalies)
	}
}

// TestSMBPipesTshark: the generated SMB1 and SMB2 pipe captures, call by
// call against tshark (request frame, opnum, response frame) and against
// the generator's manifest (interface, user from SESSION_SETUP, status);
// no anomaly.
func TestSMBPipesTshark(t *testing.T) {
	for _, name := range []string{"smb1-pipes.pcap", "smb2-pipes.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(testdataDir, name)
			got, res := checkPipeCalls(t, path, "")
			if len(res.Anomalies) != 0 {
				t.Errorf("anomalies: %+v", res.Anomalies)
			}
			m := loadManifest(t, name)
			byFrame := map[int]*pipeline.Call{}
			for _, c := range got.calls {
				byFrame[lastReqFrame(c)] = c
			}
			for _, w := range append(append([]synthCall(nil), m.NSPI...), m.Other...) {
				c := byFrame[w.RequestFrame]
				if c == nil {
					t.Errorf("no call at frame %d (%s)", w.RequestFrame, w.Op)
					continue
				}
				if c.Row.Interface != w.Interface || c.Row.Op != w.Op && c.Row.Interface+"."+c.Row.Op != w.Op {
					t.Errorf("frame %d: %s.%s, want %s %s", w.RequestFrame, c.Row.Interface, c.Row.Op, w.Interface, w.Op)
				}
				if c.Row.User == nil || *c.Row.User != w.User || c.Row.Auth != "ntlmssp" {
					t.Errorf("frame %d: user %v auth %s, want %s from the SMB session", w.RequestFrame, str(c.Row.User), c.Row.Auth, w.User)
				}
				if c.Row.Status == nil || *c.Row.Status != w.StatusHex || c.Raw.Response == nil || int(c.Raw.Response.LastPos.Frame) != w.ReplyFrame {
					t.Errorf("frame %d: status %v, want %s in frame %d", w.RequestFrame, str(c.Row.Status), w.StatusHex, w.ReplyFrame)
				}
			}
			if got.ends == 0 {
				t.Errorf("no ConnEnd for the pipes")
			}
		})
	}
}

// TestSMBIdentityFrame: a pipe call named by its SMB session carries the
// frame of the SESSION_SETUP request that holds the session's NTLM
// AUTHENTICATE (identity_frame), in the calls and in the user rows; with
// tshark, that frame is the one tshark shows with the SESSION_SETUP and
// ntlmssp.auth.username of the same client and user.
func TestSMBIdentityFrame(t *testing.T) {
	for _, c := range []struct{ name, filter string }{
		{"smb1-pipes.pcap", "smb.cmd==0x73 && ntlmssp.auth.username"},
		{"smb2-pipes.pcap", "smb2.cmd==1 && ntlmssp.auth.username"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(testdataDir, c.name)
			frames := map[float64]string{} // identity_frame -> client|user
			n := 0
			for _, r := range callsJSON(t, path) {
				if r["identity_from"] != "smb" {
					t.Errorf("frame %v: identity_from %v", r["frame"], r["identity_from"])
					continue
				}
				f, ok := r["identity_frame"].(float64)
				if !ok || f <= 0 || f >= r["frame"].(float64) {
					t.Errorf("frame %v: identity_frame %v", r["frame"], r["identity_frame"])
					continue
				}
				frames[f] = strings.Split(r["client"].(string), ":")[0] + "|" + r["user"].(string)
				n++
			}
			if n == 0 || len(frames) != 1 {
				t.Fatalf("%d calls, identity frames %v", n, frames)
			}
			rep := twinAnalyze(t, path)
			for _, u := range rep.Users {
				f, _ := u["identity_frame"].(map[string]any)
				if u["identity_from"] != "smb" || f == nil || frames[f["frame"].(float64)] == "" {
					t.Errorf("user row %v", u)
				}
			}
			if _, err := exec.LookPath("tshark"); err != nil {
				t.Skip("tshark is not installed")
			}
			out, err := exec.Command("tshark", "-n", "-r", path, "-Y", c.filter, "-T", "fields", "-E", "separator=|",
				"-e", "frame.number", "-e", "ip.src", "-e", "ntlmssp.auth.domain", "-e", "ntlmssp.auth.username").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			ts := map[float64]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if p := strings.Split(l, "|"); len(p) == 4 {
					fr, _ := strconv.Atoi(p[0])
					ts[float64(fr)] = p[1] + "|" + p[2] + `\` + p[3]
				}
			}
			for f, who := range frames {
				if ts[f] != who {
					t.Errorf("identity_frame %v names %s; tshark's SESSION_SETUP AUTHENTICATEs: %v", f, who, ts)
				}
			}
		})
	}
}
