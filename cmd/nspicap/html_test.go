package main

import (
	"encoding/binary"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/testutil"
)

// filterRE finds the Wireshark display filters of an HTML page.
var filterRE = regexp.MustCompile(`<code>(frame\.number [^<]*)</code>`)

// pageFilters returns the display filters of a page, unescaped.
func pageFilters(page string) []string {
	var out []string
	for _, m := range filterRE.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// tsharkFilterCaptures are the captures whose filters tshark checks by
// default (a tshark run takes seconds): filters with "in" and "==", from
// one and from several findings. NSPICAP_SLOW_TESTS=1 checks every capture.
var tsharkFilterCaptures = []string{"leak-to-limit.pcap", "endpoint-trouble.pcap"}

// TestHTMLFiltersTshark: on every sample capture, each finding's display
// filter in the HTML page names exactly the frames the finding lists (the
// JSON report's), and tshark 4.0 accepts it and shows exactly those frames.
func TestHTMLFiltersTshark(t *testing.T) {
	files := captures(t)
	_, noTshark := exec.LookPath("tshark")
	t.Chdir(testdataDir)
	checked := 0
	for _, f := range files {
		page, errOut, code := nspicap(t, withKeys(t, f, []string{"analyze", "--format", "html", f})...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", f, code, errOut)
			continue
		}
		js, _, _ := nspicap(t, withKeys(t, f, []string{"analyze", "--format", "json", f})...)
		var r analyze.Report
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var want []string
		var frames [][]int64
		for _, fd := range r.Findings {
			var ns []int64
			for _, fr := range fd.Frames {
				if fr.Frame > 0 && !slices.Contains(ns, fr.Frame) {
					ns = append(ns, fr.Frame)
				}
			}
			if len(ns) == 0 {
				continue
			}
			var parts []string
			for _, n := range ns {
				parts = append(parts, strconv.FormatInt(n, 10))
			}
			if len(ns) == 1 {
				want = append(want, "frame.number == "+parts[0])
			} else {
				want = append(want, "frame.number in {"+strings.Join(parts, ", ")+"}")
			}
			frames = append(frames, ns)
		}
		got := pageFilters(page)
		if !slices.Equal(got, want) {
			t.Errorf("%s: filters %q, want %q", f, got, want)
			continue
		}
		if noTshark != nil || !testutil.Slow() && !slices.Contains(tsharkFilterCaptures, f) {
			continue
		}
		for i, expr := range got {
			out, err := exec.Command("tshark", "-r", f, "-Y", expr, "-T", "fields", "-e", "frame.number").Output()
			if err != nil {
				t.Errorf("%s: tshark -Y %q: %v", f, expr, err)
				continue
			}
			var shown []int64
			for _, l := range strings.Fields(string(out)) {
				n, _ := strconv.ParseInt(l, 10, 64)
				shown = append(shown, n)
			}
			ns := slices.Clone(frames[i])
			slices.Sort(ns)
			if !slices.Equal(shown, ns) {
				t.Errorf("%s: tshark -Y %q shows frames %v, want %v", f, expr, shown, ns)
			}
			checked++
		}
	}
	if noTshark != nil {
		t.Skip("tshark not found: the filters were checked against the JSON only")
	}
	if checked == 0 {
		t.Error("no filter checked")
	}
	t.Logf("%d filters checked with tshark", checked)
}

// TestHTMLFiltersPerFile: with several inputs (the leak sample cut in two
// files, as a ring buffer writes them), a finding whose frames are in both
// has one filter per file, named by the file, with that file's numbers.
func TestHTMLFiltersPerFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testdataDir, "leak-to-limit.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// A little-endian microsecond pcap: a 24-byte header, then records of a
	// 16-byte header (the captured length at 8) and the data.
	const cut = 200
	off, n := 24, 0
	for off < len(src) && n < cut {
		off += 16 + int(binary.LittleEndian.Uint32(src[off+8:]))
		n++
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	if err := os.WriteFile(a, src[:off], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, append(slices.Clone(src[:24]), src[off:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	page, errOut, code := nspicap(t, "analyze", "--format", "html", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The leak's binds: frames 7 to 190 in a.pcap, the last (364) is
	// b.pcap's 164.
	for _, want := range []string{`<span class="file">a.pcap</span> <code>frame.number in {7, 13, `, `<span class="file">b.pcap</span> <code>frame.number == 164</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, strings.Join(pageFilters(page), "\n"))
		}
	}
}
