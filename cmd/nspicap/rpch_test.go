package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/synth"
)

// TestLimitThroughProxy: a service account that binds past the NSPI limit
// through an RPC proxy (RPC over HTTP v2, channels paired, one recycled)
// is found with the same findings and the same counts as the same calls
// over plain TCP; every NSPI call of the proxied capture is listed once,
// answered, over ncacn_http, with the outside client's address.
func TestLimitThroughProxy(t *testing.T) {
	dir := t.TempDir()
	type finding struct {
		Kind, User string
		Count      int
	}
	findings := map[bool][]finding{}
	for _, overHTTP := range []bool{false, true} {
		s := synth.LimitScenario(overHTTP)
		data, _, err := s.Generate()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, s.File)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := nspicap(t, "analyze", "--format", "json", path)
		if code != 0 {
			t.Fatalf("analyze %s: exit %d: %s", s.File, code, errOut)
		}
		var rep struct {
			Findings  []finding `json:"findings"`
			Anomalies []struct {
				Kind string `json:"kind"`
			} `json:"anomalies"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Anomalies) != 0 {
			t.Errorf("%s: anomalies %v, want none", s.File, rep.Anomalies)
		}
		findings[overHTTP] = rep.Findings
		if !overHTTP {
			continue
		}
		got, _ := runPipeline(t, path)
		seen := map[int]int{}
		for _, c := range got.calls {
			if c.Event == nil {
				continue
			}
			seen[int(c.Row.Frame)]++
			if strings.HasPrefix(c.Row.Client, "192.0.2.21:") {
				if c.Row.Transport != "ncacn_ip_tcp" {
					t.Errorf("frame %d: alice's call over TCP has transport %q", c.Row.Frame, c.Row.Transport)
				}
				continue
			}
			if c.Row.Transport != "ncacn_http" || c.Event.Meta.ClientAddress.String() != "203.0.113.45" {
				t.Errorf("frame %d: transport %q, client address %v; want ncacn_http from 203.0.113.45", c.Row.Frame, c.Row.Transport, c.Event.Meta.ClientAddress)
			}
			if c.Row.Status == nil || c.Row.ReplyFrame == nil {
				t.Errorf("frame %d: %s without an answer", c.Row.Frame, c.Row.Op)
			}
		}
		// svc-crm: 60 NspiBind, 50 NspiQueryRows; alice: 3 calls.
		if n := len(seen); n != 60+50+3 {
			t.Errorf("%d NSPI calls, want 113", n)
		}
		for f, n := range seen {
			if n != 1 {
				t.Errorf("frame %d listed %d times", f, n)
			}
		}
	}
	tcp, http := fmt.Sprint(findings[false]), fmt.Sprint(findings[true])
	if tcp != http {
		t.Errorf("findings differ:\nTCP  %s\nHTTP %s", tcp, http)
	}
	if !strings.Contains(http, "session_limit CONTOSO\\svc-crm 10") {
		t.Errorf("no session_limit finding with 10 refusals for svc-crm: %s", http)
	}
}

// TestTsharkRPCOverHTTP checks, frame by frame, every NSPI request's opnum
// and every answer's call_id and status on the inside-leg captures against
// tshark, which reads each channel by itself (it does not pair them, and
// the banner stops its reassembly of the server's direction: it reads each
// segment alone, with dcerpc.desegment_dcerpc off). An answer on the OUT
// channel must be the answer nspicap paired with the IN channel's request of
// the same call_id, so a broken pairing fails. On the channels opened
// before the capture that nothing ties (rpch-older-unpaired), tshark's
// answers are answers nspicap must not give to any request: exactly those
// are left over.
func TestTsharkRPCOverHTTP(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	unpaired := map[string]int{"rpch-older-unpaired.pcap": 9}
	for _, f := range []string{"rpch-limit.pcap", "rpch-out-reset.pcap", "rpch-v1.pcap", "rpch-older.pcap", "rpch-older-unpaired.pcap"} {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(testdataDir, f)
			args := append([]string{"-n", "-r", path}, loadManifest(t, f).TsharkArgs...)
			args = append(args, "-o", "dcerpc.desegment_dcerpc:FALSE", "-Y", "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2", "-T", "fields", "-E", "separator=/t",
				"-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_call_id", "-e", "nspi.opnum", "-e", "nspi.MAPISTATUS_status", "-e", "dcerpc.stub_data", "-e", "dcerpc.cn_alloc_hint", "-e", "dcerpc.opnum")
			out, err := exec.Command("tshark", args...).Output()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := runPipeline(t, path)
			type answer struct {
				callID uint32
				status string
			}
			reqs := map[int]string{}    // request frame -> opnum
			answers := map[int]answer{} // reply frame -> call_id, status
			for _, c := range got.calls {
				if c.Event == nil {
					continue
				}
				reqs[int(c.Row.Frame)] = strconv.Itoa(int(c.Row.Opnum))
				if c.Row.ReplyFrame != nil && c.Row.Status != nil {
					answers[int(*c.Row.ReplyFrame)] = answer{c.Row.CallID, *c.Row.Status}
				}
			}
			nReq, nResp, leftOver := 0, 0, 0
			seenResp := map[int]bool{}
			for _, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 8 {
					continue
				}
				frame, _ := strconv.Atoi(f[0])
				switch lastOf(f[1]) {
				case "0":
					// A request on a successor IN channel: tshark did not see
					// its bind there and gives only dcerpc.opnum.
					op := lastOf(f[3])
					if op == "" {
						if _, ours := reqs[frame]; !ours {
							continue // not NSPI
						}
						op = lastOf(f[7])
					}
					nReq++
					if reqs[frame] != op {
						t.Errorf("frame %d: tshark request opnum %s, nspicap %q", frame, op, reqs[frame])
					}
				case "2":
					status := ""
					if v := lastOf(f[4]); v != "" {
						n, _ := strconv.ParseUint(v, 0, 32)
						status = fmt.Sprintf("0x%08x", n)
					} else if stub, err := hex.DecodeString(strings.ReplaceAll(lastOf(f[5]), ":", "")); err == nil {
						// The stub, then the auth padding and trailer that
						// tshark leaves in it: the alloc_hint (the stub's
						// length) says where the return value ends.
						if n, _ := strconv.Atoi(lastOf(f[6])); n >= 4 && n <= len(stub) {
							status = fmt.Sprintf("0x%08x", binary.LittleEndian.Uint32(stub[n-4:n]))
						}
					}
					if status == "" {
						continue
					}
					nResp++
					seenResp[frame] = true
					id, _ := strconv.ParseUint(lastOf(f[2]), 10, 32)
					a, ok := answers[frame]
					if !ok && unpaired[filepath.Base(path)] > 0 {
						leftOver++ // an answer on a channel nothing tied
						continue
					}
					if !ok || a.status != status || a.callID != uint32(id) {
						t.Errorf("frame %d: tshark answer call_id %d status %s, nspicap %+v (paired: %v)", frame, id, status, a, ok)
					}
				}
			}
			for fr := range answers {
				if !seenResp[fr] {
					t.Logf("nspicap answer in frame %d: tshark shows no status there", fr)
				}
			}
			if nReq != len(reqs) || nResp-leftOver != len(answers) || leftOver != unpaired[f] {
				t.Errorf("tshark: %d NSPI requests, %d answers (%d left over, want %d); nspicap %d calls, %d answered", nReq, nResp, leftOver, unpaired[f], len(reqs), len(answers))
			}
			t.Logf("%d requests and %d answers agree, %d answers left unpaired", nReq, nResp-leftOver, leftOver)
		})
	}
}

// lastOf is the last of a field's comma-separated values: the DCE/RPC PDU
// of a frame that starts with a flow control RTS PDU.
func lastOf(s string) string {
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		return s[i+1:]
	}
	return s
}

// splitPcap cuts a classic pcap file after its k-th record into two files
// of a ring, each with the global header.
func splitPcap(t *testing.T, data []byte, k int) (a, b []byte) {
	t.Helper()
	off, n := 24, 0
	for off+16 <= len(data) && n < k {
		incl := int(binary.LittleEndian.Uint32(data[off+8:]))
		off += 16 + incl
		n++
	}
	a = append([]byte(nil), data[:off]...)
	b = append(append([]byte(nil), data[:24]...), data[off:]...)
	return a, b
}

// TestRingRPCOverHTTP cuts the RPC over HTTP captures into two files of a
// ring at many places, so that a virtual connection's IN and OUT channels
// (opened OUT first in some) start and carry their calls in different
// files, and gives the files to nspicap in reverse order: every call is
// found as in the whole capture, with its answer, and without anomaly.
func TestRingRPCOverHTTP(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"rpch-limit.pcap", "rpch-outside.pcap", "rpch-chunked.pcap"} {
		data, err := os.ReadFile(filepath.Join(testdataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := runPipeline(t, filepath.Join(testdataDir, f))
		type key struct{ req, reply int }
		want := map[key]string{}
		for _, c := range whole.calls {
			if c.Event != nil && c.Row.ReplyFrame != nil {
				want[key{int(c.Row.Frame), int(*c.Row.ReplyFrame)}] = c.Row.Op + " " + str(c.Row.Status)
			}
		}
		frames := loadManifest(t, f).Frames
		for i := 1; i < 24; i++ {
			k := frames * i / 24
			a, b := splitPcap(t, data, k)
			pa, pb := filepath.Join(dir, "ring_1.pcap"), filepath.Join(dir, "ring_2.pcap")
			if err := os.WriteFile(pa, a, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pb, b, 0o644); err != nil {
				t.Fatal(err)
			}
			got, res := runPipeline(t, pb, pa)
			if len(res.Anomalies) != 0 {
				t.Errorf("%s cut after frame %d: anomalies %+v", f, k, res.Anomalies)
			}
			global := func(file string, frame int64) int {
				if file == pb {
					return int(frame) + k
				}
				return int(frame)
			}
			n := 0
			for _, c := range got.calls {
				if c.Event == nil || c.Row.ReplyFrame == nil {
					continue
				}
				rf := c.Row.ReplyFile
				if rf == "" {
					rf = c.Row.File
				}
				g := key{global(c.Row.File, c.Row.Frame), global(rf, *c.Row.ReplyFrame)}
				if w, ok := want[g]; !ok || w != c.Row.Op+" "+str(c.Row.Status) {
					t.Errorf("%s cut after frame %d: call %v %s %s, want %q", f, k, g, c.Row.Op, str(c.Row.Status), w)
				}
				n++
			}
			if n != len(want) {
				t.Errorf("%s cut after frame %d: %d answered NSPI calls, want %d", f, k, n, len(want))
			}
		}
	}
}

// TestHTTPIdentity: on the outside leg, calls whose DCE/RPC binding is not
// authenticated carry the user of the channel's HTTP authentication, named
// by the request that carried it (NTLM AUTHENTICATE or Basic), and no
// output holds the Basic password.
func TestHTTPIdentity(t *testing.T) {
	path := filepath.Join(testdataDir, "rpch-outside.pcap")
	got, res := runPipeline(t, path)
	users := map[string]int{}
	for _, c := range got.calls {
		if c.Event == nil {
			continue
		}
		id := c.Event.Identity
		if o := id.Origin; o == nil || o.From != "http" || o.FromFrame.Frame == 0 || o.FromFrame.Frame >= c.Event.Meta.Frame.Frame || id.Anonymous {
			t.Errorf("frame %d: identity %+v (origin %+v), want the HTTP user named before the call", c.Row.Frame, id, o)
		}
		users[id.User]++
	}
	if users[`CONTOSO\bob`] != 3 || users[`FABRIKAM\carol`] != 2 {
		t.Errorf("users %v, want bob 3 calls (NTLM), carol 2 (Basic)", users)
	}
	if len(res.Logons) != 1 || res.Logons[0].User != `CONTOSO\bob` {
		t.Errorf("logons %+v, want bob's NTLM HTTP logon", res.Logons)
	}
	for _, args := range [][]string{{"calls", "--format", "jsonl", path}, {"analyze", "--format", "json", path}, {"sessions", path}} {
		out, _, _ := nspicap(t, args...)
		if strings.Contains(out, "Secret-Pa55") {
			t.Errorf("nspicap %s prints the Basic password", args[0])
		}
	}
}

// TestReferralsBehindProxy: RFR calls that came through an RPC proxy are
// listed per client behind it (client_address beside the proxy's client),
// apart from each other and from the same user's direct calls, in every
// format; tshark reads the same RfrGetNewDSA requests and answers in the
// frames the rows name (it reads each channel alone: the answer's stub must
// hold the server name nspicap found there).
func TestReferralsBehindProxy(t *testing.T) {
	const f = "rpch-rfr.pcap"
	r := analyzeCapture(t, f)
	var got []string
	for _, x := range r.Referrals {
		got = append(got, fmt.Sprintf("%s/%s/%s/%s/%d", x.Client, x.ClientAddress, x.User, x.ReferredTo, x.Count))
	}
	want := []string{
		`192.0.2.80/203.0.113.45/CONTOSO\alice/dc01.contoso.example/2`,
		`192.0.2.80/203.0.113.46/CONTOSO\alice/dc01.contoso.example/1`,
		`192.0.2.21//CONTOSO\alice/dc01.contoso.example/1`,
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("referrals\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	path := filepath.Join(testdataDir, f)
	for _, format := range []string{"table", "html"} {
		out, _, _ := nspicap(t, "analyze", "--format", format, path)
		for _, w := range []string{"203.0.113.45 via 192.0.2.80", "203.0.113.46 via 192.0.2.80"} {
			if !strings.Contains(out, w) {
				t.Errorf("analyze --format %s does not name %q", format, w)
			}
		}
	}
	js, _, _ := nspicap(t, "analyze", "--format", "json", path)
	if n := strings.Count(js, `"client_address": "203.0.113.4`); n != 2 {
		t.Errorf("%d referral rows with client_address in the JSON, want 2", n)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	args := append([]string{"-n", "-r", path}, loadManifest(t, f).TsharkArgs...)
	args = append(args, "-o", "dcerpc.desegment_dcerpc:FALSE", "-Y", "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2", "-T", "fields", "-E", "separator=/t",
		"-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_call_id", "-e", "rfr.opnum", "-e", "dcerpc.stub_data", "-e", "rfr.RfrGetNewDSA.ppszServer")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The answer on the OUT channel is read without its bind: its stub
	// is raw; the direct connection's is decoded (ppszServer).
	type pdu struct{ ptype, callID, opnum, stub, server string }
	frames := map[int]pdu{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		x := strings.Split(line, "\t")
		if len(x) < 6 {
			continue
		}
		n, _ := strconv.Atoi(x[0])
		frames[n] = pdu{lastOf(x[1]), lastOf(x[2]), lastOf(x[3]), strings.ReplaceAll(lastOf(x[4]), ":", ""), x[5]}
	}
	calls, _ := runPipeline(t, path)
	n := 0
	for _, c := range calls.calls {
		if c.Row.Op != "RfrGetNewDSA" || c.Row.ReplyFrame == nil {
			continue
		}
		n++
		id := strconv.Itoa(int(c.Row.CallID))
		if p := frames[int(c.Row.Frame)]; p.ptype != "0" || p.opnum != "0" || p.callID != id {
			t.Errorf("request frame %d: tshark %+v, want RfrGetNewDSA call_id %s", c.Row.Frame, p, id)
		}
		p := frames[int(*c.Row.ReplyFrame)]
		stub, _ := hex.DecodeString(p.stub)
		if p.ptype != "2" || p.callID != id || !strings.Contains(string(stub), "dc01.contoso.example") && p.server != "dc01.contoso.example" {
			t.Errorf("answer frame %d: tshark %+v, want a response to call_id %s naming dc01.contoso.example", *c.Row.ReplyFrame, p, id)
		}
	}
	if n != 4 {
		t.Errorf("%d answered RfrGetNewDSA calls, want 4", n)
	}
}
