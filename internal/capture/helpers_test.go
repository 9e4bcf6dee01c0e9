package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
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

// seg describes one TCP segment for the test generators.
type seg struct {
	src, dst string // "10.0.0.1:1234" or "[2001:db8::1]:1234"
	seq, ack uint32
	flags    string // letters: S(YN) A(CK) F(IN) R(ST) P(SH)
	payload  string
}

func (s seg) tcpFlags() (syn, ack, fin, rst, psh bool) {
	return strings.Contains(s.flags, "S"), strings.Contains(s.flags, "A"),
		strings.Contains(s.flags, "F"), strings.Contains(s.flags, "R"), strings.Contains(s.flags, "P")
}

// ipPacket serializes s as an IPv4 or IPv6 packet with gopacket/layers.
func ipPacket(t testing.TB, s seg) []byte {
	t.Helper()
	src := netip.MustParseAddrPort(s.src)
	dst := netip.MustParseAddrPort(s.dst)
	syn, ack, fin, rst, psh := s.tcpFlags()
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: s.seq, Ack: s.ack, SYN: syn, ACK: ack, FIN: fin, RST: rst, PSH: psh,
		Window: 65535,
	}
	var net gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		net, ls = ip, append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		net, ls = ip, append(ls, ip)
	}
	if err := tcp.SetNetworkLayerForChecksum(net); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, tcp, gopacket.Payload(s.payload))
	return serialize(t, ls...)
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var (
	macA = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB = net.HardwareAddr{0, 1, 2, 3, 4, 6}
)

// frame puts a link-layer header for linkType in front of an IP packet.
func frame(linkType uint16, ip []byte) []byte {
	et := uint16(etherIPv4)
	if ip[0]>>4 == 6 {
		et = etherIPv6
	}
	var h []byte
	switch linkType {
	case linkEthernet:
		h = append(append(append(h, macB...), macA...), byte(et>>8), byte(et))
	case linkSLL:
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], macA)
		binary.BigEndian.PutUint16(h[14:], et)
	case linkSLL2:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], et)
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], macA)
	case linkNull: // little-endian host
		h = make([]byte, 4)
		af := uint32(2)
		if et == etherIPv6 {
			af = 30
		}
		binary.LittleEndian.PutUint32(h, af)
	case linkLoop:
		h = make([]byte, 4)
		af := uint32(2)
		if et == etherIPv6 {
			af = 24
		}
		binary.BigEndian.PutUint32(h, af)
	}
	return append(h, ip...)
}

