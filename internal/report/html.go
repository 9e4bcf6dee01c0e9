package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// The HTML page of `nspicap analyze --format html`: one self-contained file
// (its CSS, charts and a small sorting script inline, nothing loaded from
// the network), rendered from the Report alone with html/template, which
// escapes every name and sentence for its context (HTML text, attribute,
// SVG text). Names and sentences are escaped by safetext first, as in the
// table format, so that a control character or a bidi override in a name
// shows as an escape instead of acting.

//go:embed html_report.tmpl
var htmlTemplateText string

//go:embed html_report.css
var htmlCSS string

//go:embed html_report.js
var htmlJS string

var htmlTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"num": fmtNum,
}).Parse(htmlTemplateText))

// Bounds of the page: the JSON has everything.
const (
	// maxHTMLRows bounds the rows of each table.
	maxHTMLRows = 200
	// maxCharts bounds the charts of the page.
	maxCharts = 40
)

// htmlPage is what the template renders.
type htmlPage struct {
	CSS       template.CSS
	JS        template.JS
	Title     string
	Span      string
	Mood      string // of the verdict: bad (errors), warn (warnings) or ok
	Verdict   []string
	Findings  []htmlFinding
	Charts    []htmlChartGroup
	ChartNote string
	Tables    []htmlTable
	Totals    string
	Inputs    []htmlInput
	Anomalies []htmlAnomaly
	Notes     []htmlAnomaly
	Version   string
	Schema    string
}

type htmlFinding struct {
	ID       string
	Severity string
	Kind     string
	Where    [][2]string
	Message  string
	Frames   string
	Filters  []htmlFilter
	// FilterNote says what the filters show when the frames listed are
	// fewer than the events behind the finding.
	FilterNote string
}

// htmlFilter is a Wireshark display filter for the frames of one file.
type htmlFilter struct {
	File string // empty with a single input
	Expr string
}

type htmlChartGroup struct {
	Title  string
	Charts []chart
}

type htmlTable struct {
	ID    string
	Title string
	Head  []string
	Num   []bool // right-aligned numeric columns
	Rows  [][]string
	More  string // "N more rows in the JSON", when cut
	Note  string
}

type htmlInput struct {
	Text     string
	Warnings []string
}

type htmlAnomaly struct {
	Kind    string
	Count   int64
	Message string
}

// writeHTML renders r as one HTML page.
func writeHTML(w io.Writer, r *analyze.Report) error {
	p, err := newHTMLPage(r)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := htmlTemplate.Execute(bw, p); err != nil {
		return err
	}
	return bw.Flush()
}

