package capture

import (
	"io"
	"sync/atomic"
	"time"
)

// DefaultMaxBufferedTotal is Options.MaxBufferedTotal when it is zero.
const DefaultMaxBufferedTotal = 16 << 20

// DefaultMaxConns is Options.MaxConns when it is zero: with what every layer
// keeps per open connection (about 2.5 KiB, pipeline.TestConnCost), 20000
// connections are about 50 MiB of the 256 MiB nspicap stays under.
const DefaultMaxConns = 20000

// Options configure Run.
type Options struct {
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Factory makes the handler of each new connection. With a nil
	// Factory packets are decoded and connections counted, and nothing
	// is reassembled.
	Factory Factory
	// MaxBuffered caps the out-of-order bytes buffered per direction;
	// beyond it the oldest hole is declared lost. Default 1 MiB.
	MaxBuffered int
	// MaxBufferedTotal caps the out-of-order bytes buffered over all
	// connections; beyond it, holes are declared lost. 0 means
	// DefaultMaxBufferedTotal.
	MaxBufferedTotal int
	// MaxConns caps the connections tracked at once; beyond it the
	// longest idle one ends with EndEvicted. 0 means DefaultMaxConns.
	MaxConns int
	// Datagrams, when set, receives the UDP datagrams to or from port 88;
	// when nil UDP is not decoded at all.
	Datagrams DatagramHandler
	// Read, when set, counts the bytes read from the inputs so far, as
	// stored (compressed bytes for gzip: it ends at the sum of the file
	// sizes), for a progress display. It grows once per read from a file
	// (64 KiB or more at a time), from the inputs' reading goroutines.
	Read *atomic.Int64
}

// InputInfo describes one input file after Run.
type InputInfo struct {
	// Path is the path as given.
	Path string
	// Format is "pcap", "pcap-ns", "pcapng", "netmon1" or "netmon2", with a
	// "+gzip" suffix when the file is compressed. Empty when the file could not be opened.
	Format string
	// Packets counts every record read (Wireshark's frame count).
	Packets int64
	// First and Last are the earliest and latest packet timestamps.
	First, Last time.Time
	// Cut counts the records the capture cut short: their captured
	// length is below their length on the wire (the snap length, tcpdump
	// -s, netsh trace packettruncatebytes). SnapLen is the largest
	// captured length among them: the snap length in effect, link header
	// included (0 when no record was cut).
	Cut     int64
	SnapLen int
	// Warnings are problems that did not stop the file from being read
	// (or stopped it part way, keeping the packets read before): one line
	// each, without the file name.
	Warnings []string
	// Err is set when the file could not be read at all; its message is
	// one lower-case line that names the file. It is a *FileError.
	Err error
}

// Stats counts what Run saw across all inputs.
type Stats struct {
	// Packets counts every record of every input.
	Packets int64
	// TCPPackets counts records that decoded to a TCP segment.
	TCPPackets int64
	// NonIP counts records whose link layer carries neither IPv4 nor
	// IPv6 (ARP, LLC, unknown link types, ...).
	NonIP int64
	// Truncated counts records the snap length cut: the headers could not
	// be decoded, or TCP payload announced by the IP length is missing
	// (reported to the handler as a Gap).
	Truncated int64
	// Conns counts connections (Factory calls); Evicted those ended by the
	// MaxConns limit.
	Conns, Evicted int64
	// IPFragments counts fragments of IP datagrams that carry TCP (and,
	// with Options.Datagrams, UDP); IPReassembled the TCP datagrams and
	// the UDP ones to or from port 88 reassembled from them (each then
	// counts once in TCPPackets or UDPKerberos); IPFragDropped the TCP
	// and port-88 UDP datagrams given up, incomplete after 30 s of capture
	// time, at the end of the capture or over the reassembly limits
	// (defrag.go), and IPFragDroppedAt the first fragment of the first of
	// them; IPFragUnknown the UDP datagrams given up before their first
	// fragment, the one with the ports, came (Kerberos or not: unknown).
	IPFragments, IPReassembled, IPFragDropped, IPFragUnknown int64
	IPFragDroppedAt                                          Pos
	// UDPKerberos counts the UDP datagrams to or from port 88 handed to
	// Options.Datagrams, reassembled ones included.
	UDPKerberos int64
}

