package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The HTML page checked in a real browser: headless Chromium lays out the
// page of every sample capture at 1280 px and at a phone's 390 px, and
// takes screenshots of the leak samples' pages. A Chromium launch takes
// seconds (tens on a loaded machine), so the test runs only with
// NSPICAP_BROWSER_TESTS=1, and then fails when Chromium is missing.
// NSPICAP_BROWSER_SHOTS=DIR keeps the screenshots in DIR.

const browserEnv = "NSPICAP_BROWSER_TESTS"

// pageWidths are the widths the pages are laid out at: a laptop and a phone.
var pageWidths = []int{1280, 390}

// screenshotCaptures are the samples whose pages are also screenshot.
var screenshotCaptures = []string{"leak-to-limit.pcap", "emsmdb-limit.pcap"}

func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv(browserEnv) != "1" {
		t.Skipf("set %s=1 to check the HTML pages in headless Chromium", browserEnv)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("%s=1 but no chromium on PATH (Debian: apt-get install chromium)", browserEnv)
	return ""
}

// runChromium runs headless Chromium on url with extra flags and returns
// its standard output.
func runChromium(t *testing.T, bin string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--force-device-scale-factor=1", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(args, extra...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(extra, " "), err, stderr.String())
	}
	return out
}

// layoutProbe measures every page of the harness once it has loaded: its
// charts as laid out, its lines' lengths, and whether it overflows.
const layoutProbe = `<script>
window.addEventListener("load", function () {
  var out = [];
  document.querySelectorAll("iframe").forEach(function (f) {
    var d = f.contentDocument, m = {name: f.dataset.name, width: f.width | 0, charts: [], overflow: 0};
    m.overflow = d.documentElement.scrollWidth - d.documentElement.clientWidth;
    m.height = d.documentElement.scrollHeight;
    var v = d.getElementById("verdict"), fi = d.getElementById("findings");
    m.verdictTop = v ? v.getBoundingClientRect().top : -1;
    m.findingsTop = fi ? fi.getBoundingClientRect().top : -1;
    d.querySelectorAll("figure.chart svg").forEach(function (s) {
      var b = s.getBoundingClientRect(), line = s.querySelector("path.line"), lim = s.querySelector("line.limit");
      m.charts.push({x: b.left, y: b.top, w: b.width, h: b.height, right: b.right,
        line: line ? line.getTotalLength() : 0,
        limit: lim ? lim.getBoundingClientRect().width : 0,
        refusals: s.querySelectorAll("circle.refusal").length});
    });
    out.push(m);
  });
  document.getElementById("probe").textContent = JSON.stringify(out);
});
</script>`

type pageLayout struct {
	Name        string     `json:"name"`
	Width       int        `json:"width"`
	Overflow    float64    `json:"overflow"`
	Height      float64    `json:"height"`
	VerdictTop  float64    `json:"verdictTop"`
	FindingsTop float64    `json:"findingsTop"`
	Charts      []chartBox `json:"charts"`
}

// chartBox is a chart as laid out, in CSS pixels from the page's top left.
type chartBox struct {
	X, Y, W, H, Right, Line, Limit float64
	Refusals                       int
}

