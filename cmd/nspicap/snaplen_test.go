package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// snapCaptures are the generated captures with authenticated binds (and, in
// ntlm-users and outlook-anon-first, anonymous ones) cut by the snap length
// in TestSnapLengths.
var snapCaptures = []string{"clean.pcap", "ntlm-users.pcap", "leak-to-limit.pcap", "outlook-anon-first.pcap", "conn-close.pcap",
	"vlan.pcap", "fragmented.pcap", "alter-context.pcap", "sealed-ntlm.pcap", "sealed-ntlmv1.pcap", "sealed-krb-aes.pcap", "sealed-krb-rc4.pcap"}

var cutWarning = regexp.MustCompile(`the capture's snap length cut (\d+) records? to (\d+) bytes: (?:it cut (\d+) DCE/RPC calls?|no DCE/RPC call was seen cut)`)

// TestSnapLengths: captures cut at snap lengths 96, 128, 200 and 400 bytes
// (what tcpdump -s N or editcap -s N write). Whatever was cut:
//   - no call is lost: `calls` lists as many as in the whole capture;
//   - no decoding anomaly: the cut bytes are not lost in transit;
//   - an authenticated bind is never called anonymous (no anonymous refusal,
//     leak or verdict sentence that the whole capture does not have) and
//     nothing is "not in the capture" that the whole capture has;
//   - one warning on standard error and in the report names the records
//     cut (as many as tshark sees with frame.cap_len < frame.len), the snap
//     length and the calls cut; the verdict says how to capture whole
//     packets.
func TestSnapLengths(t *testing.T) {
	tshark := true
	if _, err := exec.LookPath("tshark"); err != nil {
		tshark = false
	}
	for _, name := range snapCaptures {
		orig := filepath.Join(testdataDir, name)
		fullOut, _, _ := nspicap(t, "analyze", "--format", "json", orig)
		full := parseReport(t, fullOut)
		fullText, fullErr, _ := nspicap(t, "analyze", orig)
		fullCalls, _, _ := callLines(t, orig)
		for _, snap := range []int{96, 128, 200, 400} {
			t.Run(fmt.Sprintf("%s/%d", name, snap), func(t *testing.T) {
				p := writeTemp(t, name, snapCopy(t, readTestdata(t, name), snap))
				out, errOut, code := nspicap(t, "analyze", "--format", "json", p)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				r := parseReport(t, out)
				text, _, _ := nspicap(t, "analyze", p)

				if calls, _, _ := callLines(t, p); len(calls) != len(fullCalls) {
					t.Errorf("%d calls, want %d", len(calls), len(fullCalls))
				}
				for _, a := range r.Anomalies {
					if !a.Notice {
						t.Errorf("anomaly %s x%d: %s", a.Kind, a.Count, a.Message)
					}
				}

				// Anonymous only where the whole capture says so.
				anonFrames := map[any]bool{}
				for _, rf := range full.Refusals {
					if rf["anonymous"] == true {
						anonFrames[rf["frame"].(map[string]any)["frame"]] = true
					}
				}
				for _, rf := range r.Refusals {
					if rf["anonymous"] == true && !anonFrames[rf["frame"].(map[string]any)["frame"]] {
						t.Errorf("refusal taken as anonymous: %v", rf)
					}
				}
				for _, f := range r.Findings {
					if strings.Contains(strings.ToLower(f.Message), "anonymous sessions") {
						t.Errorf("finding %s: %s", f.Kind, f.Message)
					}
				}
				for _, v := range r.Verdict {
					if strings.Contains(v, "anonymous") && !strings.Contains(strings.Join(full.Verdict, " "), "anonymous") {
						t.Errorf("verdict: %s", v)
					}
				}
				for _, s := range []string{text, errOut} {
					if n, m := strings.Count(s, "not in the capture"), strings.Count(fullText+fullErr, "not in the capture"); n > m {
						t.Errorf("%d times \"not in the capture\" (%d in the whole capture):\n%s", n, m, s)
					}
				}

				// The warning, on standard error and in the report.
				in := r.Inputs[0]
				m := cutWarning.FindStringSubmatch(errOut)
				if cutRecords(t, readTestdata(t, name), snap) == 0 {
					if m != nil || in.SnapLen != 0 || strings.Contains(strings.Join(r.Verdict, " "), "snap length") {
						t.Errorf("nothing cut, yet %q, %+v, %q", errOut, in, r.Verdict)
					}
					return
				}
				if m == nil {
					t.Fatalf("no snap length warning: %q", errOut)
				}
				records, _ := strconv.Atoi(m[1])
				calls, _ := strconv.ParseInt(m[3], 10, 64)
				if m[2] != strconv.Itoa(snap) || in.SnapLen != snap || calls != in.CutCalls || calls == 0 {
					t.Errorf("warning %q; report snap_len %d, cut_calls %d", m[0], in.SnapLen, in.CutCalls)
				}
				if len(in.Warnings) != 1 || !strings.HasPrefix(in.Warnings[0], m[0]) || !strings.Contains(errOut, "tcpdump -s 0") {
					t.Errorf("report warnings %q, stderr %q", in.Warnings, errOut)
				}
				if v := strings.Join(r.Verdict, " "); !strings.Contains(v, fmt.Sprintf("snap length cut packets to %d bytes", snap)) ||
					!strings.Contains(v, "tcpdump -s 0") || !strings.Contains(v, "packettruncatebytes") {
					t.Errorf("verdict %q", r.Verdict)
				}
				if tshark {
					o, err := exec.Command("tshark", "-n", "-r", p, "-Y", "frame.cap_len < frame.len", "-T", "fields", "-e", "frame.number").Output()
					if err != nil {
						t.Fatal(err)
					}
					if n := len(strings.Fields(string(o))); n != records {
						t.Errorf("%d records cut, tshark sees %d", records, n)
					}
				}
			})
		}
	}
}

