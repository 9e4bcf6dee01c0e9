package report

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
)

func renderHTML(t *testing.T, r *analyze.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteAnalyze(&buf, "html", r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// scriptUser is a user name that would run script and break out of an
// attribute if a page wrote it as it came.
const scriptUser = `CONTOSO\<script>alert("x")</script>`

// TestHTMLEscapesNames: a user name with markup and a quote shows as text
// in the page, in the findings, the tables and the SVG charts (title,
// aria-label), never as markup; the other hostile names are escaped as in
// the table format (safetext) before HTML escaping.
func TestHTMLEscapesNames(t *testing.T) {
	g := newEvgen(50)
	g.step = time.Second
	start := g.t
	for i := 1; i <= 55; i++ {
		if i <= 50 {
			g.ok(uint64(i), crm, dc1, scriptUser, i)
		} else {
			g.refused(uint64(i), crm, dc1, scriptUser)
		}
	}
	r := g.a.Report([]analyze.Input{g.input(start)})
	out := renderHTML(t, r)
	if n := strings.Count(out, "<script"); n != 1 {
		t.Errorf("the page has %d <script elements, want 1 (its own)", n)
	}
	if strings.Contains(out, `alert("x")`) {
		t.Errorf("the quote of the name is written raw")
	}
	esc := `CONTOSO\&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
	if n := strings.Count(out, esc); n < 5 {
		t.Errorf("the escaped name appears %d times, want it in the verdict, findings, tables and charts", n)
	}
	svg := out[strings.Index(out, "<svg"):strings.LastIndex(out, "</svg>")]
	if !strings.Contains(svg, "<title>NSPI sessions held by "+esc) || !strings.Contains(svg, `aria-label="NSPI sessions held by `+esc) {
		t.Errorf("the SVG does not carry the escaped name in its title and label:\n%.600s", svg)
	}
	if strings.Contains(svg, "<script") {
		t.Errorf("markup from a name in the SVG")
	}

	hr := hostileReport()
	out = renderHTML(t, hr)
	// The page's own newlines are its only control characters: what
	// checkClean asks of every text output.
	checkClean(t, "analyze html", out)
	for _, want := range []string{`\x1b]0;pwned\x07eve`, `mallory\x0d\x0aFAKE`, `\u202egnp.exe`, `bad\xff\xfeutf8`, `ring\x0aFAKE`} {
		if !strings.Contains(out, html.EscapeString(want)) && !strings.Contains(out, want) {
			t.Errorf("analyze html does not show %q", want)
		}
	}
}

// TestHTMLSelfContained: nothing in the page loads from the network or
// from another file: no src or href out of the page, no @import, no url().
func TestHTMLSelfContained(t *testing.T) {
	for name, r := range map[string]*analyze.Report{"leak": leakReport(), "multi": multiReport(), "hostile": hostileReport()} {
		out := renderHTML(t, r)
		out = strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, bad := range []string{"http:", "https:", "//", "src=", "<link", "@import", "url(", "<iframe", "<img"} {
			if bad == "//" {
				// the sorting script's comment is the one "//"
				if n := strings.Count(out, "//"); n != 1 {
					t.Errorf("%s: %d \"//\" in the page, want the script's comment only", name, n)
				}
				continue
			}
			if strings.Contains(out, bad) {
				i := strings.Index(out, bad)
				t.Errorf("%s: the page has %q: %q", name, bad, out[max(i-60, 0):min(i+60, len(out))])
			}
		}
		for _, want := range []string{"<style>", "@media print", "@page", `name="viewport"`, `<section id="verdict"`, "</html>"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the page lacks %q", name, want)
			}
		}
		if v, f := strings.Index(out, `id="verdict"`), strings.Index(out, `id="findings"`); v < 0 || f < v {
			t.Errorf("%s: the verdict does not come first (verdict at %d, findings at %d)", name, v, f)
		}
		if again := renderHTML(t, r); again != renderHTML(t, r) {
			t.Errorf("%s: two renderings differ", name)
		}
	}
}

