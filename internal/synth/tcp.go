package synth

import (
	"net/netip"
	"time"
)

// Dir is a direction on a TCP connection.
type Dir int

// Directions.
const (
	C2S Dir = 0 // client to server
	S2C Dir = 1 // server to client
)

// Seg is one step of a segment plan: bytes [Off, Off+Len) of the payload
// given to SendPlan. Drop means the segment travelled but is missing from
// the capture. Segments are emitted in plan order, so a plan can reorder,
// retransmit (repeat a range) or overlap.
type Seg struct {
	Off, Len int
	Drop     bool
	Delay    time.Duration // clock advance before this segment (e.g. an RTO)
}

type segRec struct {
	start, end uint64
	frame      int
}

// Conn is a TCP conversation with fixed ISNs and exact seq/ack bookkeeping.
type Conn struct {
	cap            *Capture
	Client, Server netip.AddrPort
	Link           Link
	Iface          int
	MSS            int  // max payload per segment (default 1460)
	OneByte        bool // send every payload byte in its own segment
	isn            [2]uint32
	sent           [2]uint64
	fin            [2]bool
	segs           [2][]segRec
	// End is how the connection ended: "fin", "rst" or "" (still open at the
	// end of the capture).
	End string
	// Unrecorded: the connection's packets are not in the capture (it
	// passed elsewhere); the clock still advances.
	Unrecorded bool
}

// NewConn creates a connection; nothing is emitted until Open or Send.
func (c *Capture) NewConn(client, server netip.AddrPort) *Conn {
	cn := &Conn{cap: c, Client: client, Server: server, MSS: 1460}
	cn.isn[C2S] = c.rng.Uint32()
	cn.isn[S2C] = c.rng.Uint32()
	c.conns = append(c.conns, cn)
	return cn
}

func (cn *Conn) addrs(d Dir) (src, dst netip.AddrPort) {
	if d == C2S {
		return cn.Client, cn.Server
	}
	return cn.Server, cn.Client
}

func (cn *Conn) nextSeq(d Dir) uint32 {
	s := cn.isn[d] + 1 + uint32(cn.sent[d])
	if cn.fin[d] {
		s++
	}
	return s
}

func (cn *Conn) pkt(d Dir, flags uint8, seq uint32, payload []byte) int {
	if cn.Unrecorded {
		cn.cap.Advance(cn.cap.Step)
		return 0
	}
	src, dst := cn.addrs(d)
	var ack uint32
	if flags&TCPAck != 0 {
		ack = cn.nextSeq(1 - d)
	}
	return cn.cap.emit(Packet{
		Iface: cn.Iface, Link: cn.Link, Src: src, Dst: dst, Flags: flags,
		Seq: seq, Ack: ack, Window: 64240, TTL: 128, Payload: payload,
		SYNOpts: flags&TCPSyn != 0,
	})
}

// Open writes the three-way handshake.
func (cn *Conn) Open() {
	src, dst := cn.addrs(C2S)
	cn.cap.emit(Packet{Iface: cn.Iface, Link: cn.Link, Src: src, Dst: dst, Flags: TCPSyn,
		Seq: cn.isn[C2S], Window: 64240, TTL: 128, SYNOpts: true})
	cn.cap.Advance(300 * time.Microsecond)
	src, dst = cn.addrs(S2C)
	cn.cap.emit(Packet{Iface: cn.Iface, Link: cn.Link, Src: src, Dst: dst, Flags: TCPSyn | TCPAck,
		Seq: cn.isn[S2C], Ack: cn.isn[C2S] + 1, Window: 65535, TTL: 128, SYNOpts: true})
	cn.Ack(C2S)
}

// Ack writes a pure ACK from d.
func (cn *Conn) Ack(d Dir) int { return cn.pkt(d, TCPAck, cn.nextSeq(d), nil) }

