package capture

import (
	"encoding/binary"
	"net/netip"
)

// Link types handled by decodeLink. The numbers are LINKTYPE_* values from
// the tcpdump link-layer header type registry; 12 and 14 are the DLT_RAW
// values some systems write instead of 101.
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawDLT12 = 12
	linkRawDLT14 = 14
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkNFLOG    = 239
	linkSLL2     = 276
)

const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherQinQ2 = 0x9100
)

// TCP flag bits (RFC 9293 section 3.1).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// decodeResult says what decodePacket found.
type decodeResult uint8

const (
	decTCP       decodeResult = iota // a TCP segment; the tcpPacket is filled in
	decNonIP                         // the link layer carries something other than IP
	decNotTCP                        // IP, but not TCP (or a non-first fragment)
	decTruncated                     // the capture cut the headers short
	decMalformed                     // headers that contradict themselves
	decFragment                      // a fragment of an IP datagram carrying TCP (or UDP, p.udp set); p.frag is filled in
	decUDP                           // a UDP datagram to or from port 88 (p.udp set); src, dst and payload filled in
)

// tcpPacket is one decoded TCP segment. payload aliases the packet buffer.
type tcpPacket struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	payload  []byte
	// missing is the number of payload bytes the IP length announces but
	// the capture does not hold (snap length).
	missing int
	// frag, when set, receives a fragment of a datagram carrying TCP, or
	// UDP when udp is set (decFragment). When nil, non-first fragments
	// are skipped and first fragments decoded as they are.
	frag *fragInfo
	// udp: decode UDP datagrams to or from port 88 (Kerberos) as decUDP,
	// and keep the fragments of every UDP datagram (the ports are only in
	// the first one: defrag.go); otherwise, and for every other port, UDP
	// is decNotTCP.
	udp bool
}

// maxVLANTags bounds the walk over stacked 802.1Q / 802.1ad tags.
const maxVLANTags = 8

// decodePacket decodes the link, IP and TCP headers of one frame. wireExtra
// is the number of bytes of the frame that were on the wire but not captured
// (original length minus captured length); it bounds p.missing. It does not
// allocate.
func decodePacket(linkType uint16, data []byte, wireExtra int, p *tcpPacket) decodeResult {
	var ip []byte
	switch linkType {
	case linkEthernet:
		if len(data) < 14 {
			return decTruncated
		}
		return decodeEtherType(binary.BigEndian.Uint16(data[12:14]), data[14:], wireExtra, p)
	case linkSLL:
		// Linux cooked v1: packet type, ARPHRD, address length, 8 address
		// bytes, protocol (offset 14).
		if len(data) < 16 {
			return decTruncated
		}
		return decodeEtherType(binary.BigEndian.Uint16(data[14:16]), data[16:], wireExtra, p)
	case linkSLL2:
		// Linux cooked v2: protocol first, then reserved, ifindex, ARPHRD,
		// packet type, address length, 8 address bytes.
		if len(data) < 20 {
			return decTruncated
		}
		return decodeEtherType(binary.BigEndian.Uint16(data[0:2]), data[20:], wireExtra, p)
	case linkRaw, linkRawDLT12, linkRawDLT14:
		ip = data
		if len(ip) < 1 {
			return decTruncated
		}
		switch ip[0] >> 4 {
		case 4:
			return decodeIPv4(ip, wireExtra, p)
		case 6:
			return decodeIPv6(ip, wireExtra, p)
		}
		return decNonIP
	case linkIPv4:
		return decodeIPv4(data, wireExtra, p)
	case linkIPv6:
		return decodeIPv6(data, wireExtra, p)
	case linkNFLOG:
		return decodeNFLOG(data, wireExtra, p)
	case linkNull, linkLoop:
		if len(data) < 4 {
			return decTruncated
		}
		var af uint32
		if linkType == linkLoop {
			af = binary.BigEndian.Uint32(data)
		} else if data[0] != 0 || data[1] != 0 {
			// Host byte order of the capturing machine: the family
			// numbers are small, so a non-zero low address byte means
			// little endian.
			af = binary.LittleEndian.Uint32(data)
		} else {
			af = binary.BigEndian.Uint32(data)
		}
		switch af {
		case 2:
			return decodeIPv4(data[4:], wireExtra, p)
		case 24, 28, 30:
			return decodeIPv6(data[4:], wireExtra, p)
		}
		return decNonIP
	}
	return decNonIP
}

// maxNFLOGTLVs bounds the walk over an NFLOG record's TLVs.
const maxNFLOGTLVs = 32

