package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// The charts of the HTML page: one SVG per timeline row (analyze.TimelineRow),
// drawn from the row's buckets alone. The page's template writes the
// elements; this file computes their geometry, as numbers and short
// strings of numbers, so that nothing from the wire reaches an attribute.

// Geometry of a chart, in SVG user units (the viewBox).
const (
	chartW      = 720
	chartH      = 220
	chartLeft   = 46
	chartRight  = 26
	chartTop    = 14
	chartBottom = 30
	// maxChartPoints bounds the buckets a chart draws; longer series are
	// merged, keeping the least and the most held of each merged bucket.
	maxChartPoints = 120
	// maxProjection bounds how far right of the capture the projection to
	// the limit widens the time axis, in capture spans.
	maxProjection = 3
)

// chart is one SVG chart, ready for the template.
type chart struct {
	Title string // the user or client and the server (escaped by safetext)
	Proto string // NSPI or EMSMDB
	Label string // aria-label: what the chart shows, in words
	W, H  int
	// Area and Line are the path data of the sessions held (filled area
	// and its step line); Proj the projection to the limit, if any.
	Area, Line, Proj string
	// LimitY is the limit line's y; LimitText its label.
	LimitY    float64
	LimitText string
	X0, X1    float64 // the plot's left and right edges
	Y0, Y1    float64 // its top and bottom
	XTicks    []tick
	YTicks    []tick
	Refusals  []mark
	// EndX marks the end of the capture when the axis goes beyond it.
	EndX float64
	// Caption is the line under the chart: peak, bucket, rate, refusals.
	Caption string
}

type tick struct {
	Pos  float64 // x for XTicks, y for YTicks
	Text string
}

// mark is a bucket with refused binds.
type mark struct {
	X, Y  float64
	N     int
	Title string
}

// fmtNum writes a coordinate with at most one decimal: short, and the same
// on every platform.
func fmtNum(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// downsample merges the buckets of held (and refused, which may be nil)
// into at most maxChartPoints, each with the least and the most held and
// the sum of the refusals; f is how many buckets each keeps.
func downsample(held, refused []int) (lo, hi, ref []int, f int) {
	f = 1
	for (len(held)+f-1)/f > maxChartPoints {
		f++
	}
	n := (len(held) + f - 1) / f
	lo, hi, ref = make([]int, n), make([]int, n), make([]int, n)
	for i, v := range held {
		k := i / f
		if i%f == 0 {
			lo[k], hi[k] = v, v
		}
		lo[k], hi[k] = min(lo[k], v), max(hi[k], v)
		if i < len(refused) {
			ref[k] += refused[i]
		}
	}
	return lo, hi, ref, f
}

// niceSteps are the time steps of the x axis, in seconds.
var niceSteps = []int64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400}

