package capture

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

const (
	cli = "10.0.0.1:50000"
	srv = "10.0.0.2:135"
)

// handshake returns SYN, SYN-ACK, ACK with ISNs ci and si.
func handshake(ci, si uint32) []seg {
	return []seg{
		{cli, srv, ci, 0, "S", ""},
		{srv, cli, si, ci + 1, "SA", ""},
		{cli, srv, ci + 1, si + 1, "A", ""},
	}
}

func TestReassemblyInOrder(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 101, 501, "PA", "hello"},
		seg{srv, cli, 501, 106, "PA", "world!"},
		seg{cli, srv, 106, 507, "FA", ""},
		seg{srv, cli, 507, 107, "FA", ""},
		seg{cli, srv, 107, 508, "A", ""}, // final ACK: swallowed
	)
	r, st := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "hello"`,
		`data 1 s2c f0:5 "world!"`,
		"end 1 fin f0:7",
	})
	if st.Conns != 1 || st.TCPPackets != 8 || st.Packets != 8 {
		t.Errorf("stats %+v", st)
	}
}

func TestReassemblyRetransmissionOverlapKeepalive(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 101, 501, "PA", "abcd"},
		seg{cli, srv, 101, 501, "PA", "abcd"},   // retransmission
		seg{cli, srv, 103, 501, "PA", "cdefgh"}, // overlap: "efgh" new
		seg{cli, srv, 108, 501, "A", "h"},       // keep-alive probe at next-1
		seg{cli, srv, 109, 501, "PA", "jk"},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "abcd"`,
		`data 1 c2s f0:6 "efgh"`,
		`data 1 c2s f0:8 "jk"`,
		"end 1 end_of_capture f0:8",
	})
}

func TestReassemblyReorder(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 105, 501, "PA", "efgh"}, // early
		seg{cli, srv, 109, 501, "PA", "ij"},   // early
		seg{cli, srv, 101, 501, "PA", "abcd"}, // fills the hole
		seg{cli, srv, 103, 501, "PA", "cdef"}, // old
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:6 "abcd"`,
		`data 1 c2s f0:4 "efgh"`,
		`data 1 c2s f0:5 "ij"`,
		"end 1 end_of_capture f0:7",
	})
}

func TestReassemblyGapByAck(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 101, 501, "PA", "abcd"},
		// 105..108 never captured
		seg{cli, srv, 109, 501, "PA", "ijkl"},
		seg{srv, cli, 501, 113, "A", ""}, // server got it all
		seg{cli, srv, 113, 501, "PA", "mn"},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "abcd"`,
		"gap 1 c2s f0:6 4",
		`data 1 c2s f0:5 "ijkl"`,
		`data 1 c2s f0:7 "mn"`,
		"end 1 end_of_capture f0:7",
	})
}

func TestReassemblyGapAlreadyAcked(t *testing.T) {
	// The ACK beyond the hole is seen before the data after the hole.
	segs := append(handshake(100, 500),
		seg{srv, cli, 501, 109, "A", ""},
		seg{cli, srv, 105, 501, "PA", "efgh"},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		"gap 1 c2s f0:5 4",
		`data 1 c2s f0:5 "efgh"`,
		"end 1 end_of_capture f0:5",
	})
}

func TestReassemblyGapByBufferLimit(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 111, 501, "PA", "0123456789"},
		seg{cli, srv, 121, 501, "PA", "abcdefghij"}, // 20 bytes buffered > 15
		seg{cli, srv, 131, 501, "PA", "K"},
	)
	r, _ := runSegs(t, segs, Options{MaxBuffered: 15 + 2*segOverhead}) // each segment also costs segOverhead
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		"gap 1 c2s f0:5 10",
		`data 1 c2s f0:4 "0123456789"`,
		`data 1 c2s f0:5 "abcdefghij"`,
		`data 1 c2s f0:6 "K"`,
		"end 1 end_of_capture f0:6",
	})
}

func TestReassemblyGapAtEndAndFlushOrder(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{srv, cli, 511, 101, "PA", "later-s"}, // s2c hole of 10
		seg{cli, srv, 105, 501, "PA", "later-c"}, // c2s hole of 4
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		"gap 1 s2c f0:5 10",
		`data 1 s2c f0:4 "later-s"`,
		"gap 1 c2s f0:5 4",
		`data 1 c2s f0:5 "later-c"`,
		"end 1 end_of_capture f0:5",
	})
}

