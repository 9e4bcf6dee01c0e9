package capture

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// IP fragment reassembly (RFC 791 section 3.2 and RFC 815 for IPv4, RFC 8200
// section 4.5 for IPv6), for datagrams that carry TCP: a VPN or a small MTU
// on the path fragments segments, and without reassembly their bytes would
// look as if the capture had lost them; and, when UDP port 88 is read, for
// datagrams that carry UDP: a KDC reply with a large PAC often exceeds the
// path's MTU.
//
// Datagrams are keyed by source, destination, protocol and identification
// (fragments of protocols other than TCP and UDP are not kept). The
// payload is copied into a buffer of the datagram; where fragments overlap
// the bytes that arrived first are kept (the choice of most current
// stacks, and deterministic). The first "last fragment" (MF clear) fixes
// the length; a later one that disagrees is ignored, as are bytes beyond
// that length. The datagram is complete when its bytes from 0 to that length
// have all arrived; it is then decoded as TCP or UDP with the position
// (frame number and time) of the fragment that completed it, as Wireshark
// reports "Reassembled IPv4 in frame N".
//
// UDP: only the first fragment holds the ports. Every UDP fragment is kept,
// within the same bounds as TCP's, until the first fragment comes; if
// neither of its ports is 88 the datagram is foreign: its buffer is freed at
// once and its later fragments are only counted off (the byte ranges, no
// bytes) until it is complete, then forgotten. Unfragmented traffic pays
// nothing for this: a datagram is looked at here only when its header says
// it is a fragment.
//
// Bounds: a datagram is given up when its first fragment is older than
// fragTimeout in capture time (30 s, the Linux and Windows default), when
// it would exceed 65535 bytes, when its received bytes split into more than
// maxFragSpans pieces, and, oldest first, when more than maxFragDatagrams
// are in flight or their buffers exceed maxFragBytes. Every datagram of
// TCP, or of UDP to or from port 88, given up (and those incomplete at the
// end of the capture) counts in Stats.IPFragDropped, unless the snap length
// cut one of its fragments (then Stats.Truncated counts that fragment). A
// UDP datagram given up before its first fragment came may or may not have
// been Kerberos: it counts in Stats.IPFragUnknown. A foreign one counts
// nowhere.
const (
	fragTimeout      = 30 * time.Second
	maxFragDatagrams = 1024
	maxFragBytes     = 8 << 20
	maxFragSpans     = 64
	maxFragPayload   = 65535
	maxFreeFragBufs  = 8
)

// fragInfo is what decodeIPv4 and decodeIPv6 report of a fragment of a TCP
// or UDP datagram. data aliases the packet buffer.
type fragInfo struct {
	src, dst netip.Addr
	id       uint32
	v6       bool
	proto    uint8 // 6 TCP, 17 UDP
	off      int   // of data in the datagram's payload
	more     bool
	data     []byte
	cut      bool // the capture holds less than the IP length announces
}

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	v6       bool
	proto    uint8
}

// Fragment protocols (fragInfo.proto).
const (
	protoTCP = 6
	protoUDP = 17
)

type span struct{ lo, hi int }

type dgram struct {
	key   fragKey
	first time.Time
	pos   Pos // of the first fragment seen
	buf   []byte
	have  []span // received byte ranges, sorted and merged
	total int    // payload length (-1: the last fragment has not come)
	done  bool   // completed or dropped (still in order until popped)
	cut   bool
	// UDP, once the first fragment shows the ports: kdc, one of them is
	// 88; foreign, neither is (no bytes are kept).
	kdc, foreign bool
}

type defrag struct {
	m     map[fragKey]*dgram
	order []*dgram // by first fragment, for the timeout and eviction
	head  int
	bytes int // cap of every buffer held
	free  [][]byte
	out   []byte // the buffer of the datagram last returned
	st    *Stats
}

func newDefrag(st *Stats) *defrag {
	return &defrag{m: map[fragKey]*dgram{}, st: st}
}

// add takes a fragment seen at pos. When it completes its datagram, add
// returns the TCP segment or UDP datagram (of f.proto, valid until the next
// call) and its addresses.
func (df *defrag) add(f *fragInfo, pos Pos) (seg []byte, src, dst netip.Addr, ok bool) {
	df.release()
	df.expire(pos.Time)
	df.st.IPFragments++
	if f.cut {
		df.st.Truncated++
	}
	key := fragKey{f.src, f.dst, f.id, f.v6, f.proto}
	d := df.m[key]
	end := f.off + len(f.data)
	if d == nil {
		if len(df.m) >= maxFragDatagrams {
			df.evictOldest(nil)
		}
		d = &dgram{key: key, first: pos.Time, pos: pos, total: -1}
		df.m[key] = d
		df.order = append(df.order, d)
	}
	d.cut = d.cut || f.cut
	if end > maxFragPayload {
		df.drop(d)
		return nil, src, dst, false
	}
	if !f.more && d.total < 0 {
		d.total = end
	}
	if d.total >= 0 && end > d.total {
		end = d.total // bytes past the end the last fragment set
	}
	if end <= f.off {
		return df.complete(d)
	}
	if d.key.proto == protoUDP && f.off == 0 && !d.kdc && !d.foreign && len(f.data) >= 4 {
		df.ports(d, f.data)
	}
	if d.foreign {
		// Only the ranges, to know when it is over.
		if !d.insert(span{f.off, end}) {
			df.drop(d)
			return nil, src, dst, false
		}
		return df.complete(d)
	}
	if end > len(d.buf) {
		if end > cap(d.buf) {
			grow := max(end, min(2*cap(d.buf), maxFragPayload))
			for df.bytes+grow-cap(d.buf) > maxFragBytes && df.evictOldest(d) {
			}
			if df.bytes+grow-cap(d.buf) > maxFragBytes {
				df.drop(d)
				return nil, src, dst, false
			}
			nb := df.alloc(grow)
			copy(nb, d.buf)
			df.bytes += cap(nb) - cap(d.buf)
			df.recycle(d.buf)
			d.buf = nb[:len(d.buf)]
		}
		d.buf = d.buf[:end]
	}
	// Copy only into the gaps: the bytes that came first stay.
	at := f.off
	for _, s := range d.have {
		if s.hi <= at {
			continue
		}
		if s.lo >= end {
			break
		}
		if s.lo > at {
			copy(d.buf[at:s.lo], f.data[at-f.off:])
		}
		at = max(at, s.hi)
		if at >= end {
			break
		}
	}
	if at < end {
		copy(d.buf[at:end], f.data[at-f.off:])
	}
	if !d.insert(span{f.off, end}) {
		df.drop(d)
		return nil, src, dst, false
	}
	return df.complete(d)
}

