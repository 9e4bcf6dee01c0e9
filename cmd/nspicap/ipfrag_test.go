package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/internal/testutil"
)

var frameRefRE = regexp.MustCompile(`(frame |#)(\d+)`)

// remapFrames rewrites the frame numbers of a JSON value: fields whose name
// ends in "frame", "frames" lists, and "frame N" / "#N" in strings.
func remapFrames(v any, frames []int64) any {
	m := func(f float64) float64 {
		if i := int(f); i >= 1 && i <= len(frames) {
			return float64(frames[i-1])
		}
		return f
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch f, isNum := e.(float64); {
			case isNum && strings.HasSuffix(k, "frame"):
				x[k] = m(f)
			case k == "frames":
				if l, ok := e.([]any); ok {
					for i, n := range l {
						if f, ok := n.(float64); ok {
							l[i] = m(f)
						} else {
							l[i] = remapFrames(n, frames)
						}
					}
				}
			default:
				x[k] = remapFrames(e, frames)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = remapFrames(e, frames)
		}
	case string:
		return frameRefRE.ReplaceAllStringFunc(x, func(s string) string {
			sub := frameRefRE.FindStringSubmatch(s)
			n, _ := strconv.Atoi(sub[2])
			return sub[1] + strconv.FormatFloat(m(float64(n)), 'f', -1, 64)
		})
	}
	return v
}

// canonical parses JSON (one value, or one per line) and writes it back,
// with fix applied to each value.
func canonical(t *testing.T, s string, lines bool, fix func(any) any) string {
	t.Helper()
	parts := []string{s}
	if lines {
		parts = strings.Split(strings.TrimSpace(s), "\n")
	}
	var b strings.Builder
	for _, p := range parts {
		var v any
		if err := json.Unmarshal([]byte(p), &v); err != nil {
			t.Fatalf("%v: %.200s", err, p)
		}
		out, _ := json.MarshalIndent(fix(v), "", " ")
		b.Write(append(out, '\n'))
	}
	return b.String()
}

// TestIPFragments fragments the TCP segments of generated captures as a VPN
// or a small MTU would (out of order, with a duplicate; synth.FragmentIPv4)
// and requires the output of the original capture, with each packet's frame
// number moved to the fragment that completes it; and tshark, which
// reassembles IPv4 by default, must list its DCE/RPC requests at those
// frames.
func TestIPFragments(t *testing.T) {
	_, tsErr := exec.LookPath("tshark")
	td, err := filepath.Abs(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clean", "ntlm-users", "fragmented", "emsmdb-limit", "conn-close"} {
		t.Run(name, func(t *testing.T) {
			args := loadManifest(t, name+".pcap").TsharkArgs
			orig, err := os.ReadFile(filepath.Join(td, name+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			frag, frames, err := synth.FragmentIPv4(orig, synth.FragmentOptions{MinPayload: 60, Pieces: 3})
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(frames)) == frames[len(frames)-1] {
				t.Fatal("nothing was fragmented")
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "a.pcap"), orig, 0o644)
			os.WriteFile(filepath.Join(dir, "b.pcap"), frag, 0o644)
			t.Chdir(dir)
			for _, c := range [][]string{{"calls", "--format", "jsonl"}, {"analyze", "--format", "json"}} {
				want, errA, codeA := nspicap(t, append(c, "a.pcap")...)
				got, errB, codeB := nspicap(t, append(c, "b.pcap")...)
				if codeA != 0 || codeB != 0 {
					t.Fatalf("%s: exit %d (%s), %d (%s)", c[0], codeA, errA, codeB, errB)
				}
				lines := c[0] == "calls"
				want = canonical(t, strings.ReplaceAll(want, "a.pcap", "b.pcap"), lines, func(v any) any {
					v = remapFrames(v, frames)
					if m, ok := v.(map[string]any); ok && m["inputs"] != nil {
						m["inputs"].([]any)[0].(map[string]any)["packets"] = float64(frames[len(frames)-1])
					}
					return v
				})
				got = canonical(t, got, lines, func(v any) any { return v })
				if got != want {
					t.Errorf("nspicap %s on the fragmented copy:\n%s", c[0], testutil.FirstDiff(want, got))
				}
			}
			if tsErr == nil {
				checkTsharkRequests(t, filepath.Join(dir, "b.pcap"), args)
			}
		})
	}
}

// TestIPFragmentLost: a datagram one of whose fragments is missing is an
// ip_fragments_incomplete anomaly at its first fragment, not only a gap.
func TestIPFragmentLost(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testdataDir, "clean.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	frag, _, err := synth.FragmentIPv4(orig, synth.FragmentOptions{MinPayload: 60, Pieces: 3, Drop: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "lost.pcap")
	os.WriteFile(p, frag, 0o644)
	out, errOut, code := nspicap(t, "analyze", "--format", "json", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Anomalies []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"anomalies"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range rep.Anomalies {
		if a.Kind == "ip_fragments_incomplete" && a.Count == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no ip_fragments_incomplete x1 among %+v", rep.Anomalies)
	}
}
