package report

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/testutil"
)

type callIn struct {
	row CallRow
	t   time.Time
}

// randomCalls returns n calls with ties: spread request times and frames,
// three files and four call ids, so that the order of equal rows shows
// (spread 2 makes most rows equal to many others). Pointers are
// nil or set (to zero values too), users are ASCII, wide (CJK, emoji),
// combining, or odd for a table (tabs, newlines, spaces, ANSI escapes).
func randomCalls(seed uint64, n, spread int) []callIn {
	rnd := rand.New(rand.NewPCG(seed, 7))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	i64p := func() *int64 {
		if rnd.IntN(3) == 0 {
			return nil
		}
		v := int64(rnd.IntN(3)) * int64(rnd.IntN(100000))
		return &v
	}
	strp := func(s ...string) *string {
		if rnd.IntN(3) == 0 {
			return nil
		}
		v := pick(s...)
		return &v
	}
	base := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	out := make([]callIn, n)
	for i := range out {
		t := base.Add(time.Duration(rnd.IntN(spread)) * time.Millisecond)
		if rnd.IntN(50) == 0 {
			t = time.Time{} // before 1970: negative Unix seconds
		}
		if rnd.IntN(10) == 0 {
			t = t.Add(time.Duration(rnd.IntN(1000))) // nanoseconds
		}
		r := CallRow{
			File:       pick("a.pcap", "b.pcap", "ünï.pcapng"),
			Frame:      int64(rnd.IntN(spread)),
			ReplyFrame: i64p(),
			// Fresh strings, as the pipeline makes them.
			Time:      FormatTime(t),
			Client:    fmt.Sprintf("192.0.2.%d:%d", rnd.IntN(4), 49000+rnd.IntN(3)),
			Server:    pick("198.51.100.10:135", "[2001:db8::1]:6004"),
			CallID:    uint32(rnd.IntN(4)),
			Interface: pick("nspi", "epm", "emsmdb"),
			Opnum:     uint16(rnd.IntN(60)),
			Op:        pick("NspiBind", "NspiQueryRows", "ept_map", "opnum 7"),
			User: strp(`CONTOSO\alice`, "", "ДОМЕН\\пётр", "管理者", "😀 smile", "e\u0301cole", "  pad  ",
				"tab\there", "two\nlines", "\n\nlate", "\x1b[31mred\x1b[0m", "cr\r\n", "\xff\xfe"),
			Auth:      pick("ntlm", "kerberos", "none"),
			AuthLevel: pick("connect", "privacy", ""),
			Sealed:    rnd.IntN(2) == 0,
			Decrypted: rnd.IntN(4) == 0,
			Status:    strp("0x00000000", "0x80040111", ""),
			Fault:     strp("0x1c010003"),
			LatencyUS: i64p(),
		}
		if rnd.IntN(4) == 0 {
			r.ReplyFile = pick("b.pcap", "c.pcap")
		}
		r.InterfaceInferred = rnd.IntN(5) == 0
		r.Incomplete = rnd.IntN(8) == 0
		r.StatusInferred = rnd.IntN(5) == 0
		if r.Status != nil {
			r.StatusName = CodeName(pick("Success", "LogonFailed", ""))
		}
		if r.Fault != nil {
			r.FaultName = CodeName(pick("nca_s_op_rng_error", ""))
		}
		out[i] = callIn{r, t}
	}
	return out
}

// writeCalls writes calls with a CallWriter that holds at most maxRows rows
// and merges fanIn runs at a time, spilling to dir. It returns the output
// and the number of runs written, and checks how many runs were kept at
// once: fewer than fanIn of each level.
func writeCalls(t *testing.T, calls []callIn, format string, multi bool, maxRows, fanIn int, dir string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	cw, err := NewCallWriter(&b, format, multi)
	if err != nil {
		t.Fatal(err)
	}
	cw.maxRows, cw.fanIn, cw.spillDir = maxRows, fanIn, dir
	kept := 0
	for i := range calls {
		if err := cw.Write(&calls[i].row, calls[i].t); err != nil {
			t.Fatal(err)
		}
		kept = max(kept, len(cw.runs))
	}
	levels := 1
	for n := cw.spills; n >= fanIn; n /= fanIn {
		levels++
	}
	if kept > (fanIn-1)*levels {
		t.Errorf("%d runs kept at once after %d written, want at most %d", kept, cw.spills, (fanIn-1)*levels)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), cw.spills
}