func newHTMLPage(r *analyze.Report) (*htmlPage, error) {
	ff := frameFmt{multi: len(r.Inputs) > 1}
	p := &htmlPage{CSS: template.CSS(htmlCSS), JS: template.JS(htmlJS), Version: r.Version, Schema: r.Schema}
	p.Title = "nspicap report"
	if len(r.Inputs) == 1 {
		p.Title += ": " + safetext.Escape(filepath.Base(r.Inputs[0].Path))
	} else if len(r.Inputs) > 1 {
		p.Title += ": " + many(len(r.Inputs), "capture file")
	}
	p.Span = captureSpan(r.Inputs)
	for _, s := range r.Verdict {
		p.Verdict = append(p.Verdict, safetext.Escape(s))
	}
	p.Mood = "ok"
	for i := range r.Findings {
		switch r.Findings[i].Severity {
		case analyze.SevError:
			p.Mood = "bad"
		case analyze.SevWarning:
			if p.Mood == "ok" {
				p.Mood = "warn"
			}
		}
		p.Findings = append(p.Findings, newHTMLFinding(&r.Findings[i], i, ff))
	}
	p.Charts, p.ChartNote = chartGroups(r)
	tables, err := htmlTables(r, ff)
	if err != nil {
		return nil, err
	}
	p.Tables = tables
	t := r.Totals
	p.Totals = fmt.Sprintf("%s (%d ok, %d LOGON_FAILED, %d failed otherwise, %d unknown), %s, %s; %s, %d open at the end, %d closed without unbind; at most %d held at once. Limit: %d sessions per user.",
		many(t.Binds, "bind"), t.BindsOK, t.BindsLogonFailed, t.BindsFailedOther, t.BindsUnknown, many(t.Unbinds, "unbind"), many(t.OtherCalls, "other call"),
		many(r.NumSessions(), "session"), t.OpenAtEnd, t.ClosedWithoutUnbind, t.PeakConcurrent, r.Limit)
	for _, in := range r.Inputs {
		s := fmt.Sprintf("%s (%s): %d packets", safetext.Escape(in.Path), safetext.Escape(in.Format), in.Packets)
		if !in.FirstTime.IsZero() {
			s += fmt.Sprintf(", %s to %s", in.FirstTime.UTC().Format("2006-01-02 15:04:05"), in.LastTime.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		hi := htmlInput{Text: s}
		for _, wn := range in.Warnings {
			hi.Warnings = append(hi.Warnings, safetext.Line(wn))
		}
		p.Inputs = append(p.Inputs, hi)
	}
	for _, a := range r.Anomalies {
		x := htmlAnomaly{Kind: safetext.Escape(a.Kind), Count: a.Count, Message: safetext.Line(a.Message)}
		if a.Notice {
			p.Notes = append(p.Notes, x)
		} else {
			p.Anomalies = append(p.Anomalies, x)
		}
	}
	return p, nil
}

// captureSpan says when the captures begin and end.
func captureSpan(ins []analyze.Input) string {
	var first, last analyze.Input
	ok := false
	for _, in := range ins {
		if in.FirstTime.IsZero() {
			continue
		}
		if !ok || in.FirstTime.Before(first.FirstTime) {
			first = in
		}
		if !ok || in.LastTime.After(last.LastTime) {
			last = in
		}
		ok = true
	}
	if !ok {
		return ""
	}
	a, b := first.FirstTime.UTC(), last.LastTime.UTC()
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		return "Captured " + a.Format("2006-01-02 15:04:05") + " to " + b.Format("15:04:05") + " UTC"
	}
	return "Captured " + a.Format("2006-01-02 15:04:05") + " to " + b.Format("2006-01-02 15:04:05") + " UTC"
}

func newHTMLFinding(f *analyze.Finding, i int, ff frameFmt) htmlFinding {
	h := htmlFinding{ID: "finding-" + strconv.Itoa(i+1), Severity: f.Severity, Kind: safetext.Escape(f.Kind), Message: safetext.Escape(f.Message)}
	for _, x := range []struct {
		k string
		v analyze.NullString
	}{{"server", f.Server}, {"user", f.User}, {"ticket", analyze.NullString(f.Ticket)},
		{"client", analyze.NullString(clientLabel(string(f.Client), f.ClientAddress))}} {
		if x.v != "" {
			h.Where = append(h.Where, [2]string{x.k, safetext.Escape(string(x.v))})
		}
	}
	if tr := f.Transports; len(tr) > 0 && !(len(tr) == 1 && tr[0] == "ncacn_ip_tcp") {
		h.Where = append(h.Where, [2]string{"over", safetext.Escape(strings.Join(tr, ", "))})
	}
	h.Frames = safetext.Escape(ff.list(f.Frames, f.Count))
	h.Filters = displayFilters(f.Frames, ff.multi)
	shown := 0
	for _, fr := range f.Frames {
		if fr.Frame > 0 {
			shown++
		}
	}
	if f.Count > len(f.Frames) && shown > 0 {
		h.FilterNote = fmt.Sprintf("The filter shows the %s listed; the finding covers %d.", many(shown, "frame"), f.Count)
	}
	return h
}

// displayFilters writes one Wireshark display filter per file that shows
// exactly the frames listed: "frame.number == N" for one frame,
// "frame.number in {A, B}" for several (Wireshark 4.0 wants the commas).
func displayFilters(frames []analyze.FrameRef, multi bool) []htmlFilter {
	var files []string
	by := map[string][]int64{}
	for _, f := range frames {
		if f.Frame <= 0 {
			continue
		}
		if _, ok := by[f.File]; !ok {
			files = append(files, f.File)
		}
		if !slices.Contains(by[f.File], f.Frame) {
			by[f.File] = append(by[f.File], f.Frame)
		}
	}
	out := make([]htmlFilter, 0, len(files))
	for _, file := range files {
		ns := by[file]
		var expr string
		if len(ns) == 1 {
			expr = "frame.number == " + strconv.FormatInt(ns[0], 10)
		} else {
			parts := make([]string, len(ns))
			for i, n := range ns {
				parts[i] = strconv.FormatInt(n, 10)
			}
			expr = "frame.number in {" + strings.Join(parts, ", ") + "}"
		}
		x := htmlFilter{Expr: expr}
		if multi {
			x.File = safetext.Escape(filepath.Base(file))
		}
		out = append(out, x)
	}
	return out
}

// chartGroups lays out the charts: NSPI then EMSMDB, per user then per
// client, in the timeline's order. Beyond maxCharts, the rows that matter
// most are kept (refusals, a leak, the highest peak).
func chartGroups(r *analyze.Report) ([]htmlChartGroup, string) {
	keep := make([]bool, len(r.Timeline))
	if len(r.Timeline) <= maxCharts {
		for i := range keep {
			keep[i] = true
		}
	} else {
		idx := make([]int, len(r.Timeline))
		for i := range idx {
			idx[i] = i
		}
		weight := func(t *analyze.TimelineRow) (int, int) {
			w := 0
			for _, v := range t.Refused {
				if v > 0 {
					w = 2
					break
				}
			}
			if t.RatePerHour > 0 {
				w++
			}
			return w, t.Peak
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			wa, pa := weight(&r.Timeline[a])
			wb, pb := weight(&r.Timeline[b])
			if wa != wb {
				return wb - wa
			}
			return pb - pa
		})
		for _, i := range idx[:maxCharts] {
			keep[i] = true
		}
	}
	var groups []htmlChartGroup
	for i := range r.Timeline {
		if !keep[i] {
			continue
		}
		t := &r.Timeline[i]
		title := strings.ToUpper(t.Proto) + " sessions held per " + t.By
		if len(groups) == 0 || groups[len(groups)-1].Title != title {
			groups = append(groups, htmlChartGroup{Title: title})
		}
		g := &groups[len(groups)-1]
		g.Charts = append(g.Charts, newChart(t, chartTitle(t)))
	}
	note := ""
	if n := len(r.Timeline) - maxCharts; n > 0 {
		note = fmt.Sprintf("The page draws the %d series with refusals, leaks or the most sessions held; %d more are in the JSON (timeline).", maxCharts, n)
	}
	return groups, note
}

