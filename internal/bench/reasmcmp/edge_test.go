package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The endpoints of the crafted connections.
var (
	cli = netip.MustParseAddrPort("192.0.2.7:50000")
	srv = netip.MustParseAddrPort("198.51.100.10:4997")
	c2s = dirKey{cli, srv}
	s2c = dirKey{srv, cli}
)

// pkt is one crafted segment. fromServer picks the direction; flags holds
// S, A, F, R, P; cut is how many payload bytes the snap length removed.
type pkt struct {
	fromServer bool
	seq, ack   uint32
	flags      string
	payload    string
	cut        int
}

// writeCapture writes the segments as an Ethernet pcap with pcapgo's
// writer and returns its path.
func writeCapture(t *testing.T, pkts []pkt) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		src, dst := cli, srv
		if p.fromServer {
			src, dst = srv, cli
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: p.seq, Ack: p.ack, Window: 65535,
			SYN: strings.Contains(p.flags, "S"), ACK: strings.Contains(p.flags, "A"), FIN: strings.Contains(p.flags, "F"),
			RST: strings.Contains(p.flags, "R"), PSH: strings.Contains(p.flags, "P")}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(p.payload)); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		full := len(data)
		data = data[:full-p.cut]
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: full}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "edge.pcap")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// handshake opens a connection with client ISN ci and server ISN si.
func handshake(ci, si uint32) []pkt {
	return []pkt{
		{seq: ci, flags: "S"},
		{fromServer: true, seq: si, ack: ci + 1, flags: "SA"},
		{seq: ci + 1, ack: si + 1, flags: "A"},
	}
}