// decodeNFLOG decodes a Linux netfilter log record (LINKTYPE_NFLOG, 239):
// a 4-byte header (address family, version, resource ID), then TLVs of a
// 16-bit length (header included, padding to 4 bytes not) and a 16-bit
// type, in the byte order of the host that captured; type 9
// (NFULA_PAYLOAD) holds the IP packet. The byte order is that of the file
// (libpcap swaps the TLV headers of a foreign file); it is told here from
// the first TLV's type, below 256 in either order (the top two bits are
// netlink flags).
func decodeNFLOG(data []byte, wireExtra int, p *tcpPacket) decodeResult {
	if len(data) < 8 {
		return decTruncated
	}
	family := data[0]
	if family != 2 && family != 10 { // AF_INET, AF_INET6
		return decNonIP
	}
	big := data[6]&0x3f == 0 && data[7] != 0
	rest := data[4:]
	for range maxNFLOGTLVs {
		if len(rest) == 0 && wireExtra == 0 {
			return decNonIP // no payload: a record of the log prefix alone
		}
		if len(rest) < 4 {
			return decTruncated
		}
		var l, typ uint16
		if big {
			l, typ = binary.BigEndian.Uint16(rest[0:2]), binary.BigEndian.Uint16(rest[2:4])
		} else {
			l, typ = binary.LittleEndian.Uint16(rest[0:2]), binary.LittleEndian.Uint16(rest[2:4])
		}
		if l < 4 {
			return decMalformed
		}
		if typ&0x3fff == 9 {
			ip := rest[4:]
			if int(l) <= len(rest) {
				ip = rest[4:l]
			}
			if family == 2 {
				return decodeIPv4(ip, wireExtra, p)
			}
			return decodeIPv6(ip, wireExtra, p)
		}
		n := (int(l) + 3) &^ 3
		if n > len(rest) {
			return decTruncated
		}
		rest = rest[n:]
	}
	return decNonIP
}

// decodeEtherType follows VLAN tags and hands IP on.
func decodeEtherType(et uint16, rest []byte, wireExtra int, p *tcpPacket) decodeResult {
	for range maxVLANTags {
		switch et {
		case etherIPv4:
			return decodeIPv4(rest, wireExtra, p)
		case etherIPv6:
			return decodeIPv6(rest, wireExtra, p)
		case etherVLAN, etherQinQ, etherQinQ2:
			if len(rest) < 4 {
				return decTruncated
			}
			et = binary.BigEndian.Uint16(rest[2:4])
			rest = rest[4:]
		default:
			return decNonIP
		}
	}
	return decNonIP
}

// decodeIPv4 decodes an IPv4 header (RFC 791 section 3.1).
func decodeIPv4(b []byte, wireExtra int, p *tcpPacket) decodeResult {
	if len(b) < 20 {
		if len(b) > 0 && b[0]>>4 != 4 {
			return decMalformed
		}
		return decTruncated
	}
	if b[0]>>4 != 4 {
		return decMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return decMalformed
	}
	if len(b) < ihl {
		return decTruncated
	}
	// Flags and fragment offset: MF or an offset makes a fragment (DF
	// alone does not). This one test is all that whole datagrams pay.
	if ff := binary.BigEndian.Uint16(b[6:8]); ff&0x3fff != 0 {
		if p.frag != nil && (b[9] == 6 || b[9] == 17 && p.udp) {
			return ipv4Fragment(b, ihl, ff, p.frag)
		}
		if ff&0x1fff != 0 {
			return decNotTCP // non-first fragment: no TCP header here
		}
	}
	if b[9] != 6 {
		if b[9] == 17 && p.udp {
			if total := int(binary.BigEndian.Uint16(b[2:4])); total >= ihl && total <= len(b) {
				b = b[:total]
			}
			return decodeUDP(b[ihl:], netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), p)
		}
		return decNotTCP
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	missing := 0
	switch {
	case total == 0:
		// Segmentation offload on the capturing host: the length field is
		// not filled in. Take what was captured.
	case total < ihl:
		return decMalformed
	case total <= len(b):
		b = b[:total] // drop link-layer padding
	default:
		missing = total - len(b)
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return decodeTCP(b[ihl:], src, dst, missing, wireExtra, p)
}

// ipv4Fragment reports a fragment of an IPv4 datagram that carries TCP or
// UDP.
func ipv4Fragment(b []byte, ihl int, ff uint16, f *fragInfo) decodeResult {
	total := int(binary.BigEndian.Uint16(b[2:4]))
	cut := false
	switch {
	case total == 0:
	case total < ihl:
		return decMalformed
	case total <= len(b):
		b = b[:total]
	default:
		cut = true
	}
	*f = fragInfo{src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20])),
		id: uint32(binary.BigEndian.Uint16(b[4:6])), proto: b[9], off: int(ff&0x1fff) * 8, more: ff&0x2000 != 0,
		data: b[ihl:], cut: cut}
	return decFragment
}