// counterHead is the header of the NSPI user and client tables.
func counterHead(first string, unk bool) ([]string, []bool) {
	head := []string{first, "Binds", "OK", "LOGON_FAILED", "Failed"}
	if unk {
		head = append(head, "Unknown")
	}
	head = append(head, "Unbinds", "Other calls", "Open at end", "Closed", "Peak")
	num := make([]bool, len(head))
	for i := 1; i < len(num); i++ {
		num[i] = true
	}
	return head, num
}

func counterCells(name string, c analyze.Counters, unk bool) []string {
	row := []string{safetext.Escape(name), countText(c.Binds), countText(c.BindsOK), countText(c.BindsLogonFailed), countText(c.BindsFailedOther)}
	if unk {
		row = append(row, countText(c.BindsUnknown))
	}
	return append(row, countText(c.Unbinds), countText(c.OtherCalls), countText(c.OpenAtEnd), countText(c.ClosedWithoutUnbind), countText(c.PeakConcurrent))
}

func emsmdbHead(first string) ([]string, []bool) {
	head := []string{first, "Connects", "OK", "Session limit", "Logon failed", "Failed", "Unknown", "Disconnects", "Other calls", "Open at end", "Closed", "Peak"}
	num := make([]bool, len(head))
	for i := 1; i < len(num); i++ {
		num[i] = true
	}
	return head, num
}

func emsmdbCells(name string, c analyze.EMSMDBCounters) []string {
	return []string{safetext.Escape(name), countText(c.Connects), countText(c.ConnectsOK), countText(c.SessionLimit), countText(c.LogonFailed),
		countText(c.FailedOther), countText(c.Unknown), countText(c.Disconnects), countText(c.OtherCalls), countText(c.OpenAtEnd),
		countText(c.ClosedWithoutDisconnect), countText(c.PeakConcurrent)}
}

// add appends a row unless the table is full, counting those left out.
func (t *htmlTable) add(row []string, left *int) {
	if len(t.Rows) >= maxHTMLRows {
		*left++
		return
	}
	t.Rows = append(t.Rows, row)
}

func (t *htmlTable) done(left int, list string) {
	if left > 0 {
		t.More = fmt.Sprintf("%d more rows are in the JSON (%s).", left, list)
		if left == 1 {
			t.More = fmt.Sprintf("1 more row is in the JSON (%s).", list)
		}
	}
}

