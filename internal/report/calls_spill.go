package report

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// A run is a file of rows sorted by compareRows.
type run struct {
	f       *os.File
	level   int  // merges that made it: runs of a level hold about as many rows
	removed bool // unlinked already
}

// spillError is the one-line error of a failed spill.
func (cw *CallWriter) spillError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	dir := cw.spillDir
	if dir == "" {
		dir = os.TempDir()
	}
	return fmt.Errorf("sorting calls: cannot use a temporary file in %s: %v (set TMPDIR to choose another directory)", dir, err)
}

// newRun creates a run file. It is unlinked at once where an open file may
// be (Unix), so that nothing is left behind if nspicap is killed.
func (cw *CallWriter) newRun(level int) (*run, error) {
	f, err := os.CreateTemp(cw.spillDir, "nspicap-calls-*.run")
	if err != nil {
		return nil, cw.spillError(err)
	}
	cw.spills++
	return &run{f: f, level: level, removed: os.Remove(f.Name()) == nil}, nil
}

func (r *run) remove() {
	r.f.Close()
	if !r.removed {
		os.Remove(r.f.Name())
	}
}

func (cw *CallWriter) removeRuns() {
	for _, r := range cw.runs {
		r.remove()
	}
	cw.runs = nil
}

// writeRun writes the rows each gives to a new run of level.
func (cw *CallWriter) writeRun(level int, each func(func(*timedRow) error) error) error {
	r, err := cw.newRun(level)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(r.f, 64<<10)
	var buf []byte
	err = each(func(tr *timedRow) error {
		buf = appendRow(buf[:0], tr)
		if _, err := bw.Write(buf); err != nil {
			return cw.spillError(err)
		}
		return nil
	})
	if err == nil {
		if err = bw.Flush(); err != nil {
			err = cw.spillError(err)
		}
	}
	if err != nil {
		r.remove()
		return err
	}
	cw.runs = append(cw.runs, r)
	return nil
}

