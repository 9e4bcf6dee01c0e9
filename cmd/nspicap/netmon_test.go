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
	"github.com/nspicap/nspicap/internal/testutil"
)

// sameOutputs runs calls and analyze on a capture and on its copy in another
// format, in dir, and requires the same output but for the file name and
// the format. drop names fields of the calls rows left out of the
// comparison (times of a format with coarser timestamps).
func sameOutputs(t *testing.T, dir, orig, copy, format string, drop ...string) {
	t.Helper()
	t.Chdir(dir)
	for _, args := range [][]string{{"calls", "--format", "jsonl"}, {"analyze", "--format", "json"}} {
		if len(drop) > 0 && args[0] == "analyze" {
			continue
		}
		want, errA, codeA := nspicap(t, append(args, orig)...)
		got, errB, codeB := nspicap(t, append(args, copy)...)
		if codeA != 0 || codeB != 0 {
			t.Fatalf("%s: exit %d (%s) and %d (%s)", args[0], codeA, errA, codeB, errB)
		}
		want = strings.ReplaceAll(want, orig, copy)
		errA = strings.ReplaceAll(errA, orig, copy)
		want = strings.Replace(want, `"format": "pcap"`, `"format": "`+format+`"`, 1)
		if len(drop) > 0 {
			want, got = dropFields(t, want, drop), dropFields(t, got, drop)
		}
		if got != want {
			t.Errorf("nspicap %s %s differs from %s:\n%s", strings.Join(args, " "), copy, orig, testutil.FirstDiff(want, got))
		}
		if errA != errB {
			t.Errorf("%s: stderr %q and %q", args[0], errA, errB)
		}
	}
}

func dropFields(t *testing.T, jsonl string, drop []string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, d := range drop {
			delete(m, d)
		}
		out, _ := json.Marshal(m)
		b.Write(append(out, '\n'))
	}
	return b.String()
}

// tsharkRequests lists the DCE/RPC requests tshark sees, by the frame of
// their last fragment: frame -> opnum.
func tsharkRequests(t *testing.T, path string, extra []string) map[int]int {
	t.Helper()
	args := append(append([]string{"-n", "-r", path}, extra...), "-Y", "dcerpc.pkt_type == 0 && dcerpc.cn_flags.last_frag == 1", "-T", "fields",
		"-e", "frame.number", "-e", "dcerpc.opnum")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	reqs := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			continue
		}
		frame, _ := strconv.Atoi(f[0])
		op, _ := strconv.Atoi(firstOf(f[1]))
		reqs[frame] = op
	}
	return reqs
}

// checkTsharkRequests requires every DCE/RPC request tshark lists in a
// capture to be a call of nspicap's at the same frame with the same opnum.
// nspicap may list more (a request damaged by a missing segment, which
// tshark does not dissect).
func checkTsharkRequests(t *testing.T, path string, extra []string) {
	t.Helper()
	theirs := tsharkRequests(t, path, extra)
	got, _ := runPipeline(t, path)
	ours := map[int]int{}
	for _, c := range got.calls {
		if f := lastReqFrame(c); f != 0 {
			ours[f] = int(c.Row.Opnum)
		}
	}
	for f, op := range theirs {
		if o, ok := ours[f]; !ok || o != op {
			t.Errorf("%s: tshark has a request with opnum %d in frame %d; nspicap: %v %v", path, op, f, o, ok)
		}
	}
	for f := range ours {
		if _, ok := theirs[f]; !ok {
			t.Logf("%s: nspicap has a request in frame %d that tshark does not list", filepath.Base(path), f)
		}
	}
	t.Logf("%s: %d DCE/RPC requests agree with tshark", filepath.Base(path), len(theirs))
}

// TestNetmonCommitted: testdata/clean-netmon2.cap (editcap -F netmon2
// clean.pcap; TestNetmonEditcap in internal/capture checks that) gives the
// output of clean.pcap, frame for frame.
func TestNetmonCommitted(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdataDir, "clean-netmon2.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m synth.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	got, res := runPipeline(t, filepath.Join(testdataDir, m.File))
	if res.Inputs[0].Format != m.Format || res.Inputs[0].Packets != int64(m.Frames) {
		t.Errorf("format %q frames %d, manifest %q %d", res.Inputs[0].Format, res.Inputs[0].Packets, m.Format, m.Frames)
	}
	var frames, want []int
	for _, c := range got.calls {
		if c.Event != nil {
			frames = append(frames, lastReqFrame(c))
		}
	}
	for _, c := range m.NSPI {
		want = append(want, c.RequestFrame)
	}
	if fmt.Sprint(frames) != fmt.Sprint(want) {
		t.Errorf("NSPI request frames %v, manifest %v", frames, want)
	}
	sameOutputs(t, testdataDir, "clean.pcap", m.File, m.Format)
}

// TestNetmonCopies writes NetMon 2 and NetMon 1 copies of generated captures
// with editcap and requires the output of the original: the same calls in
// the same frames (NetMon 1 keeps milliseconds, so times are left out
// there), and tshark's DCE/RPC requests in the NetMon 2 copy.
func TestNetmonCopies(t *testing.T) {
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		t.Skip("editcap is not installed")
	}
	_, tsErr := exec.LookPath("tshark")
	td, err := filepath.Abs(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clean", "ntlm-users", "fragmented", "vlan", "retrans-reorder", "missing-segment", "conn-close", "emsmdb-limit"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := loadManifest(t, name+".pcap").TsharkArgs
			src := filepath.Join(td, name+".pcap")
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name+".pcap"), data, 0o644)
			for _, v := range []string{"netmon2", "netmon1"} {
				out := filepath.Join(dir, name+"."+v+".cap")
				if b, err := exec.Command(editcap, "-F", v, src, out).CombinedOutput(); err != nil {
					t.Fatalf("editcap: %v: %s", err, b)
				}
			}
			sameOutputs(t, dir, name+".pcap", name+".netmon2.cap", "netmon2")
			sameOutputs(t, dir, name+".pcap", name+".netmon1.cap", "netmon1", "time", "latency_us")
			if tsErr == nil {
				checkTsharkRequests(t, filepath.Join(dir, name+".netmon2.cap"), args)
			}
		})
	}
}
