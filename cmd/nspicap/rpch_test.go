package main

import (
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
				if c.Row.Transport != "" {
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
// tshark, which reads each channel by itself: an answer on the OUT channel
// must be the answer nspicap paired with the IN channel's request of the
// same call_id, so a broken pairing fails.
func TestTsharkRPCOverHTTP(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	for _, f := range []string{"rpch-limit.pcap", "rpch-out-reset.pcap", "rpch-v1.pcap"} {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(testdataDir, f)
			args := append([]string{"-n", "-r", path}, loadManifest(t, f).TsharkArgs...)
			args = append(args, "-Y", "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2", "-T", "fields", "-E", "separator=/t",
				"-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_call_id", "-e", "dcerpc.opnum", "-e", "nspi.MAPISTATUS_status")
			out, err := exec.Command("tshark", args...).Output()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := runPipeline(t, path)
			reqs := map[int]string{}    // request frame -> opnum
			answers := map[int]string{} // reply frame -> status
			for _, c := range got.calls {
				if c.Event == nil {
					continue
				}
				reqs[int(c.Row.Frame)] = strconv.Itoa(int(c.Row.Opnum))
				if c.Row.ReplyFrame != nil && c.Row.Status != nil {
					answers[int(*c.Row.ReplyFrame)] = *c.Row.Status
				}
			}
			nReq, nResp := 0, 0
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 5 || f[3] == "" {
					continue
				}
				frame, _ := strconv.Atoi(f[0])
				switch firstOf(f[1]) {
				case "0":
					nReq++
					if reqs[frame] != firstOf(f[3]) {
						t.Errorf("frame %d: tshark request opnum %s, nspicap %q", frame, f[3], reqs[frame])
					}
				case "2":
					if f[4] == "" {
						continue
					}
					nResp++
					s, err := strconv.ParseUint(firstOf(f[4]), 0, 32)
					if err != nil || answers[frame] != fmt.Sprintf("0x%08x", s) {
						t.Errorf("frame %d: tshark answer status %s, nspicap %q", frame, f[4], answers[frame])
					}
				}
			}
			if nReq == 0 || f == "rpch-limit.pcap" && nResp == 0 {
				t.Errorf("tshark: %d requests, %d answers with a status; nspicap %d calls", nReq, nResp, len(reqs))
			}
			t.Logf("%d requests and %d answers agree", nReq, nResp)
		})
	}
}