// legacyCalls is `nspicap calls` as it was before rows were spilled: every
// row held, sort.SliceStable, and for the table tablewriter (NewTable).
func legacyCalls(t *testing.T, calls []callIn, format string, multi bool) string {
	t.Helper()
	rows := make([]timedRow, len(calls))
	for i, c := range calls {
		rows[i] = timedRow{c.t, c.row}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
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
	var b bytes.Buffer
	cw, _ := NewCallWriter(&b, format, multi)
	if format == "csv" {
		for i := range rows {
			cw.held = append(cw.held, &rows[i])
		}
		if err := cw.writeCSV(); err != nil {
			t.Fatal(err)
		}
		cw.w.Flush()
		return b.String()
	}
	tb := NewTable(&b, callsHeader)
	cut := false
	for i := range rows {
		tb.Append(cw.tableCells(&rows[i].row, make([]string, len(callsHeader))))
		cut = cut || rows[i].row.Incomplete
	}
	if err := tb.Render(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "%d calls\n", len(rows))
	if cut {
		fmt.Fprintln(&b, "(cut): some stub bytes of the call were not captured; the result is what survived.")
	}
	return b.String()
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestCallsSpillIdentical: with 7 rows held at most and runs merged 3 at a
// time (many runs, and merges of merges), csv and table are byte for byte
// what the writer gives holding every row, and what the code before spills
// gave (sort.SliceStable, tablewriter). Nothing is left in the spill
// directory, and nothing is created when nothing is spilled.
func TestCallsSpillIdentical(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, spread int }{{0, 40}, {1, 40}, {7, 40}, {8, 40}, {15, 2}, {64, 40}, {500, 2}, {500, 40}, {3000, 40}} {
		n := c.n
		calls := randomCalls(uint64(n), n, c.spread)
		for _, format := range []string{"csv", "table"} {
			for _, multi := range []bool{false, true} {
				name := fmt.Sprintf("%d/spread %d/%s/multi=%v", n, c.spread, format, multi)
				dir := t.TempDir()
				spilled, spills := writeCalls(t, calls, format, multi, 7, 3, dir)
				held, none := writeCalls(t, calls, format, multi, n+1, 3, dir)
				legacy := legacyCalls(t, calls, format, multi)
				if wantSpills := (n - 1) / 7; n > 0 && spills < wantSpills {
					t.Errorf("%s: %d runs written, want at least %d", name, spills, wantSpills)
				}
				if none != 0 {
					t.Errorf("%s: %d runs written with every row held", name, none)
				}
				if held != legacy {
					t.Errorf("%s: held rows differ from before:\n%s", name, testutil.FirstDiff(legacy, held))
				}
				if spilled != held {
					t.Errorf("%s: spilled rows differ from held rows:\n%s", name, testutil.FirstDiff(held, spilled))
				}
				if left := dirEntries(t, dir); len(left) > 0 {
					t.Errorf("%s: left in the spill directory: %v", name, left)
				}
			}
		}
	}
}

// TestASCIITableIsTablewriter: asciiTable writes what NewTable writes, for
// random cells made of what can upset a table: spaces, tabs, newlines and
// carriage returns, ANSI escapes (whole and cut), wide and zero-width
// runes, invalid UTF-8; and for tables without rows.
func TestASCIITableIsTablewriter(t *testing.T) {
	t.Parallel()
	bits := []string{"a", "Zz", " ", "  ", "\t", "\n", "\r", "\x1b[1m", "\x1b[0m", "\x1b[", "\x1b]8;;x\x07", "\x1b",
		"é", "e\u0301", "漢字", "😀", "👍🏽", "\u200d", "\u00ad", "\xff", "─", "|", "+", "-", "x\n\ny", " \n ", ""}
	rnd := rand.New(rand.NewPCG(1, 2))
	header := []string{"FRAME", "USER", "CLIENT > SERVER"}
	for iter := range 3000 {
		rows := make([][]string, rnd.IntN(4))
		for i := range rows {
			rows[i] = make([]string, len(header))
			for j := range rows[i] {
				var b strings.Builder
				for range rnd.IntN(6) {
					b.WriteString(bits[rnd.IntN(len(bits))])
				}
				rows[i][j] = b.String()
			}
		}
		var want bytes.Buffer
		tb := NewTable(&want, header)
		for _, r := range rows {
			tb.Append(r)
		}
		if err := tb.Render(); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		at := newASCIITable(header)
		for _, r := range rows {
			at.measure(r)
		}
		at.writeHeader(w, len(rows) > 0)
		for _, r := range rows {
			at.writeRow(w, r)
		}
		at.writeBorder(w)
		w.Flush()
		if got.String() != want.String() {
			t.Fatalf("iteration %d, rows %q:\n%s", iter, rows, testutil.FirstDiff(want.String(), got.String()))
		}
	}
}

// fillEvery sets every field of v (a struct) to a value that is not the
// zero value, through pointers.
func fillEvery(t *testing.T, v reflect.Value, n *int) {
	for i := range v.NumField() {
		f := v.Field(i)
		*n++
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("s%d é", *n))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(int64(-*n))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(*n))
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			switch p.Elem().Kind() {
			case reflect.String:
				p.Elem().SetString(fmt.Sprintf("p%d", *n))
			case reflect.Int64:
				p.Elem().SetInt(int64(*n) << 40)
			default:
				t.Fatalf("CallRow.%s: a pointer to %s; teach appendRow and this test", v.Type().Field(i).Name, p.Elem().Kind())
			}
			f.Set(p)
		default:
			t.Fatalf("CallRow.%s: a %s; teach appendRow and this test", v.Type().Field(i).Name, f.Kind())
		}
	}
}

