package report

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/internal/safetext"
)

// CallFormats are the formats of `nspicap calls`.
var CallFormats = []string{"table", "csv", "jsonl"}

// CallWriter writes the rows of `nspicap calls`. jsonl is streamed: each row
// is written when it arrives, in the order calls were completed in the
// capture. table and csv are sorted by request time, file and frame.
//
// That sort is an external merge sort, so that memory does not grow with
// the capture. At most maxRows rows are held (defaultMaxRows, 65536: about
// 35 MiB of heap). When that many are held they are sorted and spilled, as
// one run, to a temporary file nspicap-calls-*.run in os.TempDir() ($TMPDIR)
// in a compact binary encoding (appendRow, about 200 bytes a call). Close
// merges the runs with the rows still held. Runs are merged fanIn (64) at a
// time as they pile up, so that a few hundred files at most are open and
// read at once (each with a 32 KiB buffer), even for billions of calls. The
// table is not held either: it is written in two passes over the merge, one
// that measures the columns and one that writes the lines (asciiTable). The
// temporary files are unlinked as soon as they are created where the system
// allows it (so that a killed run leaves nothing behind), else removed by
// Close, also when it fails. Without a spill no file is created.
type CallWriter struct {
	w      *bufio.Writer
	format string
	multi  bool
	enc    *json.Encoder

	rows       []timedRow  // held rows, in arrival order
	held       []*timedRow // at Close: rows, sorted
	runs       []*run      // spilled runs, oldest first
	total      int         // rows written
	incomplete bool        // some row is Incomplete: the table gets a note
	err        error       // the first spill error; Write and Close return it

	maxRows  int    // rows held before a spill
	fanIn    int    // runs merged into one at a time
	spillDir string // "" is os.TempDir()
	spills   int    // runs written, for the tests
}

const (
	defaultMaxRows = 65536
	defaultFanIn   = 64
)

type timedRow struct {
	t   time.Time
	row CallRow
}

// compareRows is the order of table and csv. Rows equal in it keep their
// arrival order: the in-memory sort is stable, and the merge breaks ties by
// run, the older run first.
func compareRows(a, b *timedRow) int {
	if c := a.t.Compare(b.t); c != 0 {
		return c
	}
	if c := strings.Compare(a.row.File, b.row.File); c != 0 {
		return c
	}
	if c := cmp.Compare(a.row.Frame, b.row.Frame); c != 0 {
		return c
	}
	return cmp.Compare(a.row.CallID, b.row.CallID)
}

// NewCallWriter returns a writer for format. multi says that several input
// files are being read, so frame numbers print with their file.
func NewCallWriter(w io.Writer, format string, multi bool) (*CallWriter, error) {
	cw := &CallWriter{w: bufio.NewWriterSize(w, 64<<10), format: format, multi: multi,
		maxRows: defaultMaxRows, fanIn: defaultFanIn}
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
	if cw.err != nil {
		return cw.err
	}
	if len(cw.rows) >= max(cw.maxRows, 1) {
		if cw.err = cw.spill(); cw.err != nil {
			return cw.err
		}
	}
	cw.rows = append(cw.rows, timedRow{t, *row})
	cw.total++
	cw.incomplete = cw.incomplete || row.Incomplete
	return nil
}

// Close writes what was buffered and flushes. It removes the temporary
// files in any case.
func (cw *CallWriter) Close() error {
	defer cw.removeRuns()
	if cw.err != nil {
		return cw.err
	}
	cw.held = cw.sortHeld()
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
	cw.rows, cw.held = nil, nil
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
		"user", "auth", "auth_level", "sealed", "status", "status_name", "fault", "fault_name", "latency_us", "transport", "client_address"})
	err := cw.sorted(func(tr *timedRow) error {
		r := &tr.row
		return c.Write([]string{csvText(r.File), strconv.FormatInt(r.Frame, 10), i64(r.ReplyFrame), csvText(r.Time),
			csvText(r.Client), csvText(r.Server), strconv.FormatUint(uint64(r.CallID), 10), csvText(r.Interface),
			strconv.Itoa(int(r.Opnum)), csvText(r.Op), csvText(str(r.User)), csvText(r.Auth), csvText(r.AuthLevel),
			strconv.FormatBool(r.Sealed), csvText(str(r.Status)), csvText(string(r.StatusName)), csvText(str(r.Fault)),
			csvText(string(r.FaultName)), i64(r.LatencyUS), csvText(r.Transport), csvText(r.ClientAddress)})
	})
	c.Flush()
	if err != nil {
		return err
	}
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

var callsHeader = []string{"FRAME", "REPLY", "TIME", "CLIENT > SERVER", "OP", "USER", "RESULT"}

// tableCells fills cells (len(callsHeader)) with the table cells of r.
func (cw *CallWriter) tableCells(r *CallRow, cells []string) []string {
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
	conn := clientLabel(r.Client, r.ClientAddress) + " > " + r.Server
	switch {
	case r.Pipe != "":
		conn += " " + r.Pipe // a named pipe; over TCP the cell is unchanged
	case r.Transport == "ncacn_http":
		conn += " (http)"
	}
	cells[0], cells[1], cells[2], cells[3] = frameLabel(cw.multi, r.File, r.Frame), reply, tm, conn
	cells[4], cells[5], cells[6] = op, user, res
	for i, c := range cells {
		cells[i] = safetext.Escape(c)
	}
	return cells
}

// writeTable writes the table in two passes over the sorted rows: the
// first measures the columns, the second writes the lines.
func (cw *CallWriter) writeTable() error {
	t := newASCIITable(callsHeader)
	cells := make([]string, len(callsHeader))
	if err := cw.sorted(func(tr *timedRow) error {
		t.measure(cw.tableCells(&tr.row, cells))
		return nil
	}); err != nil {
		return err
	}
	t.writeHeader(cw.w, cw.total > 0)
	if err := cw.sorted(func(tr *timedRow) error {
		t.writeRow(cw.w, cw.tableCells(&tr.row, cells))
		return nil
	}); err != nil {
		return err
	}
	t.writeBorder(cw.w)
	fmt.Fprintf(cw.w, "%d calls\n", cw.total)
	if cw.incomplete {
		fmt.Fprintln(cw.w, "(cut): some stub bytes of the call were not captured; the result is what survived.")
	}
	return nil
}

func resultText(r *CallRow) string {
	switch {
	case r.Fault != nil:
		s := "fault " + *r.Fault
		if r.FaultName != "" {
			s += " " + string(r.FaultName)
		}
		return s
	case r.Sealed && r.Status == nil:
		return "sealed"
	case r.Status != nil && r.StatusInferred:
		return "inferred " + string(r.StatusName)
	case r.Status != nil:
		if r.StatusName != "" {
			return string(r.StatusName)
		}
		return *r.Status
	case r.ReplyFrame == nil && r.AnswerElsewhere:
		return "answer on an unpaired channel"
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