// Run reads the inputs as one capture, merged in timestamp order, and feeds
// the TCP connections in it to opts.Factory's handlers, packet by packet in
// capture order. Inputs that cannot be opened get InputInfo.Err and the
// others are still read. Run does not panic on any input; panics raised by
// handlers are not caught.
func Run(paths []string, opts Options) ([]InputInfo, Stats) {
	infos := make([]InputInfo, len(paths))
	var stats Stats
	in := newInputs(paths, opts, infos)
	defer in.closeAll()
	m := &in.m
	asm := newAssembler(opts, &stats)
	df := newDefrag(&stats)
	var frag fragInfo
	udp := opts.Datagrams != nil
	p := tcpPacket{frag: &frag, udp: udp}
	for m.len() > 0 {
		s := m.top()
		stats.Packets++
		k := s.pkt()
		wireExtra := k.wireLen - k.capLen
		switch decodePacket(k.lt, s.data(), wireExtra, &p) {
		case decTCP:
			stats.TCPPackets++
			if p.missing > 0 {
				stats.Truncated++
			}
			asm.packet(&p, Pos{File: s.index, Frame: k.frame, Time: k.ts})
		case decUDP:
			stats.UDPKerberos++
			opts.Datagrams.Datagram(p.src, p.dst, Pos{File: s.index, Frame: k.frame, Time: k.ts}, p.payload, p.missing)
		case decNonIP:
			stats.NonIP++
		case decTruncated:
			stats.Truncated++
		case decFragment:
			pos := Pos{File: s.index, Frame: k.frame, Time: k.ts}
			if seg, src, dst, ok := df.add(&frag, pos); ok {
				p = tcpPacket{}
				if frag.proto == protoUDP {
					// At the frame of the fragment that completed it;
					// decodeUDP drops it unless a port is 88.
					if decodeUDP(seg, src, dst, &p) == decUDP {
						stats.UDPKerberos++
						opts.Datagrams.Datagram(p.src, p.dst, pos, p.payload, p.missing)
					}
				} else {
					switch decodeTCP(seg, src, dst, 0, 0, &p) {
					case decTCP:
						stats.TCPPackets++
						asm.packet(&p, pos)
					case decTruncated:
						stats.Truncated++
					}
				}
			}
			frag = fragInfo{}
		}
		p = tcpPacket{frag: &frag, udp: udp}
		if s.next() {
			m.fix()
		} else {
			m.pop()
			in.finish(s.index)
		}
		in.openDue()
	}
	df.flush()
	asm.closeAll()
	return infos, stats
}

// merger is a min-heap of sources ordered by their current packet's
// timestamp, ties broken by file index: a k-way merge that holds one packet
// per file.
type merger struct {
	h []*cursor
}

func (m *merger) len() int     { return len(m.h) }
func (m *merger) top() *cursor { return m.h[0] }
func (m *merger) less(i, j int) bool {
	a, b := m.h[i], m.h[j]
	if c := a.ts().Compare(b.ts()); c != 0 {
		return c < 0
	}
	return a.index < b.index
}

func (m *merger) push(s *cursor) {
	m.h = append(m.h, s)
	m.up(len(m.h) - 1)
}

func (m *merger) pop() {
	n := len(m.h) - 1
	m.h[0] = m.h[n]
	m.h[n] = nil
	m.h = m.h[:n]
	if n > 0 {
		m.down(0)
	}
}

// fix restores the heap after the top source moved to its next packet.
func (m *merger) fix() { m.down(0) }

func (m *merger) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !m.less(i, parent) {
			return
		}
		m.h[i], m.h[parent] = m.h[parent], m.h[i]
		i = parent
	}
}

func (m *merger) down(i int) {
	n := len(m.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && m.less(r, l) {
			j = r
		}
		if !m.less(j, i) {
			return
		}
		m.h[i], m.h[j] = m.h[j], m.h[i]
		i = j
	}
}
