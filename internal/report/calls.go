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

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// CallFormats are the formats of `nspicap calls`.
var CallFormats = []string{"table", "csv", "jsonl"}

// CallWriter writes the rows of `nspicap calls`. jsonl is streamed: each row
// is written when it arrives, in the order calls were completed in the
// capture. table and csv are sorted by request time, file and frame.
type CallWriter struct {
	w      *bufio.Writer
	format string
	multi  bool
	rows   []timedRow
	enc    *json.Encoder
}

type timedRow struct {
	t   time.Time
	row CallRow
}

// NewCallWriter returns a writer for format. multi says that several input
// files are being read, so frame numbers print with their file.
func NewCallWriter(w io.Writer, format string, multi bool) (*CallWriter, error) {
	cw := &CallWriter{w: bufio.NewWriterSize(w, 64<<10), format: format, multi: multi}
	switch format {
	case "jsonl":
		cw.enc = json.NewEncoder(cw.w)
		cw.enc.SetEscapeHTML(false)
	case "table", "csv":
	default:
		return nil, fmt.Errorf("unknown format %q (want table, csv or jsonl)", format)
	}
	return cw, nil
}

// Write adds one call. t is its request time, used for sorting.
func (cw *CallWriter) Write(row *CallRow, t time.Time) error {
	if cw.enc != nil {
		return cw.enc.Encode(row)
	}
	cw.rows = append(cw.rows, timedRow{t, *row})
	return nil
}

// Close writes what was buffered and flushes.
func (cw *CallWriter) Close() error {
	sort.SliceStable(cw.rows, func(i, j int) bool {
		a, b := &cw.rows[i], &cw.rows[j]
		if !a.t.Equal(b.t) {
			return a.t.Before(b.t)
		}
		if a.row.File != b.row.File {
			return a.row.File < b.row.File
		}
		if a.row.Frame != b.row.Frame {
			return a.row.Frame < b.row.Frame
		}
		return a.row.CallID < b.row.CallID
	})
	var err error
	switch cw.format {
	case "csv":
		err = cw.writeCSV()
	case "table":
		err = cw.writeTable()
	}
	if ferr := cw.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func i64(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func (cw *CallWriter) writeCSV() error {
	c := csv.NewWriter(cw.w)
	c.Write([]string{"file", "frame", "reply_frame", "time", "client", "server", "call_id", "interface", "opnum", "op",
		"user", "auth", "auth_level", "sealed", "status", "status_name", "fault", "fault_name", "latency_us"})
	for i := range cw.rows {
		r := &cw.rows[i].row
		c.Write([]string{r.File, strconv.FormatInt(r.Frame, 10), i64(r.ReplyFrame), r.Time, r.Client, r.Server,
			strconv.FormatUint(uint64(r.CallID), 10), r.Interface, strconv.Itoa(int(r.Opnum)), r.Op, str(r.User),
			r.Auth, r.AuthLevel, strconv.FormatBool(r.Sealed), str(r.Status), r.StatusName, str(r.Fault),
			r.FaultName, i64(r.LatencyUS)})
	}
	c.Flush()
	return c.Error()
}

// frameLabel prints a frame, with its file when several files are read.
func frameLabel(multi bool, file string, frame int64) string {
	if frame == 0 {
		return "-"
	}
	if multi {
		return file + "#" + strconv.FormatInt(frame, 10)
	}
	return strconv.FormatInt(frame, 10)
}

func (cw *CallWriter) writeTable() error {
	t := NewTable(cw.w, []string{"FRAME", "REPLY", "TIME", "CLIENT > SERVER", "OP", "USER", "RESULT"})
	for i := range cw.rows {
		r := &cw.rows[i].row
		reply := "-"
		if r.ReplyFrame != nil {
			f := r.File
			if r.ReplyFile != "" {
				f = r.ReplyFile
			}
			reply = frameLabel(cw.multi, f, *r.ReplyFrame)
		}
		tm := r.Time
		if len(tm) > 11 {
			tm = strings.TrimSuffix(tm[11:], "Z")
		}
		op := r.Op
		if r.Interface != "nspi" {
			op = r.Interface + "." + r.Op
		}
		user := str(r.User)
		if user == "" {
			user = "(" + r.Auth + ")"
		}
		res := resultText(r)
		if r.Incomplete {
			res += " (cut)"
		}
		t.Append([]string{frameLabel(cw.multi, r.File, r.Frame), reply, tm, r.Client + " > " + r.Server, op, user, res})
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(cw.w, "%d calls\n", len(cw.rows))
	for i := range cw.rows {
		if cw.rows[i].row.Incomplete {
			fmt.Fprintln(cw.w, "(cut): some stub bytes of the call were not captured; the result is what survived.")
			break
		}
	}
	return nil
}

func resultText(r *CallRow) string {
	switch {
	case r.Fault != nil:
		s := "fault " + *r.Fault
		if r.FaultName != "" {
			s += " " + r.FaultName
		}
		return s
	case r.Sealed && r.Status == nil:
		return "sealed"
	case r.Status != nil && r.StatusInferred:
		return "inferred " + r.StatusName
	case r.Status != nil:
		if r.StatusName != "" {
			return r.StatusName
		}
		return *r.Status
	case r.ReplyFrame == nil:
		return "no answer"
	}
	return "answered"
}

// NewTable returns a table in nspicap's style: plain ASCII borders, headers
// printed as given (no automatic title-casing, which would turn LOGON_FAILED
// into "LOGON FAILED"), cells not wrapped.
func NewTable(w io.Writer, header []string) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	return t
}
