package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gopacket/gopacket/reassembly"
)

// gpOptions configure the gopacket side.
type gpOptions struct {
	// Midstream makes Accept force the start of a direction whose SYN was
	// not seen (reassemblydump's -allowmissinginit). Without it, the bytes
	// of such a direction wait in the page cache until FlushAll.
	Midstream bool
	// FlushEvery, when not zero, calls FlushCloseOlderThan(now - Idle)
	// every FlushEvery of capture time: the only way gopacket has to bound
	// the connections it holds.
	FlushEvery, Idle time.Duration
	// MaxPagesConn and MaxPagesTotal are the Assembler's buffer bounds
	// (pages of 1900 bytes; 0: unbounded).
	MaxPagesConn, MaxPagesTotal int
	// DecodeOnly stops after DecodingLayerParser: no reassembly.
	DecodeOnly bool
}

// gpStats counts what the gopacket side saw.
type gpStats struct {
	Packets, TCP, NotTCP, DecodeErrors, Truncated int64
}

// gpDecoder decodes the link types internal/capture handles with
// DecodingLayerParsers sharing one set of layers, and no allocation per
// packet.
type gpDecoder struct {
	eth  layers.Ethernet
	vlan layers.Dot1Q
	sll  layers.LinuxSLL
	sll2 layers.LinuxSLL2
	loop layers.Loopback
	ip4  layers.IPv4
	ip6  layers.IPv6
	ext  layers.IPv6ExtensionSkipper
	tcp  layers.TCP

	ether, cooked, cooked2, loopback, raw4, raw6 *gopacket.DecodingLayerParser
	decoded                                      []gopacket.LayerType
}

func (d *gpDecoder) init() {
	ls := []gopacket.DecodingLayer{&d.eth, &d.vlan, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ext, &d.tcp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, ls...)
		p.IgnoreUnsupported = true // the TCP payload, IPv4 fragments, ARP, UDP
		return p
	}
	d.ether = mk(layers.LayerTypeEthernet)
	d.cooked = mk(layers.LayerTypeLinuxSLL)
	d.cooked2 = mk(layers.LayerTypeLinuxSLL2)
	d.loopback = mk(layers.LayerTypeLoopback)
	d.raw4 = mk(layers.LayerTypeIPv4)
	d.raw6 = mk(layers.LayerTypeIPv6)
	d.decoded = make([]gopacket.LayerType, 0, 8)
}

// decode decodes one frame. It returns the network flow when the frame
// holds a TCP segment (then in d.tcp), and whether the capture cut it.
func (d *gpDecoder) decode(lt layers.LinkType, data []byte) (flow gopacket.Flow, ok, truncated bool, err error) {
	var p *gopacket.DecodingLayerParser
	switch lt {
	case layers.LinkTypeEthernet:
		p = d.ether
	case layers.LinkTypeLinuxSLL:
		p = d.cooked
	case layers.LinkTypeLinuxSLL2:
		p = d.cooked2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		p = d.loopback
	case layers.LinkTypeIPv4:
		p = d.raw4
	case layers.LinkTypeIPv6:
		p = d.raw6
	case layers.LinkTypeRaw, 12, 14:
		if len(data) > 0 && data[0]>>4 == 6 {
			p = d.raw6
		} else {
			p = d.raw4
		}
	default:
		return flow, false, false, nil
	}
	err = p.DecodeLayers(data, &d.decoded)
	var net gopacket.Flow
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			net = d.ip4.NetworkFlow()
		case layers.LayerTypeIPv6:
			net = d.ip6.NetworkFlow()
		case layers.LayerTypeTCP:
			return net, true, p.Truncated, nil
		}
	}
	return flow, false, p.Truncated, err
}

// gpContext carries a packet's CaptureInfo into the Assembler, which keeps
// it with every byte it buffers. The frame number rides in InterfaceIndex,
// so that ScatterGather.CaptureInfo tells which frame a byte came from.
type gpContext struct{ ci gopacket.CaptureInfo }