// newChart lays out the chart of one timeline row; title names its user or
// client and server.
func newChart(t *analyze.TimelineRow, title string) chart {
	c := chart{Title: title, Proto: strings.ToUpper(t.Proto), W: chartW, H: chartH,
		X0: chartLeft, X1: chartW - chartRight, Y0: chartTop, Y1: chartH - chartBottom}
	w := max(t.BucketSeconds, 1)
	lo, hi, ref, f := downsample(t.Held, t.Refused)
	bw := w * int64(f) // seconds per drawn bucket
	start := t.Start
	span := time.Duration(int64(len(t.Held))*w) * time.Second
	end := start.Add(span)
	axisEnd := end
	// The projection to the limit, when the row has a leak that has not
	// reached it yet.
	last := 0
	if len(t.Held) > 0 {
		last = t.Held[len(t.Held)-1]
	}
	project := t.RatePerHour > 0 && t.LimitAt != nil && t.LimitAt.After(end) && last < t.Limit
	if project {
		axisEnd = *t.LimitAt
		if far := start.Add(span * (1 + maxProjection)); axisEnd.After(far) {
			axisEnd = far
		}
	}
	top := max(t.Limit, t.Peak, 1)
	ymax := float64(top + max(1, top/8))
	total := axisEnd.Sub(start).Seconds()
	if total <= 0 {
		total = 1
	}
	xOf := func(tm time.Time) float64 {
		return c.X0 + (c.X1-c.X0)*tm.Sub(start).Seconds()/total
	}
	yOf := func(v float64) float64 { return c.Y1 - (c.Y1-c.Y0)*v/ymax }

	// The step line: across each drawn bucket at its most held, with a
	// vertical stroke from its least when downsampled.
	var line, area strings.Builder
	for k := range hi {
		x := xOf(start.Add(time.Duration(int64(k)*bw) * time.Second))
		if k == 0 {
			line.WriteString("M" + fmtNum(x) + " " + fmtNum(yOf(float64(lo[0]))))
			area.WriteString("M" + fmtNum(x) + " " + fmtNum(c.Y1))
		} else {
			line.WriteString("H" + fmtNum(x))
			area.WriteString("H" + fmtNum(x))
		}
		if lo[k] != hi[k] {
			line.WriteString("V" + fmtNum(yOf(float64(lo[k]))))
		}
		line.WriteString("V" + fmtNum(yOf(float64(hi[k]))))
		area.WriteString("V" + fmtNum(yOf(float64(hi[k]))))
	}
	if len(hi) > 0 {
		xe := xOf(end)
		line.WriteString("H" + fmtNum(xe))
		area.WriteString("H" + fmtNum(xe) + "V" + fmtNum(c.Y1) + "Z")
	}
	c.Line, c.Area = line.String(), area.String()
	c.LimitY = yOf(float64(t.Limit))
	c.LimitText = "limit " + strconv.Itoa(t.Limit)
	if project {
		c.EndX = xOf(end)
		to := *t.LimitAt
		v := float64(t.Limit)
		if to.After(axisEnd) {
			to = axisEnd
			v = float64(last) + t.RatePerHour*to.Sub(end).Hours()
		}
		c.Proj = "M" + fmtNum(xOf(end)) + " " + fmtNum(yOf(float64(last))) + "L" + fmtNum(xOf(to)) + " " + fmtNum(yOf(v))
	}
	nref := 0
	for k, n := range ref {
		if n == 0 {
			continue
		}
		nref += n
		from := start.Add(time.Duration(int64(k)*bw) * time.Second)
		mid := from.Add(time.Duration(bw) * time.Second / 2)
		to := from.Add(time.Duration(bw) * time.Second)
		c.Refusals = append(c.Refusals, mark{X: xOf(mid), Y: yOf(float64(hi[k])), N: n,
			Title: many(n, "refusal") + " between " + from.UTC().Format("2006-01-02 15:04:05") + " and " + to.UTC().Format("15:04:05") +
				" UTC, up to " + strconv.Itoa(hi[k]) + " sessions held"})
	}
	c.XTicks = timeTicks(start, axisEnd, xOf)
	c.YTicks = valueTicks(ymax, yOf)

	parts := []string{"peak " + strconv.Itoa(t.Peak) + " of " + strconv.Itoa(t.Limit),
		"most held per " + bucketText(bw)}
	if nref > 0 {
		parts = append(parts, many(nref, "refusal"))
	}
	if t.RatePerHour > 0 {
		parts = append(parts, "+"+strconv.FormatFloat(t.RatePerHour, 'f', 1, 64)+" sessions/hour")
	}
	if t.LimitAt != nil {
		parts = append(parts, "limit reached at about "+t.LimitAt.UTC().Format("2006-01-02 15:04 UTC")+" at that rate")
	}
	c.Caption = strings.Join(parts, "; ")
	c.Label = c.Proto + " sessions held by " + title + " over time: " + c.Caption
	return c
}

// timeTicks places at most 6 ticks on whole multiples of a nice step, in
// UTC; labels carry the date when the axis spans more than a day.
func timeTicks(from, to time.Time, xOf func(time.Time) float64) []tick {
	span := int64(to.Sub(from) / time.Second)
	step := niceSteps[len(niceSteps)-1]
	for _, s := range niceSteps {
		if span/s <= 5 {
			step = s
			break
		}
	}
	layout := "15:04"
	switch {
	case span > 86400:
		layout = "01-02 15:04"
	case step < 60:
		layout = "15:04:05"
	}
	var out []tick
	first := (from.Unix() + step - 1) / step * step
	for s := first; s <= to.Unix() && len(out) < 12; s += step {
		tm := time.Unix(s, 0).UTC()
		out = append(out, tick{Pos: xOf(tm), Text: tm.Format(layout)})
	}
	return out
}

// valueTicks places ticks on 0 and multiples of a nice step below ymax.
func valueTicks(ymax float64, yOf func(float64) float64) []tick {
	step := 1
	for k := 1; ; k *= 10 {
		found := false
		for _, m := range []int{1, 2, 5} {
			if ymax/float64(m*k) <= 5 {
				step, found = m*k, true
				break
			}
		}
		if found {
			break
		}
	}
	var out []tick
	for v := 0; float64(v) <= ymax; v += step {
		out = append(out, tick{Pos: yOf(float64(v)), Text: strconv.Itoa(v)})
	}
	return out
}

// chartTitle names the row: its user (or client) on its server.
func chartTitle(t *analyze.TimelineRow) string {
	who := userLabel(t.User, t.Ticket)
	if t.By == "client" {
		who = clientLabel(t.Client, t.ClientAddress)
	}
	return safetext.Escape(who) + " on " + safetext.Escape(t.Server)
}