// spill sorts the held rows and writes them as a run, then merges the
// newest fanIn runs while they are of one level: like the carries of a
// counter in base fanIn, so a row is rewritten once per level (a few times)
// and fewer than fanIn runs of each level stay open.
func (cw *CallWriter) spill() error {
	if err := cw.writeRun(0, func(emit func(*timedRow) error) error {
		for _, tr := range cw.sortHeld() {
			if err := emit(tr); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	clear(cw.rows) // let the collector have the strings; keep the array
	cw.rows = cw.rows[:0]
	k := max(cw.fanIn, 2)
	for n := len(cw.runs); n >= k && cw.runs[n-k].level == cw.runs[n-1].level; n = len(cw.runs) {
		group := slices.Clone(cw.runs[n-k:])
		cw.runs = cw.runs[:n-k]
		err := cw.writeRun(group[0].level+1, func(emit func(*timedRow) error) error {
			return cw.merge(group, nil, emit)
		})
		for _, r := range group {
			r.remove()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sortHeld returns the held rows in order. It sorts pointers: moving the
// rows themselves (about 300 bytes each) would cost more than comparing them.
func (cw *CallWriter) sortHeld() []*timedRow {
	p := make([]*timedRow, len(cw.rows))
	for i := range cw.rows {
		p[i] = &cw.rows[i]
	}
	slices.SortStableFunc(p, compareRows)
	return p
}

// sorted calls emit with every row in order. The row is reused after emit
// returns.
func (cw *CallWriter) sorted(emit func(*timedRow) error) error {
	return cw.merge(cw.runs, cw.held, emit)
}

// A source is a run being read, or the held rows (sorted).
type source struct {
	r    *bufio.Reader
	rows []*timedRow
	cur  timedRow
	row  *timedRow // the current row; nil at the end
	idx  int       // its place: older rows first, the held rows last
}

func (s *source) next() error {
	if s.r == nil {
		s.row = nil
		if len(s.rows) > 0 {
			s.row, s.rows = s.rows[0], s.rows[1:]
		}
		return nil
	}
	s.row = nil
	if _, err := s.r.Peek(1); err == io.EOF {
		return nil
	}
	if err := readRow(s.r, &s.cur); err != nil {
		return err
	}
	s.row = &s.cur
	return nil
}

// mergeHeap orders sources by their current row, ties by their place.
type mergeHeap []*source

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if c := compareRows(h[i].row, h[j].row); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// merge calls emit with the rows of runs and of held (sorted), in the order
// of one stable sort of them all: runs are in arrival order and held came
// last.
func (cw *CallWriter) merge(runs []*run, held []*timedRow, emit func(*timedRow) error) error {
	h := make(mergeHeap, 0, len(runs)+1)
	for i, r := range runs {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return cw.spillError(err)
		}
		h = append(h, &source{r: bufio.NewReaderSize(r.f, 32<<10), idx: i})
	}
	h = append(h, &source{rows: held, idx: len(runs)})
	for i := 0; i < len(h); {
		if err := h[i].next(); err != nil {
			return cw.spillError(err)
		}
		if h[i].row == nil {
			h = slices.Delete(h, i, i+1)
		} else {
			i++
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		s := h[0]
		if err := emit(s.row); err != nil {
			return err
		}
		if err := s.next(); err != nil {
			return cw.spillError(err)
		}
		if s.row == nil {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return nil
}

// The run encoding of a row: a varint of flags (the bools of CallRow, and
// which of its pointers are set), the request time as Unix seconds and
// nanoseconds, the integers as varints, the strings as a length and bytes.
// Pointers are kept as pointers: a reply_frame of 0 is not a missing one.
// TestRunEncodingKeepsEveryField fails when CallRow gets a field this
// encoding does not carry.
const (
	fInterfaceInferred = 1 << iota
	fSealed
	fDecrypted
	fIncomplete
	fStatusInferred
	fReplyFrame
	fUser
	fStatus
	fFault
	fLatency
	fAnswerElsewhere
)

func appendRow(b []byte, tr *timedRow) []byte {
	r := &tr.row
	var flags uint64
	for _, f := range []struct {
		set  bool
		flag uint64
	}{{r.InterfaceInferred, fInterfaceInferred}, {r.Sealed, fSealed}, {r.Decrypted, fDecrypted},
		{r.Incomplete, fIncomplete}, {r.StatusInferred, fStatusInferred}, {r.ReplyFrame != nil, fReplyFrame},
		{r.User != nil, fUser}, {r.Status != nil, fStatus}, {r.Fault != nil, fFault}, {r.LatencyUS != nil, fLatency},
		{r.AnswerElsewhere, fAnswerElsewhere}} {
		if f.set {
			flags |= f.flag
		}
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendVarint(b, tr.t.Unix())
	b = binary.AppendUvarint(b, uint64(tr.t.Nanosecond()))
	b = binary.AppendVarint(b, r.Frame)
	b = binary.AppendUvarint(b, uint64(r.CallID))
	b = binary.AppendUvarint(b, uint64(r.Opnum))
	b = binary.AppendVarint(b, r.IdentityFrame)
	if r.ReplyFrame != nil {
		b = binary.AppendVarint(b, *r.ReplyFrame)
	}
	if r.LatencyUS != nil {
		b = binary.AppendVarint(b, *r.LatencyUS)
	}
	for _, s := range []*string{&r.File, &r.ReplyFile, &r.Time, &r.Client, &r.Server, &r.Interface, &r.InferredFrom, &r.Op,
		&r.Auth, &r.AuthLevel, (*string)(&r.StatusName), (*string)(&r.FaultName), &r.Transport, &r.Pipe, &r.ClientAddress, &r.IdentityFrom, &r.IdentityFile, &r.Ticket, &r.Via, &r.UPN,
		r.User, r.Status, r.Fault} {
		if s != nil {
			b = binary.AppendUvarint(b, uint64(len(*s)))
			b = append(b, *s...)
		}
	}
	return b
}

// readRow reads what appendRow wrote into tr, which it overwrites.
func readRow(r *bufio.Reader, tr *timedRow) error {
	var err error
	uv := func() uint64 {
		var v uint64
		if err == nil {
			v, err = binary.ReadUvarint(r)
		}
		return v
	}
	sv := func() int64 {
		var v int64
		if err == nil {
			v, err = binary.ReadVarint(r)
		}
		return v
	}
	text := func() string {
		n := uv()
		if err != nil {
			return ""
		}
		if n > 1<<26 { // not written by appendRow: spare a huge allocation
			err = errors.New("corrupt row")
			return ""
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return string(b)
	}
	textp := func(set bool) *string {
		if !set {
			return nil
		}
		s := text()
		return &s
	}
	flags := uv()
	sec := sv()
	nsec := uv()
	*tr = timedRow{t: time.Unix(sec, int64(nsec))}
	row := &tr.row
	row.Frame = sv()
	row.CallID = uint32(uv())
	row.Opnum = uint16(uv())
	row.IdentityFrame = sv()
	if flags&fReplyFrame != 0 {
		v := sv()
		row.ReplyFrame = &v
	}
	if flags&fLatency != 0 {
		v := sv()
		row.LatencyUS = &v
	}
	for _, s := range []*string{&row.File, &row.ReplyFile, &row.Time, &row.Client, &row.Server, &row.Interface,
		&row.InferredFrom, &row.Op, &row.Auth, &row.AuthLevel, (*string)(&row.StatusName), (*string)(&row.FaultName), &row.Transport, &row.Pipe, &row.ClientAddress,
		&row.IdentityFrom, &row.IdentityFile, &row.Ticket, &row.Via, &row.UPN} {
		*s = text()
	}
	row.User = textp(flags&fUser != 0)
	row.Status = textp(flags&fStatus != 0)
	row.Fault = textp(flags&fFault != 0)
	row.InterfaceInferred = flags&fInterfaceInferred != 0
	row.Sealed = flags&fSealed != 0
	row.Decrypted = flags&fDecrypted != 0
	row.Incomplete = flags&fIncomplete != 0
	row.AnswerElsewhere = flags&fAnswerElsewhere != 0
	row.StatusInferred = flags&fStatusInferred != 0
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
