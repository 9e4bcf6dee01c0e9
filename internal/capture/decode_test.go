package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	s4 = seg{"192.0.2.1:49152", "192.0.2.2:135", 1000, 2000, "PA", "payload-4"}
	s6 = seg{"[2001:db8::1]:49152", "[2001:db8::2]:135", 1000, 2000, "PA", "payload-6"}
)

func checkDecoded(t *testing.T, name string, p *tcpPacket, s seg) {
	t.Helper()
	if p.src != netip.MustParseAddrPort(s.src) || p.dst != netip.MustParseAddrPort(s.dst) ||
		p.seq != s.seq || p.ack != s.ack || string(p.payload) != s.payload || p.missing != 0 ||
		p.flags != flagPSH|flagACK {
		t.Errorf("%s: decoded %v>%v seq %d ack %d flags %#x payload %q missing %d",
			name, p.src, p.dst, p.seq, p.ack, p.flags, p.payload, p.missing)
	}
}

func vlan(tpid uint16, vid uint16) []byte {
	return []byte{byte(tpid >> 8), byte(tpid), byte(vid >> 8), byte(vid)}
}

// withTags inserts VLAN tags after the Ethernet addresses of an Ethernet
// frame; tags[i] is the TPID of tag i.
func withTags(f []byte, tpids ...uint16) []byte {
	out := append([]byte(nil), f[:12]...)
	for i, tp := range tpids {
		out = append(out, vlan(tp, uint16(10+i))...)
	}
	return append(out, f[12:]...)
}

func TestDecodeLinkTypes(t *testing.T) {
	for _, s := range []seg{s4, s6} {
		ip := ipPacket(t, s)
		v := "v4"
		if ip[0]>>4 == 6 {
			v = "v6"
		}
		eth := frame(linkEthernet, ip)
		nullBE := append(binary.BigEndian.AppendUint32(nil, map[string]uint32{"v4": 2, "v6": 28}[v]), ip...)
		cases := []struct {
			name string
			lt   uint16
			data []byte
		}{
			{"ethernet", linkEthernet, eth},
			{"802.1q", linkEthernet, withTags(eth, etherVLAN)},
			{"qinq-88a8", linkEthernet, withTags(eth, etherQinQ, etherVLAN)},
			{"qinq-9100", linkEthernet, withTags(eth, etherQinQ2, etherVLAN, etherVLAN)},
			{"sll", linkSLL, frame(linkSLL, ip)},
			{"sll2", linkSLL2, frame(linkSLL2, ip)},
			{"raw101", linkRaw, ip},
			{"raw12", linkRawDLT12, ip},
			{"null-le", linkNull, frame(linkNull, ip)},
			{"null-be", linkNull, nullBE},
			{"loop", linkLoop, frame(linkLoop, ip)},
		}
		if v == "v4" {
			cases = append(cases, struct {
				name string
				lt   uint16
				data []byte
			}{"ipv4", linkIPv4, ip})
		} else {
			cases = append(cases, struct {
				name string
				lt   uint16
				data []byte
			}{"ipv6", linkIPv6, ip})
		}
		for _, c := range cases {
			var p tcpPacket
			if r := decodePacket(c.lt, c.data, 0, &p); r != decTCP {
				t.Errorf("%s/%s: result %d", c.name, v, r)
				continue
			}
			checkDecoded(t, c.name+"/"+v, &p, s)
		}
	}
}