func (c *gpContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// gpFactory makes the streams.
type gpFactory struct {
	col *collector
	o   *gpOptions
}

func (f *gpFactory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	// Like internal/capture: a pure ACK, FIN or RST of a connection not
	// known opens none (New may return nil since gopacket 1.7).
	if !tcp.SYN && len(tcp.Payload) == 0 {
		return nil
	}
	src := netip.AddrPortFrom(addrOf(netFlow.Src()), portOf(tcpFlow.Src()))
	dst := netip.AddrPortFrom(addrOf(netFlow.Dst()), portOf(tcpFlow.Dst()))
	f.col.conns++
	return &gpStream{col: f.col, o: f.o, dirs: [2]*stream{f.col.open(dirKey{src, dst}), f.col.open(dirKey{dst, src})}}
}

func addrOf(e gopacket.Endpoint) netip.Addr {
	a, _ := netip.AddrFromSlice(e.Raw())
	return a
}

func portOf(e gopacket.Endpoint) uint16 {
	if r := e.Raw(); len(r) == 2 {
		return binary.BigEndian.Uint16(r)
	}
	return 0
}

// gpStream is one connection: dirs[0] is the direction of the packet that
// opened it (gopacket's TCPDirClientToServer).
type gpStream struct {
	col  *collector
	o    *gpOptions
	dirs [2]*stream
}

func (s *gpStream) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	if s.o.Midstream {
		*start = true
	}
	return true
}

func (s *gpStream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	dir, _, _, skip := sg.Info()
	st := s.dirs[0]
	if dir == reassembly.TCPDirServerToClient {
		st = s.dirs[1]
	}
	if skip != 0 {
		s.col.hole(st, int64(skip)) // -1: unknown
	}
	n, _ := sg.Lengths()
	if n == 0 {
		return
	}
	b := sg.Fetch(n)
	if !s.col.keep {
		s.col.data(st, b, 0)
		return
	}
	// The frame of each byte (tests only: CaptureInfo walks the chunks).
	for i := 0; i < n; {
		f := int64(sg.CaptureInfo(i).InterfaceIndex)
		j := i + 1
		for j < n && int64(sg.CaptureInfo(j).InterfaceIndex) == f {
			j++
		}
		s.col.data(st, b[i:j], f)
		i = j
	}
}

func (s *gpStream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	s.col.end(s.dirs[0])
	s.col.end(s.dirs[1])
	return true // forget the connection
}

// openPcap opens a pcap or pcapng file, gzip-compressed or not.
func openPcap(path string) (interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}, func(gopacket.CaptureInfo) layers.LinkType, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if h, _ := br.Peek(2); len(h) == 2 && h[0] == 0x1f && h[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, nil, err
		}
		r = bufio.NewReaderSize(gz, 1<<20)
	}
	rb := r.(*bufio.Reader)
	if h, _ := rb.Peek(4); len(h) == 4 && binary.BigEndian.Uint32(h) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(rb, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			f.Close()
			return nil, nil, nil, err
		}
		lt := func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return l
				}
			}
			return 0xffff
		}
		return ng, lt, f, nil
	}
	pr, err := pcapgo.NewReader(rb)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	link := pr.LinkType()
	return pr, func(gopacket.CaptureInfo) layers.LinkType { return link }, f, nil
}

// runGopacket reads one file with pcapgo, decodes it with
// DecodingLayerParser and reassembles it with reassembly.Assembler, handing
// every connection's bytes to col. FlushAll ends every stream at the end.
func runGopacket(path string, col *collector, o gpOptions) (gpStats, error) {
	var st gpStats
	rd, linkOf, closer, err := openPcap(path)
	if err != nil {
		return st, fmt.Errorf("%s: %v", path, err)
	}
	defer closer.Close()
	var d gpDecoder
	d.init()
	pool := reassembly.NewStreamPool(&gpFactory{col: col, o: &o})
	asm := reassembly.NewAssembler(pool)
	asm.MaxBufferedPagesPerConnection = o.MaxPagesConn
	asm.MaxBufferedPagesTotal = o.MaxPagesTotal
	var frame int64
	var nextFlush time.Time
	for {
		data, ci, err := rd.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s: frame %d: %v", path, frame+1, err)
		}
		frame++
		st.Packets++
		flow, ok, trunc, derr := d.decode(linkOf(ci), data)
		if trunc {
			st.Truncated++
		}
		if !ok {
			if derr != nil {
				st.DecodeErrors++
			} else {
				st.NotTCP++
			}
			continue
		}
		st.TCP++
		if o.DecodeOnly {
			continue
		}
		ci.InterfaceIndex = int(frame)
		ci.AncillaryData = nil
		asm.AssembleWithContext(flow, &d.tcp, &gpContext{ci: ci})
		if o.FlushEvery > 0 {
			switch {
			case nextFlush.IsZero():
				nextFlush = ci.Timestamp.Add(o.FlushEvery)
			case !ci.Timestamp.Before(nextFlush):
				asm.FlushCloseOlderThan(ci.Timestamp.Add(-o.Idle))
				nextFlush = ci.Timestamp.Add(o.FlushEvery)
			}
		}
	}
	asm.FlushAll()
	col.finish()
	return st, nil
}