func roundTrip(t *testing.T, in timedRow) timedRow {
	t.Helper()
	var out timedRow
	b := appendRow(nil, &in)
	r := bufio.NewReader(bytes.NewReader(b))
	if err := readRow(r, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("readRow left bytes")
	}
	for n := range len(b) { // cut anywhere: an error, not a row
		if err := readRow(bufio.NewReader(bytes.NewReader(b[:n])), new(timedRow)); err == nil {
			t.Fatalf("%d of %d bytes read as a row", n, len(b))
		}
	}
	return out
}

// TestRunEncodingKeepsEveryField: a row read back from a run equals the
// row written, with every field of CallRow set (found by reflection, so a
// new field fails here until the encoding carries it), with every pointer
// nil, and with pointers to zero values (which stay pointers: a reply_frame
// of 0 is not a missing one).
func TestRunEncodingKeepsEveryField(t *testing.T) {
	var full timedRow
	n := 0
	fillEvery(t, reflect.ValueOf(&full.row).Elem(), &n)
	full.t = time.Date(2025, 3, 4, 9, 0, 0, 123456789, time.UTC)
	zero, empty := int64(0), ""
	for _, in := range []timedRow{
		full,
		{},
		{t: time.Date(1600, 1, 1, 0, 0, 0, 1, time.UTC), row: CallRow{ReplyFrame: &zero, LatencyUS: &zero, User: &empty, Status: &empty, Fault: &empty}},
	} {
		out := roundTrip(t, in)
		if !out.t.Equal(in.t) {
			t.Errorf("time %v read back as %v", in.t, out.t)
		}
		if !reflect.DeepEqual(out.row, in.row) {
			t.Errorf("row read back differs:\nwrote %+v\nread  %+v", in.row, out.row)
		}
	}
}