func TestReassemblySeqWrap(t *testing.T) {
	isn := uint32(0xfffffffa)
	segs := append(handshake(isn, 0xfffffff0),
		seg{cli, srv, 0xfffffffb, 0xfffffff1, "PA", "abcd"},    // ..0xfffffffe
		seg{cli, srv, 0x00000003, 0xfffffff1, "PA", "ijkl"},    // early, after wrap
		seg{cli, srv, 0xffffffff, 0xfffffff1, "PA", "efgh"},    // spans the wrap
		seg{cli, srv, 0xfffffffd, 0xfffffff1, "PA", "cdefghi"}, // old + overlap
		seg{srv, cli, 0xfffffff1, 0x00000007, "PA", "0123456789abcdef"},
		seg{srv, cli, 0x00000001, 0x00000007, "PA", "XY"},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "abcd"`,
		`data 1 c2s f0:6 "efgh"`,
		`data 1 c2s f0:5 "ijkl"`,
		`data 1 s2c f0:8 "0123456789abcdef"`,
		`data 1 s2c f0:9 "XY"`,
		"end 1 end_of_capture f0:9",
	})
}

func TestReassemblyMidConnection(t *testing.T) {
	// No handshake: the higher port is the client.
	segs := []seg{
		{srv, cli, 9000, 7000, "PA", "response"},
		{cli, srv, 7000, 9008, "PA", "request"},
		{srv, cli, 9008, 7007, "RA", ""},
	}
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=false f0:1",
		`data 1 s2c f0:1 "response"`,
		`data 1 c2s f0:2 "request"`,
		"end 1 rst f0:3",
	})
}

func TestReassemblySamePortFirstSenderIsClient(t *testing.T) {
	a, b := "10.0.0.9:445", "10.0.0.1:445"
	r, _ := runSegs(t, []seg{{a, b, 1, 1, "PA", "x"}}, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.9:445>10.0.0.1:445 syn=false f0:1",
		`data 1 c2s f0:1 "x"`,
		"end 1 end_of_capture f0:1",
	})
}

func TestReassemblySynAckOnly(t *testing.T) {
	segs := []seg{
		{srv, cli, 500, 101, "SA", ""},
		{cli, srv, 101, 501, "PA", "hi"},
	}
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:2 "hi"`,
		"end 1 end_of_capture f0:2",
	})
}

func TestReassemblyRSTAndReuse(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 101, 501, "PA", "one"},
		seg{srv, cli, 501, 104, "RA", ""},
		seg{cli, srv, 101, 501, "PA", "one"}, // stray retransmission: swallowed
		seg{srv, cli, 501, 104, "R", ""},     // stray reset: swallowed
	)
	segs = append(segs, handshake(9000, 7000)...) // same 4-tuple, new connection
	segs = append(segs,
		seg{cli, srv, 9001, 7001, "PA", "two"},
		seg{cli, srv, 9004, 7001, "FA", ""},
	)
	r, st := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "one"`,
		"end 1 rst f0:5",
		"open 2 10.0.0.1:50000>10.0.0.2:135 syn=true f0:8",
		`data 2 c2s f0:11 "two"`,
		"end 2 fin f0:12",
	})
	if st.Conns != 2 {
		t.Errorf("conns %d", st.Conns)
	}
}

func TestReassemblyFINWithHoleFlushes(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 105, 501, "PA", "efgh"},
		seg{cli, srv, 109, 501, "FA", ""},
		seg{srv, cli, 501, 110, "FA", ""},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		"gap 1 c2s f0:6 4",
		`data 1 c2s f0:4 "efgh"`,
		"end 1 fin f0:6",
	})
}

func TestReassemblyNoPayloadConnections(t *testing.T) {
	segs := []seg{
		{cli, srv, 100, 0, "S", ""},
		{srv, cli, 0, 101, "RA", ""},
		{"10.0.0.5:1", "10.0.0.6:2", 1, 1, "A", ""}, // pure ACK: no connection
		{"10.0.0.5:1", "10.0.0.6:2", 1, 1, "R", ""}, // lone RST: no connection
	}
	r, st := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		"end 1 rst f0:2",
	})
	if st.Conns != 1 {
		t.Errorf("conns %d", st.Conns)
	}
}

func TestReassemblyDecline(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 101, 501, "PA", "GET /"},
		seg{cli, srv, 106, 501, "PA", "more"},
		seg{cli, srv, 110, 501, "FA", ""},
		seg{srv, cli, 501, 111, "FA", ""},
	)
	p := writeFile(t, "t.pcap", pcapLE(t, linkEthernet, false, segRecs(t, segs)))
	r := &recorder{decline: map[uint64]bool{1: true}}
	Run([]string{p}, Options{Factory: r.factory})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "GET /"`,
	})

	r = &recorder{nilFor: map[uint64]bool{1: true}}
	_, st := Run([]string{p}, Options{Factory: r.factory})
	checkEvents(t, r.events, []string{"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1"})
	if st.Conns != 1 {
		t.Errorf("conns %d", st.Conns)
	}
}