// TestHTMLInBrowser: every sample capture's page, laid out by Chromium at
// 1280 and 390 px, has its verdict above its findings, draws every chart
// (an SVG of real size with a step line and the limit line, the refusals
// marked), and does not overflow sideways; the leak samples' screenshots
// show the charts (the step line's blue, the limit's red, the filled area).
func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	files := captures(t)
	dir := t.TempDir()
	pages := map[string]string{}
	var h strings.Builder
	h.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>\n")
	t.Chdir(testdataDir)
	for _, f := range files {
		page, errOut, code := nspicap(t, withKeys(t, f, []string{"analyze", "--format", "html", f})...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errOut)
		}
		pages[f] = page
		for _, w := range pageWidths {
			fmt.Fprintf(&h, "<iframe data-name=\"%s\" width=\"%d\" height=\"900\" srcdoc=\"%s\"></iframe>\n", f, w, html.EscapeString(page))
		}
	}
	h.WriteString("<pre id=\"probe\">pending</pre>\n" + layoutProbe + "</body></html>\n")
	harness := filepath.Join(dir, "harness.html")
	if err := os.WriteFile(harness, []byte(h.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := runChromium(t, bin, "--window-size=1400,1000", "--virtual-time-budget=30000", "--dump-dom", "file://"+harness)
	m := regexp.MustCompile(`(?s)<pre id="probe">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no probe in the dumped DOM (%d bytes)", len(dom))
	}
	var layouts []pageLayout
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &layouts); err != nil {
		t.Fatalf("probe %.200q: %v", m[1], err)
	}
	if len(layouts) != len(files)*len(pageWidths) {
		t.Fatalf("%d pages laid out, want %d", len(layouts), len(files)*len(pageWidths))
	}
	byPage := map[string]pageLayout{}
	for _, l := range layouts {
		page := pages[l.Name]
		what := fmt.Sprintf("%s at %d px", l.Name, l.Width)
		byPage[fmt.Sprint(l.Name, l.Width)] = l
		if l.VerdictTop < 0 || l.FindingsTop <= l.VerdictTop {
			t.Errorf("%s: verdict at %v, findings at %v", what, l.VerdictTop, l.FindingsTop)
		}
		if l.Overflow > 0 {
			t.Errorf("%s: the page is %v px wider than the screen", what, l.Overflow)
		}
		if want := strings.Count(page, "<svg"); len(l.Charts) != want {
			t.Errorf("%s: %d charts laid out, want %d", what, len(l.Charts), want)
		}
		refusals := 0
		for i, c := range l.Charts {
			if c.W < 200 || c.H < 60 || c.Line <= 0 || c.Limit < c.W/2 || c.Right > float64(l.Width) {
				t.Errorf("%s: chart %d laid out %vx%v (right edge %v), step line %v long, limit line %v wide", what, i+1, c.W, c.H, c.Right, c.Line, c.Limit)
			}
			refusals += c.Refusals
		}
		if want := strings.Count(page, `<circle class="refusal"`); refusals != want {
			t.Errorf("%s: %d refusal marks laid out, want %d", what, refusals, want)
		}
	}
	if !t.Failed() {
		t.Logf("%d pages laid out at %v px", len(files), pageWidths)
	}

	shots := os.Getenv("NSPICAP_BROWSER_SHOTS")
	if shots == "" {
		shots = dir
	}
	for _, f := range screenshotCaptures {
		path := filepath.Join(dir, f+".html")
		if err := os.WriteFile(path, []byte(pages[f]), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, w := range pageWidths {
			l := byPage[fmt.Sprint(f, w)]
			height := int(min(max(l.Height, 800), 12000))
			png := filepath.Join(shots, fmt.Sprintf("%s-%d.png", strings.TrimSuffix(f, ".pcap"), w))
			runChromium(t, bin, fmt.Sprintf("--window-size=%d,%d", w, height), "--screenshot="+png, "file://"+path)
			checkScreenshot(t, png, w, l.Charts)
		}
	}
}

// checkScreenshot decodes a screenshot and checks that each chart, where
// the layout put it, was painted: its step line's blue and its limit's red
// are there, and a good part of its box is not white.
func checkScreenshot(t *testing.T, path string, width int, charts []chartBox) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != width {
		t.Errorf("%s: %d px wide, want %d", path, b.Dx(), width)
	}
	// The hues of the step line (#1f5fa8) and the limit (#b00020), with
	// room for antialiasing.
	blueish := func(c [3]int) bool { return c[2] > c[0]+50 && c[2] > c[1]+25 }
	reddish := func(c [3]int) bool { return c[0] > c[1]+70 && c[0] > c[2]+50 }
	checked := 0
	for i, c := range charts {
		box := image.Rect(int(c.X), int(c.Y), int(c.X+c.W), int(c.Y+c.H)).Intersect(b)
		if box.Dy() < int(c.H) {
			continue // below the screenshot
		}
		var blue, red, painted int
		for y := box.Min.Y; y < box.Max.Y; y++ {
			for x := box.Min.X; x < box.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				px := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
				if px[0] < 245 || px[1] < 245 || px[2] < 245 {
					painted++
				}
				switch {
				case blueish(px):
					blue++
				case reddish(px):
					red++
				}
			}
		}
		frac := float64(painted) / float64(max(box.Dx()*box.Dy(), 1))
		// The limit's dashes and the step line cross the whole plot.
		if blue < box.Dx()/3 || red < box.Dx()/4 || frac < 0.02 {
			t.Errorf("%s: chart %d at %v: %d blue, %d red pixels, %.1f%% painted: not drawn", path, i+1, box, blue, red, 100*frac)
		}
		if i == 0 || c.Refusals > 0 {
			t.Logf("%s: chart %d at %v: %d blue, %d red pixels, %.0f%% painted, %d refusal marks", filepath.Base(path), i+1, box, blue, red, 100*frac, c.Refusals)
		}
		checked++
	}
	if checked == 0 {
		t.Errorf("%s: no chart inside the screenshot", path)
	}
}

func abs(x int) int { return max(x, -x) }
