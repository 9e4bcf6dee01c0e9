package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// AnalyzeFormats are the formats of `nspicap analyze`.
var AnalyzeFormats = []string{"table", "json", "html"}

// SessionFormats are the formats of `nspicap sessions`.
var SessionFormats = []string{"table", "csv", "jsonl"}

// textWidth is the width the table format fits in.
const textWidth = 80

// noIdentity names the row of calls that carried no user name: no
// authentication, NTLM anonymous, Kerberos, a bind outside the capture, or a
// user name cut by the snap length.
const noIdentity = "(no name)"

// userLabel names a user row: the user, or the ticket of a Kerberos user
// the capture does not name, or "(no name)".
func userLabel(user analyze.NullString, ticket string) string {
	switch {
	case user != "":
		return string(user)
	case ticket != "":
		return "(ticket #" + ticket[strings.LastIndexByte(ticket, '#')+1:] + ")"
	}
	return noIdentity
}

// clientLabel names a client: behind an RPC proxy, "A via P".
func clientLabel(client, behind string) string {
	if behind != "" && client != "" {
		return behind + " via " + client
	}
	return client
}

// many returns "1 bind" or "2 binds".
func many(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + one + "s"
}

// WriteAnalyze renders r as "table" (for people), "json" (one indented
// document, deterministic: the analyzer sorted everything) or "html" (one
// self-contained page with charts, html.go).
func WriteAnalyze(w io.Writer, format string, r *analyze.Report) error {
	switch format {
	case "json":
		return writeJSONStream(w, r)
	case "html":
		return writeHTML(w, r)
	case "table":
		bw := bufio.NewWriter(w)
		if err := writeAnalyzeText(bw, r); err != nil {
			return err
		}
		return bw.Flush()
	}
	return fmt.Errorf("unknown format %q (want table, json or html)", format)
}