func TestReassemblyEviction(t *testing.T) {
	segs := []seg{
		{"10.0.0.1:40001", srv, 1, 1, "PA", "a"},
		{"10.0.0.1:40002", srv, 1, 1, "PA", "b"},
		{"10.0.0.1:40001", srv, 2, 1, "PA", "c"}, // 40002 is now the idlest
		{"10.0.0.1:40003", srv, 1, 1, "PA", "d"}, // evicts 40002
	}
	r, st := runSegs(t, segs, Options{MaxConns: 2})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:40001>10.0.0.2:135 syn=false f0:1",
		`data 1 c2s f0:1 "a"`,
		"open 2 10.0.0.1:40002>10.0.0.2:135 syn=false f0:2",
		`data 2 c2s f0:2 "b"`,
		`data 1 c2s f0:3 "c"`,
		"end 2 evicted f0:2",
		"open 3 10.0.0.1:40003>10.0.0.2:135 syn=false f0:4",
		`data 3 c2s f0:4 "d"`,
		"end 1 end_of_capture f0:3",
		"end 3 end_of_capture f0:4",
	})
	if st.Evicted != 1 || st.Conns != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestReassemblyInterleavedCaptureOrder(t *testing.T) {
	a, b := "10.0.0.1:40001", "10.0.0.1:40002"
	segs := []seg{
		{a, srv, 1, 1, "PA", "a1"},
		{b, srv, 1, 1, "PA", "b1"},
		{srv, a, 1, 3, "PA", "A1"},
		{b, srv, 3, 1, "PA", "b2"},
	}
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:40001>10.0.0.2:135 syn=false f0:1",
		`data 1 c2s f0:1 "a1"`,
		"open 2 10.0.0.1:40002>10.0.0.2:135 syn=false f0:2",
		`data 2 c2s f0:2 "b1"`,
		`data 1 s2c f0:3 "A1"`,
		`data 2 c2s f0:4 "b2"`,
		"end 1 end_of_capture f0:3",
		"end 2 end_of_capture f0:4",
	})
}

func TestReassemblyIPv6(t *testing.T) {
	c6, s6 := "[2001:db8::1]:50000", "[2001:db8::2]:135"
	segs := []seg{
		{c6, s6, 10, 0, "S", ""},
		{c6, s6, 11, 0, "PA", "v6"},
	}
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 [2001:db8::1]:50000>[2001:db8::2]:135 syn=true f0:1",
		`data 1 c2s f0:2 "v6"`,
		"end 1 end_of_capture f0:2",
	})
}

func TestSeqArithmetic(t *testing.T) {
	cases := []struct {
		a, b uint32
		lt   bool
		diff int
	}{
		{1, 2, true, -1},
		{0xffffffff, 0, true, -1},
		{0, 0xffffffff, false, 1},
		{0xfffffff0, 0x10, true, -0x20},
		{5, 5, false, 0},
	}
	for _, c := range cases {
		if seqLT(c.a, c.b) != c.lt || seqDiff(c.a, c.b) != c.diff {
			t.Errorf("%#x vs %#x: lt %v diff %d", c.a, c.b, seqLT(c.a, c.b), seqDiff(c.a, c.b))
		}
	}
}

// streamChecker verifies that Data and Gap calls of one direction describe
// a prefix of a known stream.
type streamChecker struct {
	t      *testing.T
	stream [2][]byte
	off    [2]int
	gaps   [2]int
	ended  int
}

func (c *streamChecker) Data(d Dir, _ Pos, b []byte) bool {
	s := c.stream[d]
	if c.off[d]+len(b) > len(s) || string(s[c.off[d]:c.off[d]+len(b)]) != string(b) {
		c.t.Fatalf("dir %d: bytes at %d do not match the stream", d, c.off[d])
	}
	c.off[d] += len(b)
	return true
}

func (c *streamChecker) Gap(d Dir, _ Pos, n int) {
	if n <= 0 {
		c.t.Fatalf("dir %d: gap %d", d, n)
	}
	c.off[d] += n
	c.gaps[d] += n
}

