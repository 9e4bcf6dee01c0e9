package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"sort"
)

// dirKey is one direction of a TCP 4-tuple: the bytes Src sends to Dst.
type dirKey struct {
	Src, Dst netip.AddrPort
}

func (k dirKey) String() string { return k.Src.String() + " > " + k.Dst.String() }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hole is a stretch of a stream the reassembler said it does not have.
type hole struct {
	At int64 // offset in the stream's data where it sits
	N  int64 // its size in bytes; -1 when the reassembler did not know it
}

// stream is one direction of one connection as a reassembler delivered it:
// data bytes and the holes between them. Adjacent holes are one hole (their
// sizes summed), and holes before the first byte are not counted (neither
// side knows the start of a connection whose SYN is not in the capture).
type stream struct {
	Key       dirKey
	Bytes     int64  // data bytes delivered
	Holes     int    // holes after the first byte
	HoleBytes int64  // the sum of their known sizes
	Unknown   int    // holes of unknown size
	Sum       uint32 // CRC-32C of the data, with a marker where each hole is
	Ended     bool   // the reassembler said the stream ended
	// Kept only when the collector keeps bytes (tests):
	Data   []byte  // the data
	Frames []int64 // the frame each data byte came from
	HoleAt []hole  // where the holes are

	keep       bool
	registered bool
	pending    bool  // a hole waits for the next data byte
	pendingN   int64 // its size so far (-1: unknown)
}

// collector gathers the streams of one reassembler.
type collector struct {
	keep    bool // keep every byte and its frame (for tests)
	streams map[dirKey][]*stream
	conns   int // connections the reassembler opened
	// With fold, streams are not listed: each is added to the totals
	// when it ends and then forgotten, so that the collector holds no
	// memory per connection (for measuring the reassembler's).
	fold                                 bool
	nStreams                             int
	nBytes, nHoles, nHoleBytes, nUnknown int64
	digest                               uint64 // sum of the streams' digests: independent of their order
	// Log lists every call in order, when keep is set (tests).
	Log []event
}

// event is one call of a reassembler into the collector.
type event struct {
	Key  dirKey
	Hole bool  // a hole, else data
	N    int64 // bytes
}

func newCollector(keep bool) *collector {
	return &collector{keep: keep, streams: map[dirKey][]*stream{}}
}

// newFoldingCollector returns a collector that keeps only totals.
func newFoldingCollector() *collector {
	return &collector{fold: true, streams: map[dirKey][]*stream{}}
}