func writeJSONDoc(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// frameRefs prints frames as numbers, or as file#frame when the report has
// several inputs.
type frameFmt struct{ multi bool }

func (ff frameFmt) one(f analyze.FrameRef) string {
	if f.Frame == 0 {
		return "-"
	}
	if ff.multi {
		return filepath.Base(f.File) + "#" + strconv.FormatInt(f.Frame, 10)
	}
	return strconv.FormatInt(f.Frame, 10)
}

func (ff frameFmt) list(fs []analyze.FrameRef, count int) string {
	parts := make([]string, 0, len(fs)+1)
	for i, f := range fs {
		if i == len(fs)-1 && count > len(fs) {
			parts = append(parts, "...")
		}
		parts = append(parts, ff.one(f))
	}
	return strings.Join(parts, ", ")
}

func writeAnalyzeText(w io.Writer, r *analyze.Report) error {
	ff := frameFmt{multi: len(r.Inputs) > 1}

	fmt.Fprintln(w, "VERDICT")
	for _, s := range r.Verdict {
		writeWrapped(w, s, "  * ", "    ")
	}

	fmt.Fprintln(w)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "FINDINGS: none")
	} else {
		fmt.Fprintf(w, "FINDINGS (%d)\n", len(r.Findings))
	}
	for i, f := range r.Findings {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := fmt.Sprintf("%s %s", strings.ToUpper(f.Severity), f.Kind)
		var where []string
		if f.Server != "" {
			where = append(where, "server "+string(f.Server))
		}
		if f.User != "" {
			where = append(where, "user "+string(f.User))
		} else if f.Ticket != "" {
			where = append(where, "ticket "+f.Ticket)
		}
		if f.Client != "" {
			where = append(where, "client "+clientLabel(string(f.Client), f.ClientAddress))
		}
		if len(f.Transports) > 0 && (len(f.Transports) > 1 || f.Transports[0] != "ncacn_ip_tcp") {
			where = append(where, "over "+strings.Join(f.Transports, " and "))
		}
		if len(where) > 0 {
			head += ": " + strings.Join(where, ", ")
		}
		writeWrapped(w, head, "  ", "    ")
		writeWrapped(w, f.Message, "    ", "    ")
		label := "frame"
		if f.Count > 1 || len(f.Frames) > 1 {
			label = "frames"
		}
		writeWrapped(w, label+": "+ff.list(f.Frames, f.Count), "    ", "      ")
	}

	servers := serverOrder(r)
	unk := r.Totals.BindsUnknown > 0
	for _, server := range servers {
		fmt.Fprintln(w)
		var urows [][]string
		var ucs []analyze.Counters
		for _, u := range r.Users {
			if u.Server == server {
				urows = append(urows, []string{userLabel(u.User, u.Ticket)})
				ucs = append(ucs, u.Counters)
			}
		}
		var crows [][]string
		var ccs []analyze.Counters
		for _, c := range r.Clients {
			if c.Server == server {
				crows = append(crows, []string{clientLabel(c.Client, c.ClientAddress)})
				ccs = append(ccs, c.Counters)
			}
		}
		fmt.Fprintf(w, "Users on %s\n", safetext.Escape(server))
		if err := writeCounterTable(w, "USER", urows, ucs, unk); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nClients on %s\n", safetext.Escape(server))
		if err := writeCounterTable(w, "CLIENT", crows, ccs, unk); err != nil {
			return err
		}
	}
	if len(servers) > 0 {
		fmt.Fprintln(w)
		legend := "BINDS: NspiBind calls; OK: answered 0; LOGON_FAILED: answered 0x80040111; FAIL: other status or fault."
		if unk {
			legend += " UNK: outcome unknown (no answer, or encrypted)."
		}
		legend += " UNBIND: NspiUnbind calls. CALLS: other NSPI calls. OPEN: sessions open at the end of the capture. CLOSED: sessions that ended with their connection, without NspiUnbind. PEAK: most sessions held at once."
		for _, c := range r.Clients {
			if c.ClientAddress != "" {
				legend += " A via P: the client A behind the RPC proxy P, counted apart from the proxy's other clients."
				break
			}
		}
		for _, u := range r.Users {
			if u.User == "" && u.Ticket != "" {
				legend += " (ticket #...): a Kerberos user the capture does not name, counted by the ticket it used (one ticket, one account; the findings name its service)."
				break
			}
		}
		for _, u := range r.Users {
			if u.User == "" && u.Ticket == "" {
				why := "no authentication, NTLM anonymous, Kerberos, or a bind outside the capture"
				for _, in := range r.Inputs {
					if in.CutCalls > 0 {
						why = "no authentication, NTLM anonymous, Kerberos, a bind outside the capture, or a user name cut by the capture's snap length"
						break
					}
				}
				legend += " " + noIdentity + ": calls that carried no user name (" + why + ")."
				break
			}
		}
		writeWrapped(w, legend, "", "")
	}

	t := r.Totals
	fmt.Fprintln(w)
	writeWrapped(w, fmt.Sprintf("TOTALS: %s (%d ok, %d LOGON_FAILED, %d failed otherwise, %d unknown), %s, %s; %s, %d open at the end, %d closed without unbind; at most %d held at once. Limit: %d sessions per user.",
		many(t.Binds, "bind"), t.BindsOK, t.BindsLogonFailed, t.BindsFailedOther, t.BindsUnknown, many(t.Unbinds, "unbind"), many(t.OtherCalls, "other call"),
		many(r.NumSessions(), "session"), t.OpenAtEnd, t.ClosedWithoutUnbind, t.PeakConcurrent, r.Limit), "", "  ")
	if t.BindsInferred > 0 {
		writeWrapped(w, fmt.Sprintf("INFERRED: the outcome of %s sealed without a key was inferred from what the client did next (it went on with NSPI calls: accepted; it bound again or closed: refused), not decoded. Give --keys (NTLM) or --keytab (Kerberos) to decode.",
			many(t.BindsInferred, "NspiBind")), "", "  ")
	}

	if err := writeExtText(w, r, ff); err != nil {
		return err
	}
	if len(r.Inputs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "INPUTS")
		for _, in := range r.Inputs {
			if in.Error != "" {
				writeMessage(w, in.Path+": not read: "+in.Error, "  ", "    ")
				continue
			}
			s := fmt.Sprintf("%s (%s): %d packets", in.Path, in.Format, in.Packets)
			if !in.FirstTime.IsZero() {
				s += fmt.Sprintf(", %s to %s", in.FirstTime.Format("2006-01-02 15:04:05"), in.LastTime.Format("2006-01-02 15:04:05 UTC"))
			}
			writeWrapped(w, s, "  ", "    ")
			for _, wn := range in.Warnings {
				writeMessage(w, "warning: "+wn, "    ", "      ")
			}
		}
	}
	writeEvidenceText(w, r.Evidence)
	// Decoding anomalies, then the notices (calls that stay sealed, a
	// list left short): nothing was lost or misread for those.
	for _, sec := range []struct {
		title  string
		notice bool
	}{{"ANOMALIES", false}, {"NOTES", true}} {
		head := false
		for _, a := range r.Anomalies {
			if a.Notice != sec.notice {
				continue
			}
			if !head {
				fmt.Fprintln(w)
				fmt.Fprintln(w, sec.title)
				head = true
			}
			s := fmt.Sprintf("%s x%d", a.Kind, a.Count)
			if a.Message != "" {
				s += ": " + a.Message
			}
			writeMessage(w, s, "  ", "    ")
		}
	}
	if r.Version != "" {
		fmt.Fprintf(w, "\nnspicap %s, %s\n", r.Version, r.Schema)
	}
	return nil
}

// serverOrder lists the servers in the order of the (sorted) rows.
func serverOrder(r *analyze.Report) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, u := range r.Users {
		add(u.Server)
	}
	for _, c := range r.Clients {
		add(c.Server)
	}
	return out
}

