package synth

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// LinkKind selects the encapsulation of a packet.
type LinkKind int

// Link kinds.
const (
	LinkEthernet LinkKind = iota
	LinkDot1Q             // Ethernet + one 802.1Q tag
	LinkQinQ              // Ethernet + 802.1ad S-tag + 802.1Q C-tag
	LinkSLL2              // Linux cooked capture v2 (linktype 276)
	LinkRaw               // raw IP (linktype 101)
)

// Link is the encapsulation of a connection's packets.
type Link struct {
	Kind      LinkKind
	VLAN      uint16 // 802.1Q VLAN, or the outer S-VLAN for QinQ
	InnerVLAN uint16 // QinQ inner C-VLAN
}

// LinkType returns the capture file link type of a link kind.
func (k LinkKind) LinkType() layers.LinkType {
	switch k {
	case LinkSLL2:
		return layers.LinkTypeLinuxSLL2
	case LinkRaw:
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// mac derives a stable locally-administered-looking MAC from an address
// (Hyper-V OUI 00:15:5d, last three address bytes).
func mac(a netip.Addr) net.HardwareAddr {
	b := a.AsSlice()
	n := len(b)
	return net.HardwareAddr{0x00, 0x15, 0x5d, b[n-3], b[n-2], b[n-1]}
}

// Frame serialises p with its link layer; checksums and lengths are computed.
func (p Packet) Frame() ([]byte, error) {
	if p.Frag != nil {
		return p.fragFrame()
	}
	var l4 interface {
		gopacket.SerializableLayer
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	proto := layers.IPProtocolTCP
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()),
		Seq: p.Seq, Ack: p.Ack, Window: p.Window,
		FIN: p.Flags&TCPFin != 0, SYN: p.Flags&TCPSyn != 0, RST: p.Flags&TCPRst != 0,
		PSH: p.Flags&TCPPsh != 0, ACK: p.Flags&TCPAck != 0,
	}
	if p.SYNOpts {
		tcp.Options = []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACKPermitted},
		}
	}
	l4 = tcp
	if p.UDP {
		proto = layers.IPProtocolUDP
		l4 = &layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
	}
	var ip gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	if p.Src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: p.TTL, Id: p.IPID, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		if err := l4.SetNetworkLayerForChecksum(ip4); err != nil {
			return nil, err
		}
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: p.TTL, NextHeader: proto,
			SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		if err := l4.SetNetworkLayerForChecksum(ip6); err != nil {
			return nil, err
		}
		ip = ip6
		ethType = layers.EthernetTypeIPv6
	}
	return p.withLink([]gopacket.SerializableLayer{ip, l4, gopacket.Payload(p.Payload)}, ethType)
}

// withLink serialises the network layers ls under p's link layer.
func (p Packet) withLink(ls []gopacket.SerializableLayer, ethType layers.EthernetType) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: mac(p.Src.Addr()), DstMAC: mac(p.Dst.Addr()), EthernetType: ethType}
	switch p.Link.Kind {
	case LinkEthernet:
		ls = append([]gopacket.SerializableLayer{eth}, ls...)
	case LinkDot1Q:
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append([]gopacket.SerializableLayer{eth, &layers.Dot1Q{VLANIdentifier: p.Link.VLAN, Type: ethType}}, ls...)
	case LinkQinQ:
		eth.EthernetType = layers.EthernetTypeQinQ
		ls = append([]gopacket.SerializableLayer{eth,
			&layers.Dot1Q{VLANIdentifier: p.Link.VLAN, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: p.Link.InnerVLAN, Type: ethType}}, ls...)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if p.Link.Kind == LinkSLL2 {
		// Linux SLL2 header (20 bytes, big-endian): protocol, reserved,
		// ifindex, ARPHRD, packet type, address length, address (8).
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(ethType))
		binary.BigEndian.PutUint32(h[4:], 2)
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10] = 0                            // PACKET_HOST
		if p.Src.Port() < p.Dst.Port() {     // server -> client: captured on the server
			h[10] = 4 // PACKET_OUTGOING
		}
		h[11] = 6
		copy(h[12:], mac(p.Src.Addr()))
		out = append(h, out...)
	}
	return append([]byte(nil), out...), nil
}

// Format is a capture file format.
type Format int

// File formats.
const (
	FormatPcap   Format = iota // little-endian pcap, microsecond timestamps
	FormatPcapNs               // little-endian pcap, nanosecond timestamps
	FormatPcapBE               // big-endian pcap, microsecond timestamps
	FormatPcapNG               // pcapng, one IDB per Interfaces entry
	FormatPcapGz               // gzip-compressed FormatPcap
)

func (f Format) String() string {
	return [...]string{"pcap", "pcap-ns", "pcap-be", "pcapng", "pcap.gz"}[f]
}

