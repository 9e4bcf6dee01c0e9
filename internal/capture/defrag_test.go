package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

// piece is one fragment to write: payload bytes [lo, hi) of the IP
// datagram, with MF as given, optionally with other bytes (overlap tests),
// at a time offset.
type piece struct {
	lo, hi int
	more   bool
	fill   byte // non-zero: the fragment's bytes are this value
	at     time.Duration
	cutTo  int // non-zero: capture only this many bytes of the frame
}

// v4Frags writes fragments of the IPv4 packet ip (IHL 5) as Ethernet frames.
func v4Frags(ip []byte, id uint16, ps []piece) []rec {
	payload := ip[20:]
	var rs []rec
	for _, p := range ps {
		h := append([]byte(nil), ip[:20]...)
		binary.BigEndian.PutUint16(h[2:], uint16(20+p.hi-p.lo))
		binary.BigEndian.PutUint16(h[4:], id)
		ff := uint16(p.lo / 8)
		if p.more {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], ff)
		var data []byte
		if p.lo < len(payload) {
			data = append(data, payload[p.lo:min(p.hi, len(payload))]...)
		}
		for len(data) < p.hi-p.lo {
			data = append(data, 0)
		}
		if p.fill != 0 {
			for i := range data {
				data[i] = p.fill
			}
		}
		f := frame(linkEthernet, append(h, data...))
		r := rec{ts: t0.Add(p.at), data: f}
		if p.cutTo > 0 {
			r.origLen, r.data = len(f), f[:p.cutTo]
		}
		rs = append(rs, r)
	}
	return rs
}

// v6Frags writes fragments of the IPv6 packet ip (no extension headers).
func v6Frags(ip []byte, id uint32, ps []piece) []rec {
	payload := ip[40:]
	var rs []rec
	for _, p := range ps {
		h := append([]byte(nil), ip[:40]...)
		binary.BigEndian.PutUint16(h[4:], uint16(8+p.hi-p.lo))
		h[6] = 44
		fh := make([]byte, 8)
		fh[0] = ip[6] // the upper layer
		om := uint16(p.lo)
		if p.more {
			om |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], om)
		binary.BigEndian.PutUint32(fh[4:], id)
		rs = append(rs, rec{ts: t0.Add(p.at), data: frame(linkEthernet, append(append(h, fh...), payload[p.lo:p.hi]...))})
	}
	return rs
}

const fragPayload = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?" // 64 bytes

func runFragRecs(t *testing.T, rs []rec) (*recorder, Stats) {
	t.Helper()
	r, infos, st := runFiles(t, []string{writeFile(t, "f.pcap", pcapLE(t, linkEthernet, false, rs))}, Options{})
	if infos[0].Err != nil || len(infos[0].Warnings) > 0 {
		t.Fatalf("err %v warnings %v", infos[0].Err, infos[0].Warnings)
	}
	return r, st
}

// TestDefragEdges: the reassembler's edges, each through a capture file.
// The IP payload is a 20-byte TCP header and 64 bytes of data: 84 bytes.
func TestDefragEdges(t *testing.T) {
	s := seg{cli, srv, 101, 1, "PA", fragPayload}
	ip := ipPacket(t, s)
	const n = 84
	whole := `data 1 c2s f0:%d "` + fragPayload + `"`
	cases := []struct {
		name    string
		ps      []piece
		want    string // the data event, "" when none
		dropped int64
		trunc   int64
	}{
		{"in-order", []piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: n}}, fmt.Sprintf(whole, 2), 0, 0},
		{"reversed", []piece{{lo: 40, hi: n}, {lo: 0, hi: 40, more: true}}, fmt.Sprintf(whole, 2), 0, 0},
		{"three-shuffled-duplicate", []piece{{lo: 56, hi: n}, {lo: 0, hi: 24, more: true}, {lo: 56, hi: n},
			{lo: 24, hi: 56, more: true}}, fmt.Sprintf(whole, 4), 0, 0},
		// Overlap: the bytes that came first stay. Payload bytes 24..39
		// (data offset 4..19) come first as 'X', then the whole
		// fragments overlap them with the real bytes.
		{"overlap-first-wins", []piece{{lo: 24, hi: 40, more: true, fill: 'X'}, {lo: 0, hi: 32, more: true}, {lo: 32, hi: n}},
			`data 1 c2s f0:3 "0123XXXXXXXXXXXXXXXXklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?"`, 0, 0},
		{"missing-last", []piece{{lo: 0, hi: 40, more: true}}, "", 1, 0},
		{"missing-middle", []piece{{lo: 0, hi: 24, more: true}, {lo: 48, hi: n}}, "", 1, 0},
		{"more-fragments-on-last", []piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: n, more: true}}, "", 1, 0},
		// A second "last" fragment that disagrees on the length is
		// ignored (the first one sets it).
		{"two-lasts", []piece{{lo: 40, hi: n}, {lo: 40, hi: n + 8}, {lo: 0, hi: 40, more: true}}, fmt.Sprintf(whole, 3), 0, 0},
		{"timeout", []piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: n, at: 31 * time.Second}}, "", 2, 0},
		{"within-timeout", []piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: n, at: 29 * time.Second}}, fmt.Sprintf(whole, 2), 0, 0},
		{"over-65535", []piece{{lo: 0, hi: 40, more: true}, {lo: 65528, hi: 65536}}, "", 1, 0},
		// The snap length cut a fragment: counted as truncated, not
		// as a datagram that never completed.
		{"cut-by-snap-length", []piece{{lo: 0, hi: 40, more: true, cutTo: 14 + 20 + 30}, {lo: 40, hi: n}}, "", 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, st := runFragRecs(t, v4Frags(ip, 77, c.ps))
			var data []string
			for _, e := range r.events {
				if strings.HasPrefix(e, "data") {
					data = append(data, e)
				}
			}
			if c.want == "" && len(data) > 0 || c.want != "" && (len(data) != 1 || data[0] != c.want) {
				t.Errorf("data %q, want %q", data, c.want)
			}
			if st.IPFragDropped != c.dropped || st.Truncated != c.trunc {
				t.Errorf("dropped %d truncated %d, want %d %d", st.IPFragDropped, st.Truncated, c.dropped, c.trunc)
			}
			if c.want != "" && (st.IPReassembled != 1 || st.TCPPackets != 1) {
				t.Errorf("reassembled %d tcp %d", st.IPReassembled, st.TCPPackets)
			}
			if st.IPFragments != int64(len(c.ps)) {
				t.Errorf("fragments %d, want %d", st.IPFragments, len(c.ps))
			}
		})
	}
}