// TestCallsSpillError: when the spill directory cannot be written, the
// Write that spills fails with one line naming the directory and the
// reason, later Writes and Close fail the same, and nothing is written.
func TestCallsSpillError(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(base, "missing"), file} {
		var out bytes.Buffer
		cw, _ := NewCallWriter(&out, "table", false)
		cw.maxRows, cw.spillDir = 2, dir
		var err error
		calls := randomCalls(1, 5, 40)
		for i := 0; i < len(calls) && err == nil; i++ {
			err = cw.Write(&calls[i].row, calls[i].t)
		}
		if err == nil {
			t.Fatalf("%s: no error", dir)
		}
		msg := err.Error()
		if !strings.Contains(msg, dir) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "sorting calls: cannot use a temporary file in "+dir+": ") ||
			!(strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "not a directory")) {
			t.Errorf("error %q: want one line naming %s and the reason", msg, dir)
		}
		if err2 := cw.Write(&calls[0].row, calls[0].t); err2 != err {
			t.Errorf("Write after the error: %v", err2)
		}
		if err2 := cw.Close(); err2 != err {
			t.Errorf("Close after the error: %v", err2)
		}
		if out.Len() > 0 {
			t.Errorf("written after the error: %q", out.String())
		}
	}
}

// heapWatch samples the heap in use after a collection.
type heapWatch struct{ peak, base uint64 }

func (h *heapWatch) sample() uint64 {
	heap := testutil.HeapAfterGC()
	h.peak = max(h.peak, heap)
	return heap
}

// sampleWriter samples the heap every 64 writes: the output of Close
// arrives here in 64 KiB pieces, so this watches the merge.
type sampleWriter struct {
	h *heapWatch
	n int
}

func (w *sampleWriter) Write(p []byte) (int, error) {
	if w.n++; w.n%64 == 0 {
		w.h.sample()
	}
	return len(p), nil
}

// TestCallsSpillMemoryBounded: 200000 calls written as a table and as csv,
// at most 4000 held (500000 and 10000 with NSPICAP_SLOW_TESTS=1): the heap
// (after a collection) stays within what the held rows take, however many
// calls were written, during Write and during the merge of Close.
//
// The quick size proves the same: 50 times as many calls as held, so Close
// merges the same 49 runs, and all 200000 rows would take about 65 MiB, six
// times the bound (about 10.6 MiB: twice the 1.3 MiB of the held rows plus 8
// MiB), so a writer that kept its rows, or a fixed share of them, fails.
func TestCallsSpillMemoryBounded(t *testing.T) {
	total, held := testutil.Size(200000, 500000), testutil.Size(4000, 10000)
	if testing.Short() {
		t.Skipf("writes %d calls", total)
	}
	calls := randomCalls(42, 1000, 40) // reused in turn; each Write copies the row
	for _, format := range []string{"csv", "table"} {
		h := &heapWatch{}
		base := h.sample()
		sw := &sampleWriter{h: h}
		cw, _ := NewCallWriter(sw, format, true)
		cw.maxRows, cw.spillDir = held, t.TempDir()
		var atHeld uint64
		for i := range total {
			c := &calls[i%len(calls)]
			row := c.row
			row.Client = strings.Clone(row.Client) // a fresh string per call, as the pipeline makes
			row.Frame = int64(i)
			if err := cw.Write(&row, c.t.Add(time.Duration(i%7919)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if i == held-1 {
				atHeld = h.sample() - base
			} else if i%(held/2) == 0 {
				h.sample()
			}
		}
		duringWrite := h.peak - base
		spills := cw.spills
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		peak := h.peak - base
		t.Logf("%s: %d calls, %d held at most, %d runs: heap above the start with %d rows held %.1f MiB (%d bytes a row; all %d rows would take %.0f MiB); peak during Write %.1f MiB, during Close %.1f MiB",
			format, total, held, spills, held, float64(atHeld)/(1<<20), atHeld/uint64(held), total, float64(atHeld/uint64(held)*uint64(total))/(1<<20),
			float64(duringWrite)/(1<<20), float64(peak)/(1<<20))
		// The bound: twice what the held rows take, plus 8 MiB for the
		// sort's pointers, the run buffers and the table.
		if limit := 2*atHeld + 8<<20; peak > limit {
			t.Errorf("%s: heap peaked %d bytes above the start, want at most %d", format, peak, limit)
		}
	}
}