// TestSnapLengthWhole: a capture whose snap length cut nothing (400 bytes
// and short packets) gives no warning and no verdict sentence.
func TestSnapLengthWhole(t *testing.T) {
	p := writeTemp(t, "x.pcap", snapCopy(t, readTestdata(t, "clean.pcap"), 65535))
	out, errOut, _ := nspicap(t, "analyze", "--format", "json", p)
	r := parseReport(t, out)
	if strings.Contains(errOut, "snap length") || strings.Contains(strings.Join(r.Verdict, " "), "snap length") || r.Inputs[0].SnapLen != 0 {
		t.Errorf("stderr %q, verdict %q, inputs %+v", errOut, r.Verdict, r.Inputs)
	}
}

// cutRecords counts the records of the pcap b longer than snap.
func cutRecords(t *testing.T, b []byte, snap int) int {
	f := splitCapture(t, b)
	n := 0
	for _, u := range f.units {
		if int(f.order.Uint32(u.b[8:])) > snap {
			n++
		}
	}
	return n
}

// TestSnapLengthSMB: over SMB named pipes, the messages the snap length
// cuts are dropped with the calls they carried, counted (the warning, the
// report's cut_smb_messages, the verdict), and never reported as bytes lost
// in transit.
func TestSnapLengthSMB(t *testing.T) {
	for _, name := range []string{"smb1-pipes.pcap", "smb2-pipes.pcap"} {
		for _, snap := range []int{128, 200} {
			t.Run(fmt.Sprintf("%s/%d", name, snap), func(t *testing.T) {
				p := writeTemp(t, name, snapCopy(t, readTestdata(t, name), snap))
				out, errOut, code := nspicap(t, "analyze", "--format", "json", p)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				r := parseReport(t, out)
				for _, a := range r.Anomalies {
					if !a.Notice {
						t.Errorf("anomaly %s x%d: %s", a.Kind, a.Count, a.Message)
					}
				}
				if n := r.Inputs[0].CutSMBMessages; n == 0 || !strings.Contains(errOut, fmt.Sprintf("it cut %d SMB message", n)) {
					t.Errorf("cut_smb_messages %d; stderr %q", n, errOut)
				}
				if v := strings.Join(r.Verdict, " "); !strings.Contains(v, "SMB message") || !strings.Contains(v, "tcpdump -s 0") {
					t.Errorf("verdict %q", v)
				}
			})
		}
	}
}