func (c *streamChecker) End(Pos, EndKind) { c.ended++ }

// TestReassemblyRandomized cuts two streams into segments, retransmits,
// overlaps, reorders and drops some, and checks that what comes out is the
// stream with gaps exactly where bytes were lost.
func TestReassemblyRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 300 {
		n := 1 + rng.IntN(5000)
		chk := &streamChecker{t: t}
		var isn [2]uint32
		for d := range 2 {
			chk.stream[d] = make([]byte, n)
			for i := range n {
				chk.stream[d][i] = byte(rng.Uint32())
			}
			isn[d] = rng.Uint32()
			if iter%3 == 0 {
				isn[d] = uint32(0) - uint32(rng.IntN(3000)) // wrap inside the stream
			}
		}
		drop := iter%2 == 1
		type piece struct {
			d          int
			start, end int
			order      float64
		}
		var pieces []piece
		for d := range 2 {
			for off := 0; off < n; {
				l := 1 + rng.IntN(300)
				end := min(off+l, n)
				o := float64(len(pieces)) + rng.Float64()*4 // local reordering
				pieces = append(pieces, piece{d, off, end, o})
				if rng.IntN(5) == 0 { // retransmission or overlap
					s := max(0, off-rng.IntN(100))
					pieces = append(pieces, piece{d, s, end, o + rng.Float64()*10})
				}
				off = end
			}
		}
		slices.SortFunc(pieces, func(a, b piece) int { return cmp.Compare(a.order, b.order) })
		var st Stats
		maxBuf := 1 << 20
		if iter%4 == 3 {
			maxBuf = 2000 // holes forced open: only consistency is checked
		}
		a := newAssembler(Options{MaxBuffered: maxBuf, Factory: func(ConnInfo) StreamHandler { return chk }}, &st)
		eps := [2]netip.AddrPort{netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv)}
		for d := range 2 {
			p := tcpPacket{src: eps[d], dst: eps[1-d], seq: isn[d] - 1, flags: flagSYN}
			if d == 1 {
				p.flags |= flagACK
				p.ack = isn[0]
			}
			a.packet(&p, Pos{Frame: int64(d + 1)})
		}
		lost := [2]bool{}
		// The real receiver got every piece, captured or not; it
		// acknowledges the contiguous prefix it holds.
		var got [2][]bool
		var prefix [2]int
		got[0], got[1] = make([]bool, n), make([]bool, n)
		acks := iter%5 < 3
		for i, pc := range pieces {
			for j := pc.start; j < pc.end; j++ {
				got[pc.d][j] = true
			}
			for prefix[pc.d] < n && got[pc.d][prefix[pc.d]] {
				prefix[pc.d]++
			}
			if drop && rng.IntN(10) == 0 {
				lost[pc.d] = true
			} else {
				p := tcpPacket{src: eps[pc.d], dst: eps[1-pc.d], seq: isn[pc.d] + uint32(pc.start),
					flags: flagPSH, payload: chk.stream[pc.d][pc.start:pc.end]}
				a.packet(&p, Pos{Frame: int64(i + 3)})
			}
			if acks && rng.IntN(3) == 0 {
				p := tcpPacket{src: eps[1-pc.d], dst: eps[pc.d], seq: isn[1-pc.d], ack: isn[pc.d] + uint32(prefix[pc.d]), flags: flagACK}
				a.packet(&p, Pos{Frame: int64(i + 3)})
			}
		}
		a.closeAll()
		if chk.ended != 1 {
			t.Fatalf("iter %d: %d ends", iter, chk.ended)
		}
		for d := range 2 {
			if !lost[d] && maxBuf > 2000 && (chk.off[d] != n || chk.gaps[d] != 0) {
				t.Fatalf("iter %d dir %d: reached %d of %d with %d gap bytes", iter, d, chk.off[d], n, chk.gaps[d])
			}
			if chk.off[d] > n {
				t.Fatalf("iter %d dir %d: past the end", iter, d)
			}
		}
	}
}