func TestDecodeOddities(t *testing.T) {
	ip := ipPacket(t, s4)
	var p tcpPacket

	// Ethernet padding after a short packet is not payload.
	short := seg{s4.src, s4.dst, 1, 1, "PA", "x"}
	padded := append(frame(linkEthernet, ipPacket(t, short)), 0, 0, 0, 0, 0, 0)
	if r := decodePacket(linkEthernet, padded, 0, &p); r != decTCP || string(p.payload) != "x" {
		t.Errorf("padding: %d %q", r, p.payload)
	}

	// Snap length: 5 of 9 payload bytes captured.
	cut := ip[:len(ip)-4]
	if r := decodePacket(linkRaw, cut, 4, &p); r != decTCP || string(p.payload) != "paylo" || p.missing != 4 {
		t.Errorf("snap: %d %q missing %d", r, p.payload, p.missing)
	}
	// The IP length overstates, but the frame was captured whole: no loss.
	if r := decodePacket(linkRaw, cut, 0, &p); r != decTCP || p.missing != 0 {
		t.Errorf("lying length: %d missing %d", r, p.missing)
	}
	// Headers cut.
	for _, n := range []int{0, 1, 10, 20, 30, 39} {
		if r := decodePacket(linkRaw, ip[:n], 100, &p); r != decTruncated {
			t.Errorf("cut at %d: %d", n, r)
		}
	}
	if r := decodePacket(linkEthernet, frame(linkEthernet, ip)[:10], 0, &p); r != decTruncated {
		t.Errorf("short ethernet: %d", r)
	}

	// Non-first IPv4 fragment.
	frag := append([]byte(nil), ip...)
	binary.BigEndian.PutUint16(frag[6:8], 100)
	if r := decodePacket(linkRaw, frag, 0, &p); r != decNotTCP {
		t.Errorf("fragment: %d", r)
	}
	// First fragment (MF set): decoded.
	binary.BigEndian.PutUint16(frag[6:8], 0x2000)
	if r := decodePacket(linkRaw, frag, 0, &p); r != decTCP {
		t.Errorf("first fragment: %d", r)
	}

	// Not TCP; not IP.
	udp := append([]byte(nil), ip...)
	udp[9] = 17
	if r := decodePacket(linkRaw, udp, 0, &p); r != decNotTCP {
		t.Errorf("udp: %d", r)
	}
	arp := append(append(append([]byte(nil), macB...), macA...), 0x08, 0x06, 0, 1)
	if r := decodePacket(linkEthernet, arp, 0, &p); r != decNonIP {
		t.Errorf("arp: %d", r)
	}
	if r := decodePacket(linkNull, []byte{7, 0, 0, 0, 0x45}, 0, &p); r != decNonIP {
		t.Errorf("null af 7: %d", r)
	}
	if r := decodePacket(147, ip, 0, &p); r != decNonIP {
		t.Errorf("unknown link type: %d", r)
	}
	if r := decodePacket(linkRaw, []byte{0x15, 0, 0}, 0, &p); r != decNonIP {
		t.Errorf("raw version 1: %d", r)
	}
}

func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	build := func(fragOff uint16) []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Destination, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		dopt := &layers.IPv6Destination{}
		dopt.NextHeader = layers.IPProtocolIPv6Fragment
		dopt.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionData: []byte{0, 0, 0, 0}}}
		fr := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: fragOff, Identification: 7}
		tcp := &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, ACK: true, PSH: true, Window: 1}
		tcp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, dopt, fr, tcp, gopacket.Payload("ext"))
	}
	var p tcpPacket
	if r := decodePacket(linkIPv6, build(0), 0, &p); r != decTCP || string(p.payload) != "ext" || p.seq != 3 {
		t.Fatalf("ext headers: %d %q", r, p.payload)
	}
	if r := decodePacket(linkIPv6, build(10), 0, &p); r != decNotTCP {
		t.Fatalf("non-first fragment: %d", r)
	}
}

// TestDecodeCrossCheck compares decodePacket with gopacket's layers on
// generated packets.
func TestDecodeCrossCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		data, desc := randomFrame(t, rng)
		var p tcpPacket
		r := decodePacket(linkEthernet, data, 0, &p)
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
		tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tl == nil {
			if r == decTCP {
				t.Fatalf("%d %s: we decoded TCP, gopacket did not: %v", i, desc, pkt)
			}
			continue
		}
		if r != decTCP {
			t.Fatalf("%d %s: result %d, gopacket found TCP", i, desc, r)
		}
		var src, dst netip.Addr
		switch n := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(n.SrcIP)
			dst, _ = netip.AddrFromSlice(n.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(n.SrcIP)
			dst, _ = netip.AddrFromSlice(n.DstIP)
		}
		want := fmt.Sprintf("%v>%v seq=%d ack=%d syn=%v fin=%v rst=%v ackf=%v payload=%x",
			netip.AddrPortFrom(src, uint16(tl.SrcPort)), netip.AddrPortFrom(dst, uint16(tl.DstPort)),
			tl.Seq, tl.Ack, tl.SYN, tl.FIN, tl.RST, tl.ACK, tl.Payload)
		got := fmt.Sprintf("%v>%v seq=%d ack=%d syn=%v fin=%v rst=%v ackf=%v payload=%x",
			p.src, p.dst, p.seq, p.ack, p.flags&flagSYN != 0, p.flags&flagFIN != 0, p.flags&flagRST != 0,
			p.flags&flagACK != 0, p.payload)
		if got != want {
			t.Fatalf("%d %s:\n got %s\nwant %s", i, desc, got, want)
		}
	}
}

