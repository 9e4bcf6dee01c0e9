package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// WriteSessions writes the sessions of `nspicap sessions` as "table", "csv"
// (one header line, then one line per session) or "jsonl" (one JSON object
// per line, with the names of the report's sessions). Sessions are written
// in the order given (the analyzer sorts them by bind time); the table
// groups them by server.
func WriteSessions(w io.Writer, format string, sessions []analyze.Session) error {
	bw := bufio.NewWriter(w)
	var err error
	switch format {
	case "table":
		err = writeSessionTable(bw, sessions)
	case "csv":
		err = writeSessionCSV(bw, sessions)
	case "jsonl":
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for i := range sessions {
			if err = enc.Encode(&sessions[i]); err != nil {
				break
			}
		}
	default:
		return fmt.Errorf("unknown format %q (want table, csv or jsonl)", format)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// sessionTime prints a time as RFC 3339 in UTC with 6 fraction digits, or 9
// when the capture has nanosecond resolution; "" for none.
func sessionTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	u := t.UTC()
	if u.Nanosecond()%1000 != 0 {
		return u.Format("2006-01-02T15:04:05.000000000Z")
	}
	return u.Format("2006-01-02T15:04:05.000000Z")
}

func writeSessionCSV(w io.Writer, ss []analyze.Session) error {
	c := csv.NewWriter(w)
	c.Write([]string{"server", "server_port", "client", "user", "auth", "handle", "bind_file", "bind_frame", "bind_time",
		"end", "end_file", "end_frame", "end_time", "unbind_status", "calls", "transport", "client_address"})
	for i := range ss {
		s := &ss[i]
		var endFile, endFrame string
		if s.EndFrame != nil {
			endFile, endFrame = s.EndFrame.File, strconv.FormatInt(s.EndFrame.Frame, 10)
		}
		c.Write([]string{csvText(s.Server), strconv.Itoa(int(s.ServerPort)), csvText(s.Client), csvText(string(s.User)),
			csvText(s.Auth), csvText(s.Handle), csvText(s.BindFrame.File), strconv.FormatInt(s.BindFrame.Frame, 10),
			sessionTime(&s.BindTime), csvText(s.End), csvText(endFile), endFrame, sessionTime(s.EndTime),
			csvText(s.UnbindStatus), strconv.Itoa(s.Calls), csvText(s.Transport), csvText(s.ClientAddress)})
	}
	c.Flush()
	return c.Error()
}

func writeSessionTable(w io.Writer, ss []analyze.Session) error {
	files := sessionFiles(ss, nil)
	if len(ss) == 0 {
		_, err := fmt.Fprintln(w, "No NSPI sessions.")
		return err
	}
	if err := writeNSPISessionTables(w, ss, frameFormatter(files)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	writeFilesLegend(w, files)
	if via, over := sessionTransports(ss); via || over {
		writeWrapped(w, transportLegend(via, over), "", "")
	}
	writeWrapped(w, nspiSessionLegend, "", "")
	return nil
}

const nspiSessionLegend = "HANDLE: digits 9 to 16 of the context handle (all 40 in csv and jsonl). BIND: frame of the NspiBind. END: unbind; closed (its connections closed without NspiUnbind); open (still open at the end of the capture). AT: frame of the end. CALLS: other NSPI calls on the handle."

// sessionFiles lists the files the sessions' frames name, sorted. With
// several files, frames print as N#frame, N numbering the files in order
// of name, with a legend: file names would not fit in 80 columns.
func sessionFiles(ss []analyze.Session, es []analyze.EMSMDBSession) []string {
	fileSet := map[string]bool{}
	for i := range ss {
		fileSet[ss[i].BindFrame.File] = true
		if ss[i].EndFrame != nil {
			fileSet[ss[i].EndFrame.File] = true
		}
	}
	for i := range es {
		fileSet[es[i].ConnectFrame.File] = true
		if es[i].EndFrame != nil {
			fileSet[es[i].EndFrame.File] = true
		}
	}
	var files []string
	for f := range fileSet {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

func frameFormatter(files []string) func(analyze.FrameRef) string {
	fileNo := map[string]int{}
	for i, f := range files {
		fileNo[f] = i + 1
	}
	return func(f analyze.FrameRef) string {
		if len(files) > 1 {
			return strconv.Itoa(fileNo[f.File]) + "#" + strconv.FormatInt(f.Frame, 10)
		}
		return strconv.FormatInt(f.Frame, 10)
	}
}

func writeFilesLegend(w io.Writer, files []string) {
	if len(files) > 1 {
		var parts []string
		for i, f := range files {
			parts = append(parts, fmt.Sprintf("%d = %s", i+1, f))
		}
		writeWrapped(w, "Frames are FILE#FRAME; files: "+strings.Join(parts, ", ")+".", "", "  ")
	}
}

// writeNSPISessionTables writes one table per server.
func writeNSPISessionTables(w io.Writer, ss []analyze.Session, frame func(analyze.FrameRef) string) error {
	byServer := map[string][]*analyze.Session{}
	var servers []string
	for i := range ss {
		s := &ss[i]
		if _, ok := byServer[s.Server]; !ok {
			servers = append(servers, s.Server)
		}
		byServer[s.Server] = append(byServer[s.Server], s)
	}
	sort.SliceStable(servers, func(i, j int) bool { return addrBefore(servers[i], servers[j]) })
	var via, over bool
	for n, server := range servers {
		if n > 0 {
			fmt.Fprintln(w)
		}
		list := byServer[server]
		fmt.Fprintf(w, "Sessions on %s (%d)\n", safetext.Escape(server), len(list))
		sOver, sVia := false, false
		for _, s := range list {
			sOver = sOver || transportLabel(s.Transport) != ""
			sVia = sVia || s.ClientAddress != ""
		}
		over, via = over || sOver, via || sVia
		header := []string{"CLIENT"}
		align := tw.Alignment{tw.AlignLeft}
		if sVia {
			header, align = append(header, "PROXY"), append(align, tw.AlignLeft)
		}
		if sOver {
			header, align = append(header, "OVER"), append(align, tw.AlignLeft)
		}
		header = append(header, "USER", "HANDLE", "BIND", "END", "AT", "CALLS")
		align = append(align, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight)
		rows := make([][]string, len(list))
		for i, s := range list {
			user := string(s.User)
			if user == "" {
				user = noIdentity
			}
			end, at := "open", "-"
			switch s.End {
			case analyze.EndUnbind:
				end = "unbind"
			case analyze.EndConnectionClosed:
				end = "closed"
			}
			if s.EndFrame != nil {
				at = frame(*s.EndFrame)
			}
			row := []string{wrapName(safetext.Escape(s.Client), 21)}
			if sVia {
				row = append(row, "-")
				if s.ClientAddress != "" {
					row[0], row[1] = safetext.Escape(s.ClientAddress), wrapName(safetext.Escape(s.Client), 21)
				}
			}
			if sOver {
				l := transportLabel(s.Transport)
				if l == "" {
					l = "tcp"
				}
				row = append(row, l)
			}
			rows[i] = append(row, wrapName(safetext.Escape(user), 16), safetext.Escape(shortHandle(s.Handle)), frame(s.BindFrame), end, at, strconv.Itoa(s.Calls))
		}
		if err := renderPlain(w, header, align, rows); err != nil {
			return err
		}
	}
	return nil
}

// sessionTransports reports whether some session came through an RPC
// proxy (via), or over another transport than ncacn_ip_tcp (over): the
// tables then have PROXY and OVER columns, which the legend explains.
func sessionTransports(ss []analyze.Session) (via, over bool) {
	for i := range ss {
		via = via || ss[i].ClientAddress != ""
		over = over || transportLabel(ss[i].Transport) != ""
	}
	return via, over
}

// transportLabel is the OVER cell of a session that did not come over
// ncacn_ip_tcp; "" for ncacn_ip_tcp.
func transportLabel(t string) string {
	switch t {
	case "ncacn_np":
		return "pipe"
	case "ncacn_http":
		return "http"
	}
	return ""
}

// transportLegend explains the OVER and PROXY columns shown.
func transportLegend(via, over bool) string {
	var parts []string
	if over {
		parts = append(parts, "OVER: tcp (ncacn_ip_tcp), pipe (ncacn_np: an SMB named pipe) or http (ncacn_http: RPC over HTTP).")
	}
	if via {
		parts = append(parts, "PROXY: the RPC proxy's socket the client came through; CLIENT is then the client behind it.")
	}
	return strings.Join(parts, " ")
}

// csvText is a text cell of a CSV output: escaped, and guarded against
// spreadsheet formulas (safetext.CSV). Numbers the tool writes do not go
// through it.
func csvText(s string) string { return safetext.CSV(s) }

// shortHandle keeps the first 8 digits of the UUID part of a handle: the
// first 8 are attributes, usually zero.
func shortHandle(h string) string {
	if len(h) >= 16 {
		return h[8:16]
	}
	if h == "" {
		return "?"
	}
	return h
}