func TestReassemblySynAckBeforeSyn(t *testing.T) {
	segs := []seg{
		{srv, cli, 500, 101, "SA", ""},
		{cli, srv, 100, 0, "S", ""}, // late copy of the SYN: not a new connection
		{cli, srv, 101, 501, "PA", "hi"},
		{srv, cli, 501, 103, "PA", "ho"},
	}
	r, st := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:3 "hi"`,
		`data 1 s2c f0:4 "ho"`,
		"end 1 end_of_capture f0:4",
	})
	if st.Conns != 1 {
		t.Errorf("conns %d", st.Conns)
	}
}

func TestReassemblyNewSynReplacesOpenConnection(t *testing.T) {
	segs := append(handshake(100, 500), seg{cli, srv, 101, 501, "PA", "a"})
	segs = append(segs, handshake(7000, 9000)...)
	segs = append(segs, seg{cli, srv, 7001, 9001, "PA", "b"})
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:4 "a"`,
		"end 1 evicted f0:5",
		"open 2 10.0.0.1:50000>10.0.0.2:135 syn=true f0:5",
		`data 2 c2s f0:8 "b"`,
		"end 2 end_of_capture f0:8",
	})
}

// feed drives an assembler directly: one packet per segment at the given
// times (seconds).
func feed(t *testing.T, opts Options, segs []seg, secs []int) *recorder {
	t.Helper()
	r := &recorder{decline: map[uint64]bool{}}
	opts.Factory = r.factory
	var st Stats
	a := newAssembler(opts, &st)
	for i, s := range segs {
		var p tcpPacket
		if decodePacket(linkRaw, ipPacket(t, s), 0, &p) != decTCP {
			t.Fatal("decode")
		}
		a.packet(&p, Pos{Frame: int64(i + 1), Time: t0.Add(time.Duration(secs[i]) * time.Second)})
	}
	a.closeAll()
	return r
}

func TestReassemblyTombstones(t *testing.T) {
	segs := []seg{
		{cli, srv, 101, 501, "PA", "abc"},
		{cli, srv, 104, 501, "FA", ""},
		{srv, cli, 501, 105, "FA", ""},
		{cli, srv, 101, 502, "PA", "abc"}, // retransmission within the TTL: swallowed
		{cli, srv, 105, 502, "PA", "new"}, // beyond the old end: a new connection
		{cli, srv, 108, 502, "FA", ""},
		{srv, cli, 502, 109, "FA", ""},
		{cli, srv, 105, 502, "PA", "new"}, // old data, but after the TTL
	}
	r := feed(t, Options{}, segs, []int{0, 1, 2, 3, 4, 5, 6, 500})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=false f0:1",
		`data 1 c2s f0:1 "abc"`,
		"end 1 fin f0:3",
		"open 2 10.0.0.1:50000>10.0.0.2:135 syn=false f0:5",
		`data 2 c2s f0:5 "new"`,
		"end 2 fin f0:7",
		"open 3 10.0.0.1:50000>10.0.0.2:135 syn=false f0:8",
		`data 3 c2s f0:8 "new"`,
		"end 3 end_of_capture f0:8",
	})
}

func TestReassemblyDeclinedFlowForgotten(t *testing.T) {
	segs := []seg{
		{cli, srv, 101, 501, "PA", "abc"},
		{cli, srv, 104, 501, "PA", "def"}, // ignored
		{cli, srv, 107, 501, "FA", ""},
		{srv, cli, 501, 108, "FA", ""}, // both FINs: forgotten
		{cli, srv, 108, 502, "PA", "ghi"},
	}
	r := &recorder{decline: map[uint64]bool{1: true}}
	var st Stats
	a := newAssembler(Options{Factory: r.factory}, &st)
	for i, s := range segs {
		var p tcpPacket
		decodePacket(linkRaw, ipPacket(t, s), 0, &p)
		a.packet(&p, Pos{Frame: int64(i + 1)})
	}
	a.closeAll()
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=false f0:1",
		`data 1 c2s f0:1 "abc"`,
		"open 2 10.0.0.1:50000>10.0.0.2:135 syn=false f0:5",
		`data 2 c2s f0:5 "ghi"`,
		"end 2 end_of_capture f0:5",
	})
}

func TestReassemblyBufferedDuplicates(t *testing.T) {
	segs := append(handshake(100, 500),
		seg{cli, srv, 105, 501, "PA", "ef"},
		seg{cli, srv, 105, 501, "PA", "efgh"}, // same start, longer: replaces
		seg{cli, srv, 105, 501, "PA", "e"},    // same start, shorter: dropped
		seg{cli, srv, 101, 501, "PA", "abcd"},
	)
	r, _ := runSegs(t, segs, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:7 "abcd"`,
		`data 1 c2s f0:4 "efgh"`,
		"end 1 end_of_capture f0:7",
	})
}