// TestHTMLLeakPage: the leak report's page has the findings' filters, a
// chart per user and client row of the timeline, with the limit line and
// the 10 refusals marked, and the tables.
func TestHTMLLeakPage(t *testing.T) {
	r := leakReport()
	out := renderHTML(t, r)
	filters := regexp.MustCompile(`<code>(frame\.number[^<]*)</code>`).FindAllStringSubmatch(out, -1)
	var want []string
	for _, f := range r.Findings {
		var ns []string
		for _, fr := range f.Frames {
			ns = append(ns, fmt.Sprint(fr.Frame))
		}
		if len(ns) == 1 {
			want = append(want, "frame.number == "+ns[0])
		} else {
			want = append(want, "frame.number in {"+strings.Join(ns, ", ")+"}")
		}
	}
	if len(filters) != len(want) {
		t.Fatalf("%d filters, want %d (one per finding)", len(filters), len(want))
	}
	for i, f := range filters {
		if got := html.UnescapeString(f[1]); got != want[i] {
			t.Errorf("filter %d: %q, want %q", i, got, want[i])
		}
	}
	if n, rows := strings.Count(out, "<svg"), len(r.Timeline); n != rows || n == 0 {
		t.Errorf("%d charts, want %d (one per timeline row)", n, rows)
	}
	if n := strings.Count(out, `class="limit"`); n != len(r.Timeline) {
		t.Errorf("%d limit lines, want %d", n, len(r.Timeline))
	}
	refused := 0
	for _, m := range regexp.MustCompile(`<circle class="refusal"[^>]*><title>(\d+) refusal`).FindAllStringSubmatch(out, -1) {
		var n int
		fmt.Sscan(m[1], &n)
		refused += n
	}
	// The refusals of svc-crm, on its user row and its client's row; the
	// anonymous refusal of bob's desk on the client row of the desk.
	if want := 2*10 + 1; refused != want {
		t.Errorf("%d refusals marked, want %d", refused, want)
	}
	for _, want := range []string{"NSPI users on ", "NSPI clients on ", "Refused NspiBind calls", "Inputs", svcUser} {
		if !strings.Contains(out, html.EscapeString(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestChartProjection: a leak that has not reached the limit draws its
// projection to the limit, the time axis reaching the time it is
// projected at, and the caption says when.
func TestChartProjection(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	held := make([]int, 60)
	for i := range held {
		held[i] = i / 3
	}
	at := start.Add(3 * time.Hour)
	row := analyze.TimelineRow{Proto: "nspi", Server: "198.51.100.10", By: "user", User: `CONTOSO\svc`, Start: start, BucketSeconds: 60,
		Held: held, Peak: 19, Limit: 50, RatePerHour: 20, LimitAt: &at}
	c := newChart(&row, "x")
	if c.Proj == "" || c.EndX <= c.X0 || c.EndX >= c.X1 {
		t.Fatalf("no projection, or the capture's end not inside the axis: %+v", c)
	}
	// The projection ends at the limit, at the right edge.
	if !strings.HasSuffix(c.Proj, "L"+fmtNum(c.X1)+" "+fmtNum(c.LimitY)) {
		t.Errorf("projection %q does not end on the limit (y %v) at the right edge (x %v)", c.Proj, c.LimitY, c.X1)
	}
	if !strings.Contains(c.Caption, "limit reached at about 2026-03-02 12:00 UTC") {
		t.Errorf("caption %q", c.Caption)
	}
	if last := c.XTicks[len(c.XTicks)-1].Text; last != "12:00" {
		t.Errorf("the axis ends at %q, want 12:00", last)
	}
	// Far away: the axis stops at maxProjection spans, the line short of
	// the limit.
	far := start.Add(100 * time.Hour)
	row.LimitAt = &far
	c = newChart(&row, "x")
	if c.Proj == "" || strings.HasSuffix(c.Proj, " "+fmtNum(c.LimitY)) {
		t.Errorf("far projection %q reaches the limit line", c.Proj)
	}
	// Reached already: no projection.
	row.LimitAt = nil
	if c = newChart(&row, "x"); c.Proj != "" {
		t.Errorf("projection without limit_at: %q", c.Proj)
	}
}

// TestChartDownsample: a long series is drawn with at most maxChartPoints
// buckets, keeping the least and the most held of each, and the sum of the
// refusals.
func TestChartDownsample(t *testing.T) {
	held := make([]int, 1000)
	refused := make([]int, 1000)
	for i := range held {
		held[i] = (i * 7) % 13
	}
	held[501] = 99
	refused[3], refused[4], refused[999] = 1, 2, 5
	lo, hi, ref, f := downsample(held, refused)
	if len(hi) > maxChartPoints || len(lo) != len(hi) || f*len(hi) < len(held) {
		t.Fatalf("%d buckets of %d, want at most %d covering all", len(hi), f, maxChartPoints)
	}
	k := 501 / f
	least := 99
	for _, v := range held[k*f : (k+1)*f] {
		least = min(least, v)
	}
	if hi[k] != 99 || lo[k] != least {
		t.Errorf("the merged bucket of the peak: least %d, most %d; want %d and 99", lo[k], hi[k], least)
	}
	sum := 0
	for _, v := range ref {
		sum += v
	}
	if sum != 8 || ref[0] != 3 {
		t.Errorf("refusals %d (first bucket %d), want 8 (3)", sum, ref[0])
	}
	row := analyze.TimelineRow{Proto: "nspi", Start: time.Unix(0, 0), BucketSeconds: 1, Held: held, Refused: refused, Peak: 99, Limit: 50}
	c := newChart(&row, "x")
	if n := strings.Count(c.Line, "H"); n > maxChartPoints {
		t.Errorf("the line has %d steps, want at most %d", n, maxChartPoints)
	}
	if len(c.Refusals) != 2 {
		t.Errorf("%d refusal marks, want 2", len(c.Refusals))
	}
	// A day and more: the ticks carry the date.
	row.BucketSeconds = 3600
	c = newChart(&row, "x")
	if len(c.XTicks) == 0 || !strings.Contains(c.XTicks[0].Text, "-") {
		t.Errorf("ticks of a 1000-hour axis: %+v", c.XTicks)
	}
}

// TestDisplayFilters: one filter per file, in the order of the frames,
// without repeats; frame 0 (unknown) left out.
func TestDisplayFilters(t *testing.T) {
	fs := []analyze.FrameRef{{File: "dir/a.pcap", Frame: 3}, {File: "b.pcap", Frame: 9}, {File: "dir/a.pcap", Frame: 5}, {File: "dir/a.pcap", Frame: 3}, {File: "c.pcap", Frame: 0}}
	got := displayFilters(fs, true)
	want := []htmlFilter{{File: "a.pcap", Expr: "frame.number in {3, 5}"}, {File: "b.pcap", Expr: "frame.number == 9"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("filters %v, want %v", got, want)
	}
	if got := displayFilters(fs[:1], false); len(got) != 1 || got[0].File != "" {
		t.Errorf("single input: %v", got)
	}
}

// TestHTMLTableBound: a table stops at maxHTMLRows rows and says how many
// more the JSON has.
func TestHTMLTableBound(t *testing.T) {
	r := &analyze.Report{Schema: analyze.Schema, Limit: 50}
	for i := range maxHTMLRows + 25 {
		r.Users = append(r.Users, analyze.UserRow{Server: "198.51.100.10", User: analyze.NullString(fmt.Sprintf(`CONTOSO\user%04d`, i))})
	}
	out := renderHTML(t, r)
	if n := strings.Count(out, `CONTOSO\user`); n != maxHTMLRows {
		t.Errorf("%d rows, want %d", n, maxHTMLRows)
	}
	if !strings.Contains(out, "25 more rows are in the JSON (users).") {
		t.Errorf("the page does not say how many rows it left out")
	}
}

// TestChartEdges: rows the analyzer does not write but a hand-made or
// future report may hold lay out without panicking, with path data made
// of numbers and commands only.
func TestChartEdges(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	before := start.Add(-time.Hour)
	rows := []analyze.TimelineRow{
		{},
		{Start: start, Held: []int{0}},
		{Start: start, BucketSeconds: 0, Held: []int{3, 1}, Limit: 0, Peak: 3},
		{Start: start, BucketSeconds: 1, Held: []int{80, 90}, Refused: []int{1}, Limit: 50, Peak: 90},
		{Start: start, BucketSeconds: 60, Held: []int{1, 2}, Limit: 50, Peak: 2, RatePerHour: 5, LimitAt: &before},
		{Start: start, BucketSeconds: 1 << 20, Held: make([]int, 60), Limit: 50},
	}
	ok := regexp.MustCompile(`^[MLHVZ0-9. -]*$`)
	for i := range rows {
		c := newChart(&rows[i], "x")
		for _, d := range []string{c.Line, c.Area, c.Proj} {
			if !ok.MatchString(d) {
				t.Errorf("row %d: path %q", i, d)
			}
		}
		if len(c.YTicks) == 0 || len(c.YTicks) > 7 || len(c.XTicks) > 12 {
			t.Errorf("row %d: %d y ticks, %d x ticks", i, len(c.YTicks), len(c.XTicks))
		}
	}
}