// Interface describes a pcapng interface.
type Interface struct {
	Name    string
	Link    LinkKind
	TSResol uint8 // if_tsresol: 6 = microseconds, 9 = nanoseconds
}

const snaplen = 262144

// Encode writes the packets of c in the given format. For pcap formats the
// link type is ifaces[0].Link.
func (c *Capture) Encode(f Format, ifaces []Interface) ([]byte, error) {
	var buf bytes.Buffer
	frames := make([][]byte, len(c.Packets))
	for i, p := range c.Packets {
		fr, err := p.Frame()
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i+1, err)
		}
		frames[i] = fr
	}
	lt := ifaces[0].Link.LinkType()
	switch f {
	case FormatPcap, FormatPcapNs, FormatPcapGz:
		var w *pcapgo.Writer
		if f == FormatPcapNs {
			w = pcapgo.NewWriterNanos(&buf)
		} else {
			w = pcapgo.NewWriter(&buf)
		}
		if err := w.WriteFileHeader(snaplen, lt); err != nil {
			return nil, err
		}
		for i, p := range c.Packets {
			ci := gopacket.CaptureInfo{Timestamp: p.TS, CaptureLength: len(frames[i]), Length: len(frames[i])}
			if err := w.WritePacket(ci, frames[i]); err != nil {
				return nil, err
			}
		}
		if f == FormatPcapGz {
			var z bytes.Buffer
			zw, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
			if err != nil {
				return nil, err
			}
			zw.Name = c.Name + ".pcap"
			zw.ModTime = Start
			if _, err := zw.Write(buf.Bytes()); err != nil {
				return nil, err
			}
			if err := zw.Close(); err != nil {
				return nil, err
			}
			return z.Bytes(), nil
		}
	case FormatPcapBE:
		be := binary.BigEndian
		var h []byte
		h = be.AppendUint32(h, 0xa1b2c3d4)
		h = be.AppendUint16(h, 2)
		h = be.AppendUint16(h, 4)
		h = be.AppendUint32(h, 0)
		h = be.AppendUint32(h, 0)
		h = be.AppendUint32(h, snaplen)
		h = be.AppendUint32(h, uint32(lt))
		buf.Write(h)
		for i, p := range c.Packets {
			var r []byte
			r = be.AppendUint32(r, uint32(p.TS.Unix()))
			r = be.AppendUint32(r, uint32(p.TS.Nanosecond()/1000))
			r = be.AppendUint32(r, uint32(len(frames[i])))
			r = be.AppendUint32(r, uint32(len(frames[i])))
			buf.Write(r)
			buf.Write(frames[i])
		}
	case FormatPcapNG:
		writePcapNG(&buf, c.Packets, frames, ifaces)
	}
	return buf.Bytes(), nil
}

// writePcapNG writes a little-endian pcapng section by hand: pcapgo's
// NgWriter fixes if_tsresol to 9 and records the host OS/arch in the SHB,
// and here each interface needs its own resolution and the bytes must not
// depend on the machine.
func writePcapNG(buf *bytes.Buffer, pkts []Packet, frames [][]byte, ifaces []Interface) {
	le := binary.LittleEndian
	opt := func(b []byte, code uint16, v []byte) []byte {
		b = le.AppendUint16(b, code)
		b = le.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		var b []byte
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, n)
		b = append(b, body...)
		b = le.AppendUint32(b, n)
		buf.Write(b)
	}
	// Section Header Block.
	var shb []byte
	shb = le.AppendUint32(shb, 0x1a2b3c4d)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, 0xffffffffffffffff)
	shb = opt(shb, 4, []byte("nspicap internal/synth")) // shb_userappl
	shb = opt(shb, 0, nil)
	block(0x0a0d0d0a, shb)
	// Interface Description Blocks.
	for _, ifc := range ifaces {
		var idb []byte
		idb = le.AppendUint16(idb, uint16(ifc.Link.LinkType()))
		idb = le.AppendUint16(idb, 0)
		idb = le.AppendUint32(idb, snaplen)
		idb = opt(idb, 2, []byte(ifc.Name))    // if_name
		idb = opt(idb, 9, []byte{ifc.TSResol}) // if_tsresol
		idb = opt(idb, 0, nil)
		block(1, idb)
	}
	// Enhanced Packet Blocks.
	for i, p := range pkts {
		units := uint64(p.TS.UnixNano())
		if ifaces[p.Iface].TSResol == 6 {
			units /= 1000
		}
		var epb []byte
		epb = le.AppendUint32(epb, uint32(p.Iface))
		epb = le.AppendUint32(epb, uint32(units>>32))
		epb = le.AppendUint32(epb, uint32(units))
		epb = le.AppendUint32(epb, uint32(len(frames[i])))
		epb = le.AppendUint32(epb, uint32(len(frames[i])))
		epb = append(epb, frames[i]...)
		block(6, epb)
	}
}
