package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"time"
)

// pcapWriter writes a microsecond pcap of Ethernet/IPv4 frames, fast: every
// header is built by hand into one reusable buffer (checksums are left zero,
// as on captures made with checksum offload).
type pcapWriter struct {
	w       *bufio.Writer
	buf     []byte
	now     time.Time
	written int64
	packets int64
}

func newPcapWriter(w io.Writer, start time.Time) *pcapWriter {
	p := &pcapWriter{w: bufio.NewWriterSize(w, 1<<20), buf: make([]byte, 0, 65600), now: start}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	p.w.Write(hdr)
	p.written = 24
	return p
}

func (p *pcapWriter) flush() error { return p.w.Flush() }

func (p *pcapWriter) record(frame []byte) {
	var rh [16]byte
	us := p.now.UnixMicro()
	binary.LittleEndian.PutUint32(rh[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(rh[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(rh[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rh[12:], uint32(len(frame)))
	p.w.Write(rh[:])
	p.w.Write(frame)
	p.written += int64(16 + len(frame))
	p.packets++
}

var macA = []byte{0x00, 0x15, 0x5d, 0x00, 0x00, 0x01}
var macB = []byte{0x00, 0x15, 0x5d, 0x00, 0x00, 0x02}

func (p *pcapWriter) ipHeader(src, dst netip.Addr, proto byte, payload int) []byte {
	b := p.buf[:0]
	b = append(b, macB...)
	b = append(b, macA...)
	b = append(b, 0x08, 0x00)
	total := 20 + payload
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, proto, 0, 0)
	s, d := src.As4(), dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	return b
}

// tcp writes one TCP segment.
func (p *pcapWriter) tcp(src, dst netip.AddrPort, seq, ack uint32, flags byte, payload []byte) {
	b := p.ipHeader(src.Addr(), dst.Addr(), 6, 20+len(payload))
	var t [20]byte
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 64240)
	b = append(b, t[:]...)
	b = append(b, payload...)
	p.buf = b
	p.record(b)
}

// udp writes one UDP datagram.
func (p *pcapWriter) udp(src, dst netip.AddrPort, payload []byte) {
	b := p.ipHeader(src.Addr(), dst.Addr(), 17, 8+len(payload))
	var u [8]byte
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	b = append(b, u[:]...)
	b = append(b, payload...)
	p.buf = b
	p.record(b)
}

const (
	flFIN = 0x01
	flSYN = 0x02
	flRST = 0x04
	flPSH = 0x08
	flACK = 0x10
	mss   = 1460
)

// tcpConn writes one TCP connection's packets.
type tcpConn struct {
	c, s     netip.AddrPort
	cseq     uint32
	sseq     uint32
	w        *pcapWriter
	open     bool
	finished bool
}

func (w *pcapWriter) newConn(c, s netip.AddrPort, isn uint32) *tcpConn {
	return &tcpConn{c: c, s: s, cseq: isn, sseq: isn ^ 0x5a5a5a5a, w: w}
}

func (t *tcpConn) handshake() {
	t.w.tcp(t.c, t.s, t.cseq, 0, flSYN, nil)
	t.w.tcp(t.s, t.c, t.sseq, t.cseq+1, flSYN|flACK, nil)
	t.cseq++
	t.sseq++
	t.w.tcp(t.c, t.s, t.cseq, t.sseq, flACK, nil)
	t.open = true
}

// send writes data in MSS-sized segments, fromClient or from the server,
// followed by an ACK from the peer for every other segment.
func (t *tcpConn) send(fromClient bool, data []byte) {
	for n := 0; len(data) > 0; n++ {
		k := min(len(data), mss)
		if fromClient {
			t.w.tcp(t.c, t.s, t.cseq, t.sseq, flACK|flPSH, data[:k])
			t.cseq += uint32(k)
		} else {
			t.w.tcp(t.s, t.c, t.sseq, t.cseq, flACK|flPSH, data[:k])
			t.sseq += uint32(k)
		}
		data = data[k:]
		if n%2 == 1 || len(data) == 0 {
			if fromClient {
				t.w.tcp(t.s, t.c, t.sseq, t.cseq, flACK, nil)
			} else {
				t.w.tcp(t.c, t.s, t.cseq, t.sseq, flACK, nil)
			}
		}
	}
}

func (t *tcpConn) close(rst bool) {
	if rst {
		t.w.tcp(t.c, t.s, t.cseq, t.sseq, flRST|flACK, nil)
	} else {
		t.w.tcp(t.c, t.s, t.cseq, t.sseq, flFIN|flACK, nil)
		t.w.tcp(t.s, t.c, t.sseq, t.cseq+1, flFIN|flACK, nil)
		t.w.tcp(t.c, t.s, t.cseq+1, t.sseq+1, flACK, nil)
	}
	t.finished = true
}
