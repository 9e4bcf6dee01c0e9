package capture

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestSegListSameAsSortedSlice checks segList against the sorted slice it
// replaced (linear search from the end, insert, pop at the front), with
// random sequence numbers within 2^31 of a base that moves and wraps.
func TestSegListSameAsSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 8))
	for round := range 100 {
		var l segList
		var ref []segment
		base := rng.Uint32()
		span := uint32(1) << (4 + rng.IntN(27))
		for op := range 2000 {
			if len(ref) > 0 && rng.IntN(4) == 0 {
				if g := l.front(); g.seq != ref[0].seq || g.order != ref[0].order {
					t.Fatalf("round %d op %d: front %d/%d, want %d/%d", round, op, g.seq, g.order, ref[0].seq, ref[0].order)
				}
				l.popFront()
				base = ref[0].seq
				ref = ref[1:]
				continue
			}
			seq := base + 1 + rng.Uint32N(span)
			switch rng.IntN(3) {
			case 0: // ascending runs
				if len(ref) > 0 {
					seq = ref[len(ref)-1].seq + 1 + rng.Uint32N(3)
				}
			case 1: // descending runs
				if len(ref) > 0 && ref[0].seq-base > 2 {
					seq = ref[0].seq - 1 - rng.Uint32N(min(2, ref[0].seq-base-2))
				}
			}
			if seqDiff(seq, base) <= 0 {
				continue
			}
			g := segment{seq: seq, order: int64(op)}
			i := len(ref)
			for i > 0 && seqLT(seq, ref[i-1].seq) {
				i--
			}
			bi, j, prev := l.find(seq)
			if (i > 0) != (prev != nil) || prev != nil && prev.seq != ref[i-1].seq {
				t.Fatalf("round %d op %d: prev differs", round, op)
			}
			if i > 0 && ref[i-1].seq == seq {
				continue // a duplicate start, handled by buffer
			}
			ref = slices.Insert(ref, i, g)
			l.insertAt(bi, j, g)
			if l.len() != len(ref) {
				t.Fatalf("round %d op %d: len %d, want %d", round, op, l.len(), len(ref))
			}
		}
		k := 0
		for _, b := range l.blocks {
			if len(b) == 0 || len(b) > segBlock {
				t.Fatalf("round %d: block of %d", round, len(b))
			}
			for _, g := range b {
				if g.seq != ref[k].seq || g.order != ref[k].order {
					t.Fatalf("round %d: segment %d is %d, want %d", round, k, g.seq, ref[k].seq)
				}
				k++
			}
		}
		if k != len(ref) {
			t.Fatalf("round %d: %d segments, want %d", round, k, len(ref))
		}
	}
}

// oneByteSegs returns a SYN and n one-byte segments of one direction (no
// ACK flag, so only the buffer limits declare holes lost), in order or in
// reverse order.
func oneByteSegs(n int, reverse bool) []tcpPacket {
	c, s := netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv)
	pkts := make([]tcpPacket, 0, n+1)
	pkts = append(pkts, tcpPacket{src: c, dst: s, seq: 1000, flags: flagSYN})
	for i := range n {
		k := i
		if reverse {
			k = n - 1 - i
		}
		pkts = append(pkts, tcpPacket{src: c, dst: s, seq: 1001 + uint32(k), flags: flagPSH, payload: []byte{byte('a' + k%26)}})
	}
	return pkts
}

// streamCollector keeps the client's bytes and counts gaps.
type streamCollector struct {
	b    bytes.Buffer
	gaps int
}

func (h *streamCollector) Data(d Dir, _ Pos, b []byte) bool { h.b.Write(b); return true }
func (h *streamCollector) Gap(Dir, Pos, int)                { h.gaps++ }
func (h *streamCollector) End(Pos, EndKind)                 {}

func feedPackets(opts Options, pkts []tcpPacket) *streamCollector {
	h := &streamCollector{}
	opts.Factory = func(ConnInfo) StreamHandler { return h }
	var st Stats
	a := newAssembler(opts, &st)
	t := time.Unix(1, 0)
	for i := range pkts {
		a.packet(&pkts[i], Pos{Frame: int64(i + 1), Time: t})
	}
	a.closeAll()
	return h
}

// TestReverseSegmentsSameBytes checks that one-byte segments in reverse
// order give the bytes of the same segments in order, and that buffering
// them costs about what the forward order costs (before sorted blocks, inserting each
// segment at the front of the out-of-order list was linear in its length).
func TestReverseSegmentsSameBytes(t *testing.T) {
	const n = 50000
	big := Options{MaxBuffered: 64 << 20, MaxBufferedTotal: 64 << 20}
	start := time.Now()
	fwd := feedPackets(big, oneByteSegs(n, false))
	tf := time.Since(start)
	start = time.Now()
	rev := feedPackets(big, oneByteSegs(n, true))
	tr := time.Since(start)
	if fwd.b.Len() != n || !bytes.Equal(fwd.b.Bytes(), rev.b.Bytes()) || fwd.gaps != 0 || rev.gaps != 0 {
		t.Fatalf("forward %d bytes %d gaps, reverse %d bytes %d gaps; equal %v", fwd.b.Len(), fwd.gaps, rev.b.Len(), rev.gaps, bytes.Equal(fwd.b.Bytes(), rev.b.Bytes()))
	}
	// Quadratic insertion took over 10 s here; bounded insertion takes
	// a few tens of milliseconds. The bound is generous for slow, shared
	// and race-instrumented runs.
	if tr > 3*time.Second {
		t.Errorf("reverse order took %v (forward %v)", tr, tf)
	}

	// With the default limits the reverse order declares holes lost, and
	// does so the same way whatever the structure holding the segments.
	rev = feedPackets(Options{}, oneByteSegs(n, true))
	if rev.gaps == 0 || rev.b.Len() == 0 {
		t.Errorf("default limits: %d bytes, %d gaps", rev.b.Len(), rev.gaps)
	}
}

// BenchmarkReverseSegments feeds 300,000 one-byte segments of one
// connection in order and in reverse order with the default limits, and
// 30,000 with limits that buffer them all.
func BenchmarkReverseSegments(b *testing.B) {
	big := Options{MaxBuffered: 64 << 20, MaxBufferedTotal: 64 << 20}
	for _, c := range []struct {
		name    string
		n       int
		reverse bool
		opts    Options
	}{
		{"forward", 300000, false, Options{}},
		{"reverse", 300000, true, Options{}},
		{"forward-all-buffered", 30000, false, big},
		{"reverse-all-buffered", 30000, true, big},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkts := oneByteSegs(c.n, c.reverse)
			b.ReportAllocs()
			for b.Loop() {
				feedPackets(c.opts, pkts)
			}
		})
	}
}