// rec is one record of a generated capture.
type rec struct {
	ts      time.Time
	data    []byte
	origLen int // 0: len(data)
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// segRecs turns segments into Ethernet records 1 ms apart.
func segRecs(t testing.TB, segs []seg) []rec {
	var rs []rec
	for i, s := range segs {
		rs = append(rs, rec{ts: t0.Add(time.Duration(i) * time.Millisecond), data: frame(linkEthernet, ipPacket(t, s))})
	}
	return rs
}

// pcapLE writes records with pcapgo's writer (little endian).
func pcapLE(t testing.TB, linkType uint16, nanos bool, rs []rec) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(262144, layers.LinkType(linkType)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		ol := r.origLen
		if ol == 0 {
			ol = len(r.data)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: ol}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// pcapBytes writes a pcap file by hand, in either byte order.
func pcapBytes(order binary.AppendByteOrder, nanos bool, linkType uint32, rs []rec) []byte {
	var b []byte
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, linkType)
	for _, r := range rs {
		ol := r.origLen
		if ol == 0 {
			ol = len(r.data)
		}
		b = order.AppendUint32(b, uint32(r.ts.Unix()))
		frac := r.ts.Nanosecond() / 1000
		if nanos {
			frac = r.ts.Nanosecond()
		}
		b = order.AppendUint32(b, uint32(frac))
		b = order.AppendUint32(b, uint32(len(r.data)))
		b = order.AppendUint32(b, uint32(ol))
		b = append(b, r.data...)
	}
	return b
}

// ngIface is an interface of a hand-written pcapng section.
type ngIface struct {
	linkType uint16
	tsresol  byte // 0: option absent (microseconds)
}

// ngPkt is an enhanced packet block; ts is in the interface's units.
type ngPkt struct {
	iface   int
	ts      uint64
	data    []byte
	origLen int
}

func ngBlock(order binary.AppendByteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	l := uint32(12 + len(body))
	var b []byte
	b = order.AppendUint32(b, typ)
	b = order.AppendUint32(b, l)
	b = append(b, body...)
	return order.AppendUint32(b, l)
}

// ngSection writes one pcapng section by hand.
func ngSection(order binary.AppendByteOrder, ifaces []ngIface, pkts []ngPkt) []byte {
	var shb []byte
	shb = order.AppendUint32(shb, 0x1a2b3c4d)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = order.AppendUint64(shb, ^uint64(0))
	out := ngBlock(order, 0x0a0d0d0a, shb)
	for _, i := range ifaces {
		var idb []byte
		idb = order.AppendUint16(idb, i.linkType)
		idb = order.AppendUint16(idb, 0)
		idb = order.AppendUint32(idb, 0)
		if i.tsresol != 0 {
			idb = order.AppendUint16(idb, 9) // if_tsresol
			idb = order.AppendUint16(idb, 1)
			idb = append(idb, i.tsresol, 0, 0, 0)
			idb = order.AppendUint32(idb, 0) // opt_endofopt
		}
		out = append(out, ngBlock(order, 1, idb)...)
	}
	for _, p := range pkts {
		ol := p.origLen
		if ol == 0 {
			ol = len(p.data)
		}
		var epb []byte
		epb = order.AppendUint32(epb, uint32(p.iface))
		epb = order.AppendUint32(epb, uint32(p.ts>>32))
		epb = order.AppendUint32(epb, uint32(p.ts))
		epb = order.AppendUint32(epb, uint32(len(p.data)))
		epb = order.AppendUint32(epb, uint32(ol))
		epb = append(epb, p.data...)
		out = append(out, ngBlock(order, 6, epb)...)
	}
	return out
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder collects handler calls as lines of text.
type recorder struct {
	events []string
	// decline makes Data return false for these connection IDs.
	decline map[uint64]bool
	// nilFor makes the factory return nil for these IDs.
	nilFor map[uint64]bool
	// cutter: the handlers are Cutters.
	cutter bool
}

func (r *recorder) factory(c ConnInfo) StreamHandler {
	r.events = append(r.events, fmt.Sprintf("open %d %s>%s syn=%v f%d:%d", c.ID, c.Client, c.Server, c.SawSYN, c.First.File, c.First.Frame))
	if r.nilFor[c.ID] {
		return nil
	}
	if r.cutter {
		return &cutHandler{recHandler{r: r, id: c.ID}}
	}
	return &recHandler{r: r, id: c.ID}
}

// cutHandler is a recHandler that is a Cutter.
type cutHandler struct{ recHandler }

func (h *cutHandler) Cut(d Dir, pos Pos, n int) {
	h.r.events = append(h.r.events, fmt.Sprintf("cut %d %s f%d:%d %d", h.id, dirName[d], pos.File, pos.Frame, n))
}

type recHandler struct {
	r     *recorder
	id    uint64
	ended bool
}

var dirName = [2]string{"c2s", "s2c"}

func (h *recHandler) Data(d Dir, pos Pos, b []byte) bool {
	if h.ended {
		panic("Data after End")
	}
	h.r.events = append(h.r.events, fmt.Sprintf("data %d %s f%d:%d %q", h.id, dirName[d], pos.File, pos.Frame, b))
	return !h.r.decline[h.id]
}

func (h *recHandler) Gap(d Dir, pos Pos, n int) {
	if h.ended {
		panic("Gap after End")
	}
	h.r.events = append(h.r.events, fmt.Sprintf("gap %d %s f%d:%d %d", h.id, dirName[d], pos.File, pos.Frame, n))
}

func (h *recHandler) End(pos Pos, how EndKind) {
	if h.ended {
		panic("End twice")
	}
	h.ended = true
	h.r.events = append(h.r.events, fmt.Sprintf("end %d %s f%d:%d", h.id, how, pos.File, pos.Frame))
}

// runSegs writes segments to an Ethernet pcap (1 ms apart, frame i+1) and
// runs the capture over it.
func runSegs(t testing.TB, segs []seg, opts Options) (*recorder, Stats) {
	t.Helper()
	p := writeFile(t, "t.pcap", pcapLE(t, linkEthernet, false, segRecs(t, segs)))
	r := &recorder{}
	opts.Factory = r.factory
	infos, st := Run([]string{p}, opts)
	if infos[0].Err != nil || len(infos[0].Warnings) > 0 {
		t.Fatalf("input: %v %v", infos[0].Err, infos[0].Warnings)
	}
	return r, st
}

func checkEvents(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\ngot:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