// htmlTables builds the tables: NSPI users and clients per server, the
// refused binds, EMSMDB users and clients, referrals, and the endpoint and
// connection findings.
func htmlTables(r *analyze.Report, ff frameFmt) ([]htmlTable, error) {
	var out []htmlTable
	unk := r.Totals.BindsUnknown > 0
	for si, server := range serverOrder(r) {
		s := safetext.Escape(server)
		head, num := counterHead("User", unk)
		t := htmlTable{ID: "nspi-users-" + strconv.Itoa(si+1), Title: "NSPI users on " + s, Head: head, Num: num}
		left := 0
		for _, u := range r.Users {
			if u.Server == server {
				t.add(counterCells(userLabel(u.User, u.Ticket), u.Counters, unk), &left)
			}
		}
		t.done(left, "users")
		out = append(out, t)
		head, num = counterHead("Client", unk)
		t = htmlTable{ID: "nspi-clients-" + strconv.Itoa(si+1), Title: "NSPI clients on " + s, Head: head, Num: num}
		left = 0
		for _, c := range r.Clients {
			if c.Server == server {
				t.add(counterCells(clientLabel(c.Client, c.ClientAddress), c.Counters, unk), &left)
			}
		}
		t.done(left, "clients")
		out = append(out, t)
	}
	if r.NumRefusals() > 0 {
		t := htmlTable{ID: "refusals", Title: "Refused NspiBind calls (MAPI_E_LOGON_FAILED)",
			Head: []string{"Time (UTC)", "Server", "User", "Client", "Bind #", "Held", "Cause", "Request", "Answer"},
			Num:  []bool{false, false, false, false, true, true, false, true, true}}
		left := 0
		err := r.EachRefusal(func(x *analyze.Refusal) error {
			user := string(x.User)
			if user == "" {
				user = noIdentity
			}
			t.add([]string{x.Time.UTC().Format("2006-01-02 15:04:05.000"), safetext.Escape(x.Server), safetext.Escape(user), safetext.Escape(x.Client),
				countText(x.Ordinal), countText(x.Held), safetext.Escape(x.Cause), safetext.Escape(ff.one(x.Frame)), safetext.Escape(ff.one(x.ReplyFrame))}, &left)
			return nil
		})
		if err != nil {
			return nil, err
		}
		t.done(left, "refusals")
		out = append(out, t)
	}
	var servers []string
	for _, u := range r.EMSMDBUsers {
		if !slices.Contains(servers, u.Server) {
			servers = append(servers, u.Server)
		}
	}
	for _, c := range r.EMSMDBClients {
		if !slices.Contains(servers, c.Server) {
			servers = append(servers, c.Server)
		}
	}
	for si, server := range servers {
		s := safetext.Escape(server)
		head, num := emsmdbHead("User")
		t := htmlTable{ID: "emsmdb-users-" + strconv.Itoa(si+1), Title: "EMSMDB (Exchange store) users on " + s, Head: head, Num: num,
			Note: fmt.Sprintf("Session limit: refused with ecMaxObjsExceeded (0x4DE) or MAPI_E_SESSION_LIMIT (0x80040112), the per-user limit (%d).", r.EMSMDBLimit)}
		left := 0
		for _, u := range r.EMSMDBUsers {
			if u.Server == server {
				name := string(u.User)
				if name == "" {
					name = noIdentity
				}
				t.add(emsmdbCells(name, u.EMSMDBCounters), &left)
			}
		}
		t.done(left, "emsmdb_users")
		out = append(out, t)
		head, num = emsmdbHead("Client")
		t = htmlTable{ID: "emsmdb-clients-" + strconv.Itoa(si+1), Title: "EMSMDB (Exchange store) clients on " + s, Head: head, Num: num}
		left = 0
		for _, c := range r.EMSMDBClients {
			if c.Server == server {
				t.add(emsmdbCells(clientLabel(c.Client, c.ClientAddress), c.EMSMDBCounters), &left)
			}
		}
		t.done(left, "emsmdb_clients")
		out = append(out, t)
	}
	if len(r.Referrals) > 0 {
		t := htmlTable{ID: "referrals", Title: "Referrals (RFR)", Head: []string{"Client", "User", "Server", "Call", "Referred to", "Status", "Times", "Answer"},
			Num: []bool{false, false, false, false, false, false, true, true}}
		left := 0
		for _, x := range r.Referrals {
			to := x.ReferredTo
			if to == "" {
				to = noIdentity
			}
			t.add([]string{safetext.Escape(clientLabel(x.Client, x.ClientAddress)), safetext.Escape(string(x.User)), safetext.Escape(x.Server), safetext.Escape(x.Op),
				safetext.Escape(to), safetext.Escape(x.Status), countText(x.Count), safetext.Escape(ff.one(x.ReplyFrame))}, &left)
		}
		t.done(left, "referrals")
		out = append(out, t)
	}
	t := htmlTable{ID: "endpoints", Title: "Endpoints and dead connections", Head: []string{"Finding", "Severity", "Server", "Client", "Count", "Frames"},
		Num: []bool{false, false, false, false, true, false}}
	left := 0
	for _, f := range r.Findings {
		switch f.Kind {
		case analyze.KindEndpointNotRegistered, analyze.KindEndpointUnreachable, analyze.KindDeadConnection:
			t.add([]string{safetext.Escape(f.Kind), f.Severity, safetext.Escape(string(f.Server)), safetext.Escape(string(f.Client)), countText(f.Count),
				safetext.Escape(ff.list(f.Frames, f.Count))}, &left)
		}
	}
	if len(t.Rows) > 0 {
		t.done(left, "findings")
		t.Note = "The findings above say what each means and what to do."
		out = append(out, t)
	}
	return out, nil
}