// TestDefragIPv6: IPv6 fragment headers (RFC 8200 section 4.5), shuffled.
func TestDefragIPv6(t *testing.T) {
	s := seg{"[2001:db8::1]:50000", "[2001:db8::2]:135", 101, 1, "PA", fragPayload}
	ip := ipPacket(t, s)
	r, st := runFragRecs(t, v6Frags(ip, 0x01020304, []piece{{lo: 48, hi: 84}, {lo: 0, hi: 24, more: true}, {lo: 24, hi: 48, more: true}}))
	want := `data 1 c2s f0:3 "` + fragPayload + `"`
	found := false
	for _, e := range r.events {
		found = found || e == want
	}
	if !found || st.IPReassembled != 1 {
		t.Errorf("events %q stats %+v", r.events, st)
	}
}

// TestDefragLimits: more datagrams in flight than maxFragDatagrams drop the
// oldest; the others still complete.
func TestDefragLimits(t *testing.T) {
	s := seg{cli, srv, 101, 1, "PA", fragPayload}
	ip := ipPacket(t, s)
	var rs []rec
	for id := range maxFragDatagrams + 5 {
		rs = append(rs, v4Frags(ip, uint16(id), []piece{{lo: 0, hi: 40, more: true}})...)
	}
	// The last datagram opened completes; the 5 oldest were evicted.
	rs = append(rs, v4Frags(ip, uint16(maxFragDatagrams+4), []piece{{lo: 40, hi: 84}})...)
	_, st := runFragRecs(t, rs)
	if st.IPReassembled != 1 || st.IPFragDropped != maxFragDatagrams+4 || st.IPFragDroppedAt.Frame != 1 {
		t.Errorf("stats %+v", st)
	}
	// The budget: a few datagrams announcing 64 KiB each.
	var df defrag
	df.m, df.st = map[fragKey]*dgram{}, &Stats{}
	for id := range 200 {
		f := fragInfo{id: uint32(id), off: 65000, data: make([]byte, 400)}
		df.add(&f, Pos{Frame: int64(id + 1), Time: t0})
		if df.bytes > maxFragBytes {
			t.Fatalf("buffered %d bytes > %d", df.bytes, maxFragBytes)
		}
	}
	if df.st.IPFragDropped == 0 || len(df.m) > maxFragBytes/65400+1 {
		t.Errorf("dropped %d, in flight %d", df.st.IPFragDropped, len(df.m))
	}
}

// TestDefragSpans: fragments that leave more than maxFragSpans holes give
// the datagram up.
func TestDefragSpans(t *testing.T) {
	df := newDefrag(&Stats{})
	for i := range maxFragSpans + 1 {
		f := fragInfo{id: 1, off: 16 * i, more: true, data: make([]byte, 8)}
		df.add(&f, Pos{Time: t0})
	}
	if df.st.IPFragDropped != 1 || len(df.m) != 0 || df.bytes != 0 {
		t.Errorf("dropped %d, in flight %d, bytes %d", df.st.IPFragDropped, len(df.m), df.bytes)
	}
}
