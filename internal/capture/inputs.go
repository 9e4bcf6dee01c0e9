package capture

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// maxOpenInputs bounds the input files read at once. Each open input holds
// its read buffers, its decompressor and its read-ahead batches (about
// 2.3 MiB), and a file descriptor.
const maxOpenInputs = 4

// inputs opens the files of a multi-file capture only when the merge
// reaches them: a ring buffer of hundreds of files is read one or two files
// at a time, in the memory of one. Every file is first opened once, to
// check it and take the time of its first packet, and closed; it is opened
// again when the merge's next packet is not earlier than that time, and
// closed when it ends. The merge order is the same as with every file open
// from the start: a file's first packet waits in the merge at its time
// either way. Only when more than maxOpenInputs files overlap in time is a
// file opened late (its packets then merge after those already read), with
// a warning.
//
// A pipe, a FIFO or a device (as the shell's <(zcat a.pcap.gz) gives)
// cannot be read twice: it is opened once, read up to its first packet,
// and held open, its first packet kept, until the merge reaches it (issue
// 21: it was opened again and found empty).
type inputs struct {
	paths []string
	opts  Options
	infos []InputInfo

	m       merger
	src     []*source
	cur     []*cursor
	nOpen   int
	pending []waiting // by first packet time, then index
}

type waiting struct {
	index  int
	first  time.Time
	warned bool
	held   *source // a stream, read up to its first packet
}

func newInputs(paths []string, opts Options, infos []InputInfo) *inputs {
	in := &inputs{paths: paths, opts: opts, infos: infos,
		src: make([]*source, len(paths)), cur: make([]*cursor, len(paths))}
	for i, p := range paths {
		infos[i].Path = p
		if p == "-" || len(paths) == 1 {
			// Standard input cannot be read twice; a single file
			// needs no probe.
			s, err := openSource(i, p, opts.Stdin, opts.Read, &infos[i])
			if err != nil {
				infos[i].Err = err
				continue
			}
			in.start(i, s)
			continue
		}
		if isStream(p) {
			held, first, err := probeStream(i, p, opts.Read, &infos[i])
			if err != nil {
				infos[i].Err = err
				continue
			}
			in.pending = append(in.pending, waiting{index: i, first: first, held: held})
			continue
		}
		first, err := probe(i, p)
		if err != nil {
			infos[i].Err = err
			continue
		}
		in.pending = append(in.pending, waiting{index: i, first: first})
	}
	slices.SortStableFunc(in.pending, func(a, b waiting) int {
		if c := a.first.Compare(b.first); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	in.openDue()
	return in
}

// probe opens a file to check it and read the time of its first packet
// (zero when it has none), and closes it. What it warns of is said again
// when the file is read.
func probe(i int, path string) (first time.Time, err error) {
	var scratch InputInfo
	s, err := openSource(i, path, nil, nil, &scratch)
	if err != nil {
		return time.Time{}, err
	}
	defer s.close()
	defer func() {
		// The reader library panicked on the first record: the file
		// counts as empty here, and says so when it is read.
		if p := recover(); p != nil {
			first, err = time.Time{}, nil
		}
	}()
	if s.next() {
		return s.ci.Timestamp, nil
	}
	return time.Time{}, nil
}

// isStream reports whether path names something that is not a regular
// file (a pipe, a FIFO, a device), which can be read only once.
func isStream(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// probeStream opens a stream for good and reads its first packet, which its
// first call to next returns again. Its warnings and counts are those of
// the one reading.
func probeStream(i int, path string, read *atomic.Int64, info *InputInfo) (s *source, first time.Time, err error) {
	s, err = openSource(i, path, nil, read, info)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer func() {
		// The reader library panicked on the first record.
		if p := recover(); p != nil {
			s.readFailed(p)
			first = time.Time{}
		}
	}()
	if s.next() {
		s.replay = true
		return s, s.ci.Timestamp, nil
	}
	return s, time.Time{}, nil
}

// openHook, when set (tests), is told how many inputs are open each time
// one is opened.
var openHook func(nOpen int)

// start begins reading an opened source.
func (in *inputs) start(i int, s *source) {
	c := prefetch(s, batchesAhead)
	in.src[i], in.cur[i] = s, c
	in.nOpen++
	if openHook != nil {
		openHook(in.nOpen)
	}
	if c.next() {
		in.m.push(c)
	} else {
		in.finish(i)
	}
}

// finish closes an input whose packets have all been merged.
func (in *inputs) finish(i int) {
	if in.cur[i] == nil {
		return
	}
	in.cur[i].wait()
	in.src[i].close()
	in.src[i], in.cur[i] = nil, nil
	in.nOpen--
}

// openDue opens the waiting files whose first packet comes no later than
// the merge's next packet (all of them when the merge is empty).
func (in *inputs) openDue() {
	for len(in.pending) > 0 {
		w := &in.pending[0]
		if in.m.len() > 0 {
			top := in.m.top()
			if c := w.first.Compare(top.ts()); c > 0 || c == 0 && w.index > top.index {
				return
			}
			if in.nOpen >= maxOpenInputs {
				if !w.warned {
					w.warned = true
					in.infos[w.index].Warnings = append(in.infos[w.index].Warnings,
						fmt.Sprintf("read late: more than %d input files overlap in time, so its packets are merged after those read before it was opened", maxOpenInputs))
				}
				return
			}
		}
		in.pending = in.pending[1:]
		s := w.held
		if s == nil {
			var err error
			s, err = openSource(w.index, in.paths[w.index], nil, in.opts.Read, &in.infos[w.index])
			if err != nil {
				in.infos[w.index].Err = err
				continue
			}
		}
		in.start(w.index, s)
	}
}

// closeAll ends what is still open (a handler panicked, or Run returned).
func (in *inputs) closeAll() {
	for i := range in.cur {
		in.finish(i)
	}
	for _, w := range in.pending {
		if w.held != nil {
			w.held.close()
		}
	}
	in.pending = nil
}