// render shows the streams of one direction as text: data as is, a hole
// as <n> (<?> when its size is unknown), streams separated by " | ".
func render(c *collector, k dirKey) string {
	var parts []string
	for _, s := range c.streams[k] {
		var b strings.Builder
		at := int64(0)
		for _, h := range s.HoleAt {
			b.Write(s.Data[at:h.At])
			if h.N < 0 {
				b.WriteString("<?>")
			} else {
				b.WriteString("<" + itoa(h.N) + ">")
			}
			at = h.At
		}
		b.Write(s.Data[at:])
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " | ")
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// want says what one reassembler should give, per direction.
type want struct {
	c2s, s2c string
}

func check(t *testing.T, who string, c *collector, w want) {
	t.Helper()
	if got := render(c, c2s); got != w.c2s {
		t.Errorf("%s, client to server: %q, want %q", who, got, w.c2s)
	}
	if got := render(c, s2c); got != w.s2c {
		t.Errorf("%s, server to client: %q, want %q", who, got, w.s2c)
	}
}

// edge runs both reassemblers (gopacket with and without Midstream) on the
// crafted segments and checks each against what it should give.
func edge(t *testing.T, pkts []pkt, ours, gpMid, gpStrict want) (o, gm, gs *collector) {
	t.Helper()
	path := writeCapture(t, pkts)
	o, gm = both(t, path, gpOptions{Midstream: true})
	gs = newCollector(true)
	if _, err := runGopacket(path, gs, gpOptions{}); err != nil {
		t.Fatal(err)
	}
	check(t, "ours", o, ours)
	check(t, "gopacket with Midstream", gm, gpMid)
	check(t, "gopacket", gs, gpStrict)
	return o, gm, gs
}

// holeBeforeReply reports whether the first hole of dir comes before the
// first bytes of the other direction in c's calls.
func holeBeforeReply(c *collector, dir dirKey) bool {
	h := firstIndex(c, func(e event) bool { return e.Key == dir && e.Hole })
	r := firstIndex(c, func(e event) bool { return e.Key == dirKey{dir.Dst, dir.Src} })
	return h >= 0 && r >= 0 && h < r
}

// TestEdgeGap: a client segment is missing; the server acknowledges past
// it, then answers. Both give the same stream with a 4-byte hole, but we
// declare the hole lost at the ACK, before the answer, while gopacket keeps
// the client's later bytes until the connection ends (or until a
// FlushCloseOlderThan the caller runs on a timer).
func TestEdgeGap(t *testing.T) {
	p := append(handshake(1000, 5000),
		pkt{seq: 1001, ack: 5001, flags: "PA", payload: "aaaa"},
		// 1005 "bbbb" is not in the capture
		pkt{seq: 1009, ack: 5001, flags: "PA", payload: "cccc"},
		pkt{fromServer: true, seq: 5001, ack: 1013, flags: "A"},
		pkt{fromServer: true, seq: 5001, ack: 1013, flags: "PA", payload: "RESP"},
		pkt{seq: 1013, ack: 5005, flags: "PA", payload: "dddd"},
	)
	w := want{c2s: "aaaa<4>ccccdddd", s2c: "RESP"}
	o, gm, gs := edge(t, p, w, w, w)
	if !holeBeforeReply(o, c2s) {
		t.Errorf("ours: the hole comes after the reply:\n%s", logString(o))
	}
	for _, g := range []*collector{gm, gs} {
		if holeBeforeReply(g, c2s) {
			t.Errorf("gopacket: the hole comes before the reply:\n%s", logString(g))
		}
	}
}

// TestEdgeOverlap: retransmissions that overlap bytes already delivered,
// and out-of-order segments that overlap each other with different bytes.
// For bytes already delivered both keep the first copy. For buffered
// segments we keep the first copy, except that a longer segment with the
// same start replaces a shorter one (as Linux's out-of-order queue does);
// gopacket lets the latest copy overwrite what it buffered.
func TestEdgeOverlap(t *testing.T) {
	p := append(handshake(1000, 5000),
		pkt{seq: 1001, ack: 5001, flags: "PA", payload: "AAAA"},
		pkt{seq: 1001, ack: 5001, flags: "PA", payload: "BBBBBB"}, // overlaps 4 delivered bytes, brings 2
		// hole at 1007-1011
		pkt{seq: 1011, ack: 5001, flags: "PA", payload: "XXXX"},
		pkt{seq: 1011, ack: 5001, flags: "PA", payload: "YYYY"}, // same start, same length
		pkt{seq: 1013, ack: 5001, flags: "PA", payload: "ZZZZ"}, // overlaps the last 2
		pkt{seq: 1007, ack: 5001, flags: "PA", payload: "mmmm"}, // fills the hole
		pkt{seq: 1017, ack: 5001, flags: "PA", payload: "nn"},
		pkt{seq: 1017, ack: 5001, flags: "PA", payload: "NNNN"}, // delivered 2, brings 2
		// hole at 1021-1025
		pkt{seq: 1025, ack: 5001, flags: "PA", payload: "pp"},
		pkt{seq: 1025, ack: 5001, flags: "PA", payload: "PPPP"}, // same start, longer
		pkt{seq: 1021, ack: 5001, flags: "PA", payload: "qqqq"},
	)
	edge(t, p,
		want{c2s: "AAAABBmmmmXXXXZZnnNNqqqqPPPP"},
		want{c2s: "AAAABBmmmmYYZZZZnnNNqqqqPPPP"},
		want{c2s: "AAAABBmmmmYYZZZZnnNNqqqqPPPP"})
}

// TestEdgeSeqWrap: the client's sequence numbers wrap through 2^32 inside
// a segment, with a reordered segment across the wrap and a hole after
// it that the server acknowledges. Both get it right.
func TestEdgeSeqWrap(t *testing.T) {
	const isn = 0xfffffff0
	p := append(handshake(isn, 0x7ffffffe),
		pkt{seq: isn + 1, ack: 0x7fffffff, flags: "PA", payload: "AAAAAAAA"}, // 0xfffffff1-0xfffffff9
		pkt{seq: 1, ack: 0x7fffffff, flags: "PA", payload: "CCCCCCCC"},       // 1-9, before B
		pkt{seq: isn + 9, ack: 0x7fffffff, flags: "PA", payload: "BBBBBBBB"}, // 0xfffffff9-1: wraps
		pkt{fromServer: true, seq: 0x7fffffff, ack: 9, flags: "PA", payload: "ok"},
		pkt{seq: 9, ack: 0x80000001, flags: "PA", payload: "DDDD"},
		// 13-17 missing
		pkt{seq: 17, ack: 0x80000001, flags: "PA", payload: "FFFF"},
		pkt{fromServer: true, seq: 0x80000001, ack: 21, flags: "A"},
		pkt{seq: 21, ack: 0x80000001, flags: "FA"},
		pkt{fromServer: true, seq: 0x80000001, ack: 22, flags: "FA"},
	)
	w := want{c2s: "AAAAAAAABBBBBBBBCCCCCCCCDDDD<4>FFFF", s2c: "ok"}
	edge(t, p, w, w, w)
}

// TestEdgeMidstream: connections whose SYN is not in the capture.
//
// In order, both give the bytes; gopacket without Midstream delivers them
// only at FlushAll, having buffered them all, and then not in capture
// order (the answer before the request).
//
// When the first segment seen is not the first sent (here the second
// arrives first), we and gopacket with Midstream start the stream there
// and drop the earlier segment as a retransmission; gopacket without
// Midstream sorts everything it buffered at FlushAll and keeps both. That
// is the one case here where gopacket's default gives more bytes, at the
// price of holding every byte of such a connection until the end.
func TestEdgeMidstream(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		p := []pkt{
			{seq: 7000, ack: 9000, flags: "PA", payload: "hello"},
			{fromServer: true, seq: 9000, ack: 7005, flags: "PA", payload: "world"},
			{seq: 7005, ack: 9005, flags: "PA", payload: "again"},
		}
		w := want{c2s: "helloagain", s2c: "world"}
		o, gm, gs := edge(t, p, w, w, w)
		// In capture order: hello, world, again. gopacket without
		// Midstream delivers at FlushAll, the server's half first.
		for _, c := range []*collector{o, gm} {
			if len(c.Log) != 3 || c.Log[0].Key != c2s || c.Log[1].Key != s2c {
				t.Errorf("want the bytes in capture order:\n%s", logString(c))
			}
		}
		if len(gs.Log) == 0 || gs.Log[0].Key != s2c {
			t.Errorf("gopacket without Midstream: want the answer first (FlushAll):\n%s", logString(gs))
		}
	})
	t.Run("reordered start", func(t *testing.T) {
		p := []pkt{
			{seq: 7010, ack: 9000, flags: "PA", payload: "second"},
			{seq: 7000, ack: 9000, flags: "PA", payload: "first....."},
			{seq: 7016, ack: 9000, flags: "PA", payload: "third"},
		}
		edge(t, p,
			want{c2s: "secondthird"},
			want{c2s: "secondthird"},
			want{c2s: "first.....secondthird"})
	})
}

