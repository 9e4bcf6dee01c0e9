package capture

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// BenchmarkDecodeVsGopacket decodes the same frames with decodePacket and
// with gopacket's DecodingLayerParser (the zero-allocation way gopacket
// offers), for docs/reassembly.md. The parser decodes every layer's fields
// (IPv4 options, TCP options, flows); decodePacket only what reassembly
// needs.
func BenchmarkDecodeVsGopacket(b *testing.B) {
	cases := []struct {
		name string
		lt   uint16
		data []byte
		tags bool // stacked VLAN tags need the Dot1Q layer
	}{
		{"Ethernet-IPv4-TCP", linkEthernet, frame(linkEthernet, ipPacket(b, s4)), false},
		{"Ethernet-VLAN-IPv4-TCP", linkEthernet, withTags(frame(linkEthernet, ipPacket(b, s4)), etherVLAN), true},
		{"SLL2-IPv6-TCP", linkSLL2, frame(linkSLL2, ipPacket(b, s6)), false},
	}
	for _, c := range cases {
		b.Run(c.name+"/ours", func(b *testing.B) {
			var p tcpPacket
			b.ReportAllocs()
			for b.Loop() {
				if decodePacket(c.lt, c.data, 0, &p) != decTCP {
					b.Fatal("not decoded")
				}
			}
		})
		b.Run(c.name+"/gopacket", func(b *testing.B) {
			var (
				eth  layers.Ethernet
				vlan layers.Dot1Q
				sll2 layers.LinuxSLL2
				ip4  layers.IPv4
				ip6  layers.IPv6
				tcp  layers.TCP
			)
			first := layers.LayerTypeEthernet
			if c.lt == linkSLL2 {
				first = layers.LayerTypeLinuxSLL2
			}
			p := gopacket.NewDecodingLayerParser(first, &eth, &vlan, &sll2, &ip4, &ip6, &tcp)
			p.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.DecodeLayers(c.data, &decoded); err != nil || decoded[len(decoded)-1] != layers.LayerTypeTCP {
					b.Fatal("not decoded", err, decoded)
				}
				// What AssembleWithContext needs besides the layer.
				var flow gopacket.Flow
				if decoded[len(decoded)-2] == layers.LayerTypeIPv4 {
					flow = ip4.NetworkFlow()
				} else {
					flow = ip6.NetworkFlow()
				}
				_ = flow
			}
		})
	}
}