// ports reads the UDP ports of a datagram's first fragment: a datagram to
// or from port 88 is kept, any other is foreign and its buffer freed.
func (df *defrag) ports(d *dgram, udp []byte) {
	if binary.BigEndian.Uint16(udp[0:2]) == kerberosPort || binary.BigEndian.Uint16(udp[2:4]) == kerberosPort {
		d.kdc = true
		return
	}
	d.foreign = true
	df.bytes -= cap(d.buf)
	df.recycle(d.buf)
	d.buf = nil
}

// insert adds a received range, merging it with those it touches. It
// returns false when the ranges would be more than maxFragSpans.
func (d *dgram) insert(n span) bool {
	i := 0
	for i < len(d.have) && d.have[i].hi < n.lo {
		i++
	}
	j := i
	for j < len(d.have) && d.have[j].lo <= n.hi {
		n.lo, n.hi = min(n.lo, d.have[j].lo), max(n.hi, d.have[j].hi)
		j++
	}
	if i == j {
		if len(d.have) >= maxFragSpans {
			return false
		}
		d.have = append(d.have, span{})
		copy(d.have[i+1:], d.have[i:])
		d.have[i] = n
		return true
	}
	d.have[i] = n
	d.have = append(d.have[:i+1], d.have[j:]...)
	return true
}

func (df *defrag) complete(d *dgram) (seg []byte, src, dst netip.Addr, ok bool) {
	if d.total < 0 || len(d.have) != 1 || d.have[0].lo != 0 || d.have[0].hi < d.total {
		return nil, src, dst, false
	}
	d.done = true
	delete(df.m, d.key)
	if d.foreign {
		return nil, src, dst, false
	}
	df.st.IPReassembled++
	df.out = d.buf
	return d.buf[:d.total], d.key.src, d.key.dst, true
}

// drop gives a datagram up.
func (df *defrag) drop(d *dgram) {
	if d.done {
		return
	}
	d.done = true
	delete(df.m, d.key)
	df.bytes -= cap(d.buf)
	df.recycle(d.buf)
	d.buf = nil
	switch {
	case d.cut || d.foreign:
	case d.key.proto == protoUDP && !d.kdc:
		df.st.IPFragUnknown++ // its ports never came
	default:
		if df.st.IPFragDropped == 0 {
			df.st.IPFragDroppedAt = d.pos
		}
		df.st.IPFragDropped++
	}
}

// evictOldest drops the oldest datagram in flight other than keep; it
// returns false when there is none.
func (df *defrag) evictOldest(keep *dgram) bool {
	for i := df.head; i < len(df.order); i++ {
		if d := df.order[i]; !d.done && d != keep {
			df.drop(d)
			df.compact()
			return true
		}
	}
	return false
}

// expire drops the datagrams whose first fragment is older than
// fragTimeout at now.
func (df *defrag) expire(now time.Time) {
	for df.head < len(df.order) {
		d := df.order[df.head]
		if !d.done && now.Sub(d.first) <= fragTimeout {
			break
		}
		df.drop(d)
		df.order[df.head] = nil
		df.head++
	}
	df.compact()
}

// compact trims the queue of finished datagrams at its head and reclaims
// its space.
func (df *defrag) compact() {
	for df.head < len(df.order) && df.order[df.head].done {
		df.order[df.head] = nil
		df.head++
	}
	if df.head == len(df.order) {
		df.order, df.head = df.order[:0], 0
	} else if df.head > 64 && df.head > len(df.order)/2 {
		n := copy(df.order, df.order[df.head:])
		clear(df.order[n:])
		df.order, df.head = df.order[:n], 0
	}
}

// flush gives up every datagram still in flight (end of the capture).
func (df *defrag) flush() {
	df.release()
	for _, d := range df.order[df.head:] {
		df.drop(d)
	}
	df.order, df.head = nil, 0
}

// release takes back the buffer of the datagram last returned.
func (df *defrag) release() {
	if df.out != nil {
		df.bytes -= cap(df.out)
		df.recycle(df.out)
		df.out = nil
	}
}

func (df *defrag) alloc(n int) []byte {
	for i, b := range df.free {
		if cap(b) >= n {
			df.free[i] = df.free[len(df.free)-1]
			df.free = df.free[:len(df.free)-1]
			return b[:n]
		}
	}
	return make([]byte, n)
}

func (df *defrag) recycle(b []byte) {
	if cap(b) > 0 && len(df.free) < maxFreeFragBufs {
		df.free = append(df.free, b[:0])
	}
}
