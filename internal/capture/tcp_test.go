package capture

import (
	"testing"
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
	r, _ := runSegs(t, segs, Options{MaxBuffered: 15})
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
