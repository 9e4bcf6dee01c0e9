package capture

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

type dgramRec struct{ got []string }

func (d *dgramRec) Datagram(src, dst netip.AddrPort, pos Pos, b []byte, cut int) {
	d.got = append(d.got, fmt.Sprintf("%s>%s f%d %q cut=%d", src, dst, pos.Frame, b, cut))
}

func udpPacket(t *testing.T, src, dst string, sp, dp uint16, payload []byte) []byte {
	s, d := net.ParseIP(src), net.ParseIP(dst)
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	if s.To4() != nil {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.To4(), DstIP: d.To4()}
		u.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, u, gopacket.Payload(payload))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: s, DstIP: d}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, u, gopacket.Payload(payload))
}

// TestUDPKerberos: datagrams to or from port 88 reach the DatagramHandler
// (IPv4 and IPv6, padding dropped, a cut one says so); other UDP does not,
// and without a handler nothing is decoded.
func TestUDPKerberos(t *testing.T) {
	pk := func(ip []byte) rec { return rec{ts: t0, data: frame(linkEthernet, ip)} }
	padded := append(frame(linkEthernet, udpPacket(t, "10.0.0.1", "10.0.0.2", 50000, 88, []byte("req"))), 0, 0, 0)
	cut := frame(linkEthernet, udpPacket(t, "10.0.0.2", "10.0.0.1", 88, 50000, []byte("a reply cut")))
	rs := []rec{
		{ts: t0, data: padded},
		{ts: t0, data: cut[:len(cut)-4], origLen: len(cut)},
		pk(udpPacket(t, "2001:db8::2", "2001:db8::1", 88, 50001, []byte("v6"))),
		pk(udpPacket(t, "10.0.0.1", "10.0.0.2", 53, 50000, []byte("dns"))),
	}
	path := writeFile(t, "udp.pcap", pcapLE(t, linkEthernet, false, rs))
	d := &dgramRec{}
	_, st := Run([]string{path}, Options{Datagrams: d})
	want := []string{
		`10.0.0.1:50000>10.0.0.2:88 f1 "req" cut=0`,
		`10.0.0.2:88>10.0.0.1:50000 f2 "a reply" cut=4`,
		`[2001:db8::2]:88>[2001:db8::1]:50001 f3 "v6" cut=0`,
	}
	if fmt.Sprint(d.got) != fmt.Sprint(want) || st.UDPKerberos != 3 || st.TCPPackets != 0 {
		t.Fatalf("got %q (stats %+v)\nwant %q", d.got, st, want)
	}
	if _, st := Run([]string{path}, Options{}); st.UDPKerberos != 0 {
		t.Errorf("without a handler: %+v", st)
	}
}