// Send writes data from d, split by MSS (or into 1-byte segments), and
// returns the stream range it occupies.
func (cn *Conn) Send(d Dir, data []byte) (start, end uint64) {
	size := cn.MSS
	if cn.OneByte {
		size = 1
	}
	var plan []Seg
	for off := 0; off < len(data); off += size {
		plan = append(plan, Seg{Off: off, Len: min(size, len(data)-off)})
	}
	return cn.SendPlan(d, data, plan)
}

// SendPlan writes data from d following plan (see Seg).
func (cn *Conn) SendPlan(d Dir, data []byte, plan []Seg) (start, end uint64) {
	start = cn.sent[d]
	end = start + uint64(len(data))
	for i, s := range plan {
		cn.cap.Advance(s.Delay)
		if s.Drop {
			cn.cap.Advance(cn.cap.Step)
			continue
		}
		flags := uint8(TCPAck)
		if i == len(plan)-1 || s.Off+s.Len == len(data) {
			flags |= TCPPsh
		}
		seq := cn.isn[d] + 1 + uint32(start) + uint32(s.Off)
		fr := cn.pkt(d, flags, seq, append([]byte(nil), data[s.Off:s.Off+s.Len]...))
		if fr > 0 {
			cn.segs[d] = append(cn.segs[d], segRec{start + uint64(s.Off), start + uint64(s.Off+s.Len), fr})
		}
	}
	cn.sent[d] = end
	return start, end
}

// CompleteFrame returns the frame at which every byte of [start, end) of
// direction d had been captured at least once, or 0 if some byte never was.
func (cn *Conn) CompleteFrame(d Dir, start, end uint64) int {
	if end <= start {
		return 0
	}
	seen := make([]bool, end-start)
	left := len(seen)
	for _, s := range cn.segs[d] {
		for o := max(s.start, start); o < min(s.end, end); o++ {
			if !seen[o-start] {
				seen[o-start] = true
				left--
			}
		}
		if left == 0 {
			return s.frame
		}
	}
	return 0
}

// CloseFIN closes the connection with FIN from d, the peer's FIN and the final ACK.
func (cn *Conn) CloseFIN(d Dir) {
	cn.pkt(d, TCPFin|TCPAck, cn.nextSeq(d), nil)
	cn.fin[d] = true
	cn.cap.Advance(200 * time.Microsecond)
	cn.pkt(1-d, TCPFin|TCPAck, cn.nextSeq(1-d), nil)
	cn.fin[1-d] = true
	cn.Ack(d)
	cn.End = "fin"
}

// CloseRST aborts the connection with an RST from d.
func (cn *Conn) CloseRST(d Dir) {
	cn.pkt(d, TCPRst|TCPAck, cn.nextSeq(d), nil)
	cn.End = "rst"
}

// PlanSplit cuts n bytes into segments of at most size bytes, in order.
func PlanSplit(n, size int) []Seg {
	var p []Seg
	for off := 0; off < n; off += size {
		p = append(p, Seg{Off: off, Len: min(size, n-off)})
	}
	return p
}

// PlanReorder sends bytes [cut, n) before [0, cut).
func PlanReorder(n, cut int) []Seg {
	return []Seg{{Off: cut, Len: n - cut}, {Off: 0, Len: cut}}
}

// PlanRetransmit sends all n bytes, then all of them again after delay.
func PlanRetransmit(n int, delay time.Duration) []Seg {
	return []Seg{{Off: 0, Len: n}, {Off: 0, Len: n, Delay: delay}}
}

// PlanOverlap sends [0, cut), [cut, n), then an overlapping retransmission
// of [back, n).
func PlanOverlap(n, cut, back int) []Seg {
	return []Seg{{Off: 0, Len: cut}, {Off: cut, Len: n - cut}, {Off: back, Len: n - back}}
}

// PlanDrop sends n bytes in segments of size bytes with segment i missing
// from the capture.
func PlanDrop(n, size, i int) []Seg {
	p := PlanSplit(n, size)
	p[i].Drop = true
	return p
}
