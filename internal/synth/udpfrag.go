package synth

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// UDP datagrams that leave in IP fragments (RFC 791 3.2, RFC 8200 4.5), as a
// KDC reply with a large PAC does when it exceeds the path's MTU: the
// datagram (UDP header with its checksum, then the payload) is cut into
// pieces of a multiple of 8 bytes, each the payload of one IP packet with
// the datagram's identification, its offset and the more-fragments flag.
// Only the first piece holds the UDP header, and so the ports.

// IPFrag is one fragment of an IP datagram carrying UDP.
type IPFrag struct {
	// Off is the offset of Data in the datagram's IP payload (a multiple
	// of 8); More sets MF (IPv4) or M (IPv6).
	Off  int
	More bool
	// ID is the identification every fragment of the datagram shares
	// (16 bits for IPv4, 32 for IPv6's fragment header).
	ID   uint32
	Data []byte
}

// fragFrame serialises a fragment: the IPv4 header with the fragment's
// flags and offset, or the IPv6 header and a fragment header, then its
// share of the UDP datagram.
func (p Packet) fragFrame() ([]byte, error) {
	f := p.Frag
	if p.Src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: p.TTL, Id: uint16(f.ID), FragOffset: uint16(f.Off / 8),
			Protocol: layers.IPProtocolUDP, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		if f.More {
			ip4.Flags = layers.IPv4MoreFragments
		}
		return p.withLink([]gopacket.SerializableLayer{ip4, gopacket.Payload(f.Data)}, layers.EthernetTypeIPv4)
	}
	ip6 := &layers.IPv6{Version: 6, HopLimit: p.TTL, NextHeader: layers.IPProtocolIPv6Fragment,
		SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
	fh := make([]byte, 8, 8+len(f.Data))
	fh[0] = byte(layers.IPProtocolUDP)
	om := uint16(f.Off)
	if f.More {
		om |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], om)
	binary.BigEndian.PutUint32(fh[4:], f.ID)
	return p.withLink([]gopacket.SerializableLayer{ip6, gopacket.Payload(append(fh, f.Data...))}, layers.EthernetTypeIPv6)
}

// udpDatagram returns the UDP header (checksum over the pseudo-header of
// src and dst) and payload, as the fragments of a datagram carry them.
func udpDatagram(src, dst netip.AddrPort, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var nl gopacket.NetworkLayer
	if src.Addr().Is4() {
		nl = &layers.IPv4{Version: 4, IHL: 5, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	} else {
		nl = &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		panic("synth: UDP checksum: " + err.Error())
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, u, gopacket.Payload(payload)); err != nil {
		panic("synth: UDP datagram: " + err.Error())
	}
	return append([]byte(nil), buf.Bytes()...)
}

// FragPlan says how a UDP datagram leaves in fragments: MTU bounds each
// packet (IP header included), Order lists the fragments (0 the first) in
// the order they are captured; a fragment left out of Order is lost, and
// one listed twice is a duplicate. An empty Order is every fragment in
// order.
type FragPlan struct {
	MTU   int
	Order []int
}

// udpFragments writes the datagram from src to dst carrying payload as IP
// fragments by plan and returns the frame of the fragment that completes it
// (where Wireshark shows "Reassembled IPv4 in frame N"), or 0 when a
// fragment is lost, and the number of fragments.
func (e *env) udpFragments(src, dst netip.AddrPort, payload []byte, plan FragPlan) (complete, pieces int) {
	d := udpDatagram(src, dst, payload)
	hdr := 20
	if !src.Addr().Is4() {
		hdr = 48 // the IPv6 header and the fragment header
	}
	size := (plan.MTU - hdr) &^ 7
	if size < 8 {
		panic("synth: an MTU too small for fragments")
	}
	var frags []IPFrag
	id := uint32(e.c.nextIPID(src.Addr()))
	if !src.Addr().Is4() {
		id = id<<16 | 0x6a5d
	}
	for off := 0; off < len(d); off += size {
		end := min(off+size, len(d))
		frags = append(frags, IPFrag{Off: off, More: end < len(d), ID: id, Data: d[off:end]})
	}
	order := plan.Order
	if len(order) == 0 {
		for i := range frags {
			order = append(order, i)
		}
	}
	seen := make([]bool, len(frags))
	n := 0
	for _, i := range order {
		f := frags[i]
		fr := e.c.emit(Packet{Iface: e.iface, Link: e.link, Src: src, Dst: dst, TTL: 128, Frag: &f})
		if !seen[i] {
			seen[i] = true
			if n++; n == len(frags) {
				complete = fr
			}
		}
	}
	return complete, len(frags)
}