// TestEdgeRST: a reset ends the connection.
//
// The reset's own in-order payload is delivered by both. Bytes the server
// sends after the client's reset (already in flight) differ: we end the
// whole connection at the reset, and bytes beyond its end on the same
// 4-tuple start a new connection (a second stream, which the DCE/RPC layer
// sees start mid-PDU and drops); gopacket closes only the half that sent
// the reset and appends the server's late bytes to the old stream. The
// client discards them either way (it has forgotten the connection).
func TestEdgeRST(t *testing.T) {
	t.Run("payload", func(t *testing.T) {
		p := append(handshake(1000, 5000),
			pkt{seq: 1001, ack: 5001, flags: "PA", payload: "req"},
			pkt{fromServer: true, seq: 5001, ack: 1004, flags: "RA", payload: "bye"},
			pkt{seq: 1004, ack: 5001, flags: "PA", payload: "after"}, // after the reset
		)
		// The client's bytes after the reset start a new connection in
		// ours; gopacket closed the server's half only and takes them.
		edge(t, p,
			want{c2s: "req | after", s2c: "bye"},
			want{c2s: "reqafter", s2c: "bye"},
			want{c2s: "reqafter", s2c: "bye"})
	})
	t.Run("late bytes", func(t *testing.T) {
		p := append(handshake(1000, 5000),
			pkt{seq: 1001, ack: 5001, flags: "PA", payload: "hello"},
			pkt{fromServer: true, seq: 5001, ack: 1006, flags: "PA", payload: "world"},
			pkt{seq: 1006, ack: 5006, flags: "RA"},
			pkt{fromServer: true, seq: 5006, ack: 1006, flags: "PA", payload: "late"},
		)
		edge(t, p,
			want{c2s: "hello", s2c: "world | late"},
			want{c2s: "hello", s2c: "worldlate"},
			want{c2s: "hello", s2c: "worldlate"})
	})
}

// TestEdgeSnapLength: the capture's snap length cut the payload of two
// segments, one in the middle of the stream and the last one. We know the
// cut bytes from the IP length and report them as holes at once; gopacket
// sees shorter segments, finds the middle hole only when it gives up
// waiting for it (FlushAll), and never learns of the last one.
func TestEdgeSnapLength(t *testing.T) {
	p := append(handshake(1000, 5000),
		pkt{seq: 1001, ack: 5001, flags: "PA", payload: "aaaa"},
		pkt{seq: 1005, ack: 5001, flags: "PA", payload: "bbbbBBBB", cut: 4},
		pkt{seq: 1013, ack: 5001, flags: "PA", payload: "cccc"},
		pkt{fromServer: true, seq: 5001, ack: 1017, flags: "PA", payload: "RESP"},
		pkt{seq: 1017, ack: 5005, flags: "PA", payload: "ddddDDDD", cut: 4},
	)
	w := want{c2s: "aaaabbbb<4>ccccdddd", s2c: "RESP"}
	o, _, gs := edge(t, p,
		want{c2s: "aaaabbbb<4>ccccdddd<4>", s2c: "RESP"}, w, w)
	if !holeBeforeReply(o, c2s) || holeBeforeReply(gs, c2s) {
		t.Errorf("want our hole before the reply and gopacket's after it:\nours:\n%sgopacket:\n%s", logString(o), logString(gs))
	}
}