// digest is a hash of a stream's direction, bytes and holes.
func (s *stream) digest() uint64 {
	var b [64]byte
	k := append(append(b[:0], s.Key.Src.String()...), s.Key.Dst.String()...)
	k = binary.BigEndian.AppendUint64(k, uint64(s.Bytes))
	k = binary.BigEndian.AppendUint32(k, s.Sum)
	k = binary.BigEndian.AppendUint64(k, uint64(s.Holes)<<32|uint64(s.Unknown))
	k = binary.BigEndian.AppendUint64(k, uint64(s.HoleBytes))
	h := uint64(14695981039346656037) // FNV-1a
	for _, c := range k {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

func (c *collector) add(s *stream) {
	c.nStreams++
	c.nBytes += s.Bytes
	c.nHoles += int64(s.Holes)
	c.nHoleBytes += s.HoleBytes
	c.nUnknown += int64(s.Unknown)
	c.digest += s.digest()
}

// open returns a new, not yet listed, stream for one direction of a new
// connection. It is listed under its key when its first data byte comes.
func (c *collector) open(k dirKey) *stream { return &stream{Key: k, keep: c.keep} }

// data appends the bytes b, which all came from frame, to s.
func (c *collector) data(s *stream, b []byte, frame int64) {
	if len(b) == 0 {
		return
	}
	if !s.registered {
		s.registered = true
		s.pending = false
		if !c.fold {
			c.streams[s.Key] = append(c.streams[s.Key], s)
		}
	}
	if s.pending {
		s.flushHole()
	}
	s.Sum = crc32.Update(s.Sum, castagnoli, b)
	s.Bytes += int64(len(b))
	if c.keep {
		c.Log = append(c.Log, event{Key: s.Key, N: int64(len(b))})
		s.Data = append(s.Data, b...)
		for range b {
			s.Frames = append(s.Frames, frame)
		}
	}
}

// hole records n missing bytes of s (n < 0: unknown size).
func (c *collector) hole(s *stream, n int64) {
	if n == 0 || !s.registered {
		return
	}
	if c.keep {
		c.Log = append(c.Log, event{Key: s.Key, Hole: true, N: n})
	}
	switch {
	case !s.pending:
		s.pending, s.pendingN = true, n
	case n < 0 || s.pendingN < 0:
		s.pendingN = -1
	default:
		s.pendingN += n
	}
}

func (s *stream) flushHole() {
	var m [12]byte
	copy(m[:4], "HOLE")
	binary.BigEndian.PutUint64(m[4:], uint64(s.pendingN))
	s.Sum = crc32.Update(s.Sum, castagnoli, m[:])
	s.Holes++
	if s.pendingN < 0 {
		s.Unknown++
	} else {
		s.HoleBytes += s.pendingN
	}
	if s.keep {
		s.HoleAt = append(s.HoleAt, hole{At: s.Bytes, N: s.pendingN})
	}
	s.pending = false
}

// end marks s ended; a hole at its end counts.
func (c *collector) end(s *stream) {
	if s.Ended {
		return
	}
	if s.pending {
		s.flushHole()
	}
	s.Ended = true
	if c.fold && s.registered {
		c.add(s)
	}
}

// finish closes the holes left pending by streams that never ended.
func (c *collector) finish() {
	for _, l := range c.streams {
		for _, s := range l {
			if s.pending {
				s.flushHole()
			}
		}
	}
}

// keys returns the directions that carried data, sorted.
func (c *collector) keys() []dirKey {
	ks := make([]dirKey, 0, len(c.streams))
	for k := range c.streams {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if d := ks[i].Src.Compare(ks[j].Src); d != 0 {
			return d < 0
		}
		return ks[i].Dst.Compare(ks[j].Dst) < 0
	})
	return ks
}

// write prints the totals and, when verbose, one line per stream, in an
// order that does not depend on the reassembler.
func (c *collector) write(w io.Writer, verbose bool) {
	if !c.fold {
		for _, l := range c.streams {
			for _, s := range l {
				c.add(s)
			}
		}
	}
	fmt.Fprintf(w, "connections %d, streams %d, bytes %d, holes %d (%d bytes, %d unknown), digest %016x\n",
		c.conns, c.nStreams, c.nBytes, c.nHoles, c.nHoleBytes, c.nUnknown, c.digest)
	if !verbose {
		return
	}
	for _, k := range c.keys() {
		for i, s := range c.streams[k] {
			fmt.Fprintf(w, "%s #%d bytes %d holes %d (%d bytes, %d unknown) crc %08x\n", k, i, s.Bytes, s.Holes, s.HoleBytes, s.Unknown, s.Sum)
		}
	}
}

// same reports whether two streams hold the same bytes and holes.
func same(a, b *stream) bool {
	return a.Bytes == b.Bytes && a.Sum == b.Sum && a.Holes == b.Holes && a.HoleBytes == b.HoleBytes && a.Unknown == b.Unknown
}

// difference is one direction where the two reassemblers disagree.
type difference struct {
	Key          dirKey
	Ours, Theirs []*stream // every stream of the direction, on each side
}

func (d difference) String() string {
	s := d.Key.String() + ":"
	side := func(name string, l []*stream) {
		s += " " + name + " ["
		for i, x := range l {
			if i > 0 {
				s += ", "
			}
			s += fmt.Sprintf("%d bytes %d holes (%d bytes, %d unknown)", x.Bytes, x.Holes, x.HoleBytes, x.Unknown)
			if x.Data != nil {
				s += fmt.Sprintf(" %q", abbrev(x.Data))
			}
		}
		s += "]"
	}
	side("ours", d.Ours)
	side("gopacket", d.Theirs)
	return s
}

func abbrev(b []byte) []byte {
	if len(b) <= 48 {
		return b
	}
	return append(append(append([]byte(nil), b[:20]...), "..."...), b[len(b)-20:]...)
}

// compare lists the directions whose streams differ between ours and
// theirs (a different number of streams, or streams that differ).
func compare(ours, theirs *collector) []difference {
	keys := map[dirKey]bool{}
	for k := range ours.streams {
		keys[k] = true
	}
	for k := range theirs.streams {
		keys[k] = true
	}
	var out []difference
	for k := range keys {
		a, b := ours.streams[k], theirs.streams[k]
		eq := len(a) == len(b)
		for i := 0; eq && i < len(a); i++ {
			eq = same(a[i], b[i])
		}
		if !eq {
			out = append(out, difference{Key: k, Ours: a, Theirs: b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}