// maxIPv6ExtHeaders bounds the walk over IPv6 extension headers.
const maxIPv6ExtHeaders = 16

// decodeIPv6 decodes an IPv6 header and its extension headers (RFC 8200
// sections 3 and 4).
func decodeIPv6(b []byte, wireExtra int, p *tcpPacket) decodeResult {
	if len(b) < 40 {
		if len(b) > 0 && b[0]>>4 != 6 {
			return decMalformed
		}
		return decTruncated
	}
	if b[0]>>4 != 6 {
		return decMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	rest := b[40:]
	missing := 0
	switch {
	case plen == 0:
		// Jumbogram or offloaded segment: take what was captured.
	case plen <= len(rest):
		rest = rest[:plen]
	default:
		missing = plen - len(rest)
	}
	for range maxIPv6ExtHeaders {
		switch next {
		case 6:
			return decodeTCP(rest, src, dst, missing, wireExtra, p)
		case 17:
			if p.udp {
				return decodeUDP(rest, src, dst, p)
			}
			return decNotTCP
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return decTruncated
			}
			n := (int(rest[1]) + 1) * 8
			if len(rest) < n {
				return decTruncated
			}
			next = rest[0]
			rest = rest[n:]
		case 44: // fragment
			if len(rest) < 8 {
				return decTruncated
			}
			offM := binary.BigEndian.Uint16(rest[2:4])
			if p.frag != nil && (rest[0] == 6 || rest[0] == 17 && p.udp) && offM&0xfff9 != 0 {
				// Offset or M set (an atomic fragment, RFC 6946, is
				// a whole datagram).
				f := p.frag
				*f = fragInfo{src: src, dst: dst, id: binary.BigEndian.Uint32(rest[4:8]), v6: true, proto: rest[0],
					off: int(offM & 0xfff8), more: offM&1 != 0, data: rest[8:], cut: missing > 0}
				return decFragment
			}
			if offM&0xfff8 != 0 {
				return decNotTCP // non-first fragment
			}
			next = rest[0]
			rest = rest[8:]
		default:
			return decNotTCP
		}
	}
	return decNotTCP
}

// decodeTCP decodes a TCP header (RFC 9293 section 3.1). missing is the
// number of bytes the IP length announces beyond the captured ones.
func decodeTCP(b []byte, src, dst netip.Addr, missing, wireExtra int, p *tcpPacket) decodeResult {
	if len(b) < 20 {
		return decTruncated
	}
	off := int(b[12]>>4) * 4
	if off < 20 {
		return decMalformed
	}
	if len(b) < off {
		return decTruncated
	}
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:2]))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:4]))
	p.seq = binary.BigEndian.Uint32(b[4:8])
	p.ack = binary.BigEndian.Uint32(b[8:12])
	p.flags = b[13]
	p.payload = b[off:]
	// Bytes counted by the IP length but absent from the capture can only
	// be the ones the snap length cut; anything beyond that is a lying
	// length field, not lost data.
	if missing > wireExtra {
		missing = wireExtra
	}
	if missing < 0 {
		missing = 0
	}
	p.missing = missing
	return decTCP
}

// kerberosPort is the port of the UDP datagrams decodeUDP hands on (RFC
// 4120 7.2.1).
const kerberosPort = 88

// decodeUDP decodes a UDP header (RFC 768) and keeps the datagram when
// either port is 88: the payload is the bytes the UDP length announces,
// or those captured when fewer (a datagram the snap length cut is decoded
// as far as it goes; the Kerberos decoder rejects a cut message).
func decodeUDP(b []byte, src, dst netip.Addr, p *tcpPacket) decodeResult {
	if len(b) < 8 {
		return decTruncated
	}
	sp, dp := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	if sp != kerberosPort && dp != kerberosPort {
		return decNotTCP
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < 8 {
		return decMalformed
	}
	pl := b[8:]
	if n-8 < len(pl) {
		pl = pl[:n-8]
	}
	p.src = netip.AddrPortFrom(src, sp)
	p.dst = netip.AddrPortFrom(dst, dp)
	p.payload = pl
	p.missing = n - 8 - len(pl)
	return decUDP
}