// randomFrame builds an Ethernet frame: optional VLAN tags, IPv4 (with
// options) or IPv6 (with extension headers), TCP with options, payload,
// and sometimes padding or a UDP packet instead.
func randomFrame(t *testing.T, rng *rand.Rand) ([]byte, string) {
	var ls []gopacket.SerializableLayer
	desc := ""
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB}
	ls = append(ls, eth)
	setType := func(et layers.EthernetType) { eth.EthernetType = et }
	ntags := rng.IntN(3)
	for range ntags {
		tag := &layers.Dot1Q{VLANIdentifier: uint16(rng.IntN(4096))}
		setType(layers.EthernetTypeDot1Q)
		setType = func(et layers.EthernetType) { tag.Type = et }
		ls = append(ls, tag)
		desc += "vlan/"
	}
	payload := make([]byte, rng.IntN(40))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(rng.Uint32()), DstPort: layers.TCPPort(rng.Uint32()),
		Seq: rng.Uint32(), Ack: rng.Uint32(), Window: 100,
		SYN: rng.IntN(2) == 0, ACK: rng.IntN(2) == 0, FIN: rng.IntN(4) == 0, RST: rng.IntN(8) == 0,
	}
	if rng.IntN(2) == 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
		desc += "tcpopt/"
	}
	var nl gopacket.NetworkLayer
	if rng.IntN(2) == 0 {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: []byte{10, byte(rng.IntN(256)), 0, 1}, DstIP: []byte{10, 0, byte(rng.IntN(256)), 2}}
		if rng.IntN(3) == 0 {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			desc += "ipopt/"
		}
		setType(layers.EthernetTypeIPv4)
		ls = append(ls, ip)
		nl = ip
		desc += "ipv4"
	} else {
		src := netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(rng.IntN(256))})
		dst := netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 14: byte(rng.IntN(256)), 15: 2})
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		setType(layers.EthernetTypeIPv6)
		ls = append(ls, ip)
		nl = ip
		desc += "ipv6"
		if rng.IntN(2) == 0 {
			ip.NextHeader = layers.IPProtocolIPv6Destination
			d := &layers.IPv6Destination{}
			d.NextHeader = layers.IPProtocolTCP
			d.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionData: make([]byte, 4+8*rng.IntN(2))}}
			ls = append(ls, d)
			desc += "/dstopt"
		}
	}
	tcp.SetNetworkLayerForChecksum(nl)
	if rng.IntN(10) == 0 {
		udp := &layers.UDP{SrcPort: 1, DstPort: 2}
		udp.SetNetworkLayerForChecksum(nl)
		switch ip := nl.(type) {
		case *layers.IPv4:
			ip.Protocol = layers.IPProtocolUDP
		case *layers.IPv6:
			if ip.NextHeader == layers.IPProtocolTCP {
				ip.NextHeader = layers.IPProtocolUDP
			} else {
				ls[len(ls)-1].(*layers.IPv6Destination).NextHeader = layers.IPProtocolUDP
			}
		}
		ls = append(ls, udp, gopacket.Payload(payload))
		desc += "/udp"
	} else {
		ls = append(ls, tcp, gopacket.Payload(payload))
	}
	b := serialize(t, ls...)
	if len(b) < 60 && rng.IntN(2) == 0 {
		b = append(b, bytes.Repeat([]byte{0}, 60-len(b))...)
		desc += "/padded"
	}
	return b, desc
}

func TestDecodeIPv6HopByHopRouting(t *testing.T) {
	ip := ipPacket(t, s6)
	hbh := []byte{43, 0, 1, 4, 0, 0, 0, 0} // next: routing; PadN
	rt := []byte{6, 0, 0, 0, 0, 0, 0, 0}   // next: TCP
	b := append(append(append(append([]byte(nil), ip[:40]...), hbh...), rt...), ip[40:]...)
	b[6] = 0
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)-40))
	var p tcpPacket
	if r := decodePacket(linkIPv6, b, 0, &p); r != decTCP {
		t.Fatalf("result %d", r)
	}
	checkDecoded(t, "hbh+routing", &p, s6)
	for _, n := range []int{41, 47, 52} {
		if r := decodePacket(linkIPv6, b[:n], 0, &p); r != decTruncated {
			t.Errorf("cut at %d: %d", n, r)
		}
	}
	b[40] = 17 // UDP after hop-by-hop
	if r := decodePacket(linkIPv6, b, 0, &p); r != decNotTCP {
		t.Errorf("udp: %d", r)
	}
}