// writeCounterTable writes one table of counters; the UNK column appears
// only when the report has binds of unknown outcome.
func writeCounterTable(w io.Writer, first string, names [][]string, cs []analyze.Counters, unk bool) error {
	header := []string{first, "BINDS", "OK", "LOGON_FAILED", "FAIL"}
	if unk {
		header = append(header, "UNK")
	}
	header = append(header, "UNBIND", "CALLS", "OPEN", "CLOSED", "PEAK")
	// The name column gets what the counters leave of the line.
	nameWidth := textWidth - 1 - 2
	for _, h := range header[1:] {
		nameWidth -= 1 + len(h)
	}
	nameWidth = max(nameWidth, 12)
	rows := make([][]string, len(cs))
	for i, c := range cs {
		row := []string{wrapName(safetext.Escape(names[i][0]), nameWidth), countText(c.Binds), countText(c.BindsOK), countText(c.BindsLogonFailed), countText(c.BindsFailedOther)}
		if unk {
			row = append(row, countText(c.BindsUnknown))
		}
		row = append(row, countText(c.Unbinds), countText(c.OtherCalls), countText(c.OpenAtEnd), countText(c.ClosedWithoutUnbind), countText(c.PeakConcurrent))
		rows[i] = row
	}
	align := make(tw.Alignment, len(header))
	for i := range align {
		align[i] = tw.AlignRight
	}
	align[0] = tw.AlignLeft
	return renderPlain(w, header, align, rows)
}

func countText(n int) string { return strconv.Itoa(n) }

// renderPlain renders a borderless ASCII table with a header rule, columns
// one space apart, headers verbatim, and no trailing blanks: with
// tablewriter, or from plainRowsMin rows with writePlain, which writes the
// same bytes faster.
func renderPlain(w io.Writer, header []string, align tw.Alignment, rows [][]string) error {
	if len(rows) >= plainRowsMin {
		return writePlain(w, header, align, rows)
	}
	return renderPlainTW(w, header, align, rows)
}

func renderPlainTW(w io.Writer, header []string, align tw.Alignment, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Borders: tw.Border{Left: tw.Off, Right: tw.Off, Top: tw.Off, Bottom: tw.Off},
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.On},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithAlignment(align),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: " ", Overwrite: true}),
	)
	t.Header(header)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(w, "  "+strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	return nil
}

// wrapName breaks a long name into lines of at most n characters, after a
// backslash, '@', '.', '-' or ':' when it can, never inside one of
// safetext's escapes (s is escaped already).
func wrapName(s string, n int) string {
	var lines []string
	for len([]rune(s)) > n {
		r := []rune(s)
		cut := n
		for i := n; i > n/2; i-- {
			if strings.ContainsRune(`\@.-:`, r[i-1]) && escapeAround(r, i) < 0 {
				cut = i
				break
			}
		}
		if j := escapeAround(r, cut); j > 0 {
			cut = j
		}
		lines = append(lines, string(r[:cut]))
		s = string(r[cut:])
	}
	lines = append(lines, s)
	return strings.Join(lines, "\n")
}

// escapeAround returns where the escape (\xHH or \uHHHH, as safetext
// writes them) starts that a cut of r before r[i] would split, or -1. Every
// backslash of escaped text that is followed by x and two hex digits, or u
// and four, starts an escape.
func escapeAround(r []rune, i int) int {
	for j := max(i-5, 0); j < i && j < len(r); j++ {
		if r[j] != '\\' {
			continue
		}
		n := 0
		switch {
		case j+3 < len(r) && r[j+1] == 'x' && hexRune(r[j+2]) && hexRune(r[j+3]):
			n = 4
		case j+5 < len(r) && r[j+1] == 'u' && hexRune(r[j+2]) && hexRune(r[j+3]) && hexRune(r[j+4]) && hexRune(r[j+5]):
			n = 6
		}
		if n > 0 && j+n > i {
			return j
		}
	}
	return -1
}

func hexRune(c rune) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// writeWrapped word-wraps s to textWidth-1 columns, with first on the first
// line and indent on the others. s is escaped first (safetext.Escape): the
// report's sentences carry names from the wire and file names.
func writeWrapped(w io.Writer, s, first, indent string) {
	wrapWords(w, safetext.Escape(s), first, indent)
}

// writeMessage is writeWrapped for the messages of the capture layer and
// the pipeline (input warnings, anomalies), escaped as on standard error
// (safetext.Line): they may quote bytes Go's way already.
func writeMessage(w io.Writer, s, first, indent string) {
	wrapWords(w, safetext.Line(s), first, indent)
}

func wrapWords(w io.Writer, s, first, indent string) {
	width := textWidth - 1
	line := first
	empty := true
	for _, word := range strings.Fields(s) {
		if !empty && len([]rune(line))+1+len([]rune(word)) > width {
			fmt.Fprintln(w, line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	fmt.Fprintln(w, line)
}

// addrBefore orders IP addresses numerically, anything else as text.
func addrBefore(a, b string) bool {
	pa, ea := netip.ParseAddr(a)
	pb, eb := netip.ParseAddr(b)
	if ea == nil && eb == nil {
		return pa.Less(pb)
	}
	return a < b
}
