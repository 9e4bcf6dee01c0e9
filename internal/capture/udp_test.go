package capture

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
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

// udpFragRun writes the records and runs them with a DatagramHandler.
func udpFragRun(t *testing.T, rs []rec) (*dgramRec, Stats) {
	t.Helper()
	path := writeFile(t, "udpfrag.pcap", pcapLE(t, linkEthernet, false, rs))
	d := &dgramRec{}
	_, st := Run([]string{path}, Options{Datagrams: d})
	return d, st
}

// TestUDPFragments: a UDP datagram to or from port 88 that arrives in IP
// fragments (in order, shuffled, IPv6) is handed on once, whole, at the
// frame of the fragment that completed it; one of another port is never
// handed on, and its bytes are freed as soon as its first fragment shows
// the ports; datagrams that never complete are counted by what is known of
// them; without a DatagramHandler UDP fragments are not kept at all.
func TestUDPFragments(t *testing.T) {
	reply := []byte(strings.Repeat("a KDC reply with a big PAC. ", 4)) // 112 bytes
	krb := udpPacket(t, "10.0.0.2", "10.0.0.1", 88, 50000, reply)      // IP payload: 8 + 112 = 120
	dns := udpPacket(t, "10.0.0.3", "10.0.0.1", 53, 50001, reply)
	krb6 := udpPacket(t, "2001:db8::2", "2001:db8::1", 88, 50002, reply)
	want := func(src, dst string, f int) string {
		return fmt.Sprintf("%s>%s f%d %q cut=0", src, dst, f, reply)
	}
	three := []piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: 80, more: true}, {lo: 80, hi: 120}}
	shuffled := []piece{three[2], three[0], three[2], three[1]} // last, first, duplicate, middle
	cases := []struct {
		name                      string
		rs                        []rec
		want                      []string
		reassembled, dropped, unk int64
	}{
		{"in-order", v4Frags(krb, 9, three), []string{want("10.0.0.2:88", "10.0.0.1:50000", 3)}, 1, 0, 0},
		{"shuffled", v4Frags(krb, 9, shuffled), []string{want("10.0.0.2:88", "10.0.0.1:50000", 4)}, 1, 0, 0},
		{"ipv6", v6Frags(krb6, 0x0a0b0c0d, []piece{three[1], three[2], three[0]}),
			[]string{want("[2001:db8::2]:88", "[2001:db8::1]:50002", 3)}, 1, 0, 0},
		// Another port: never handed on, never reported.
		{"port-53", v4Frags(dns, 9, shuffled), nil, 0, 0, 0},
		{"port-53-incomplete", v4Frags(dns, 9, three[:2]), nil, 0, 0, 0},
		// Port 88 known, a fragment lost: given up and said.
		{"port-88-middle-lost", v4Frags(krb, 9, []piece{three[0], three[2]}), nil, 0, 1, 0},
		// The first fragment lost: the ports are unknown.
		{"first-lost", v4Frags(krb, 9, three[1:]), nil, 0, 0, 1},
		// The same addresses and identification on UDP and TCP: two
		// datagrams (the UDP one incomplete).
		{"ids-per-protocol", append(v4Frags(udpPacket(t, "10.0.0.1", "10.0.0.2", 50000, 88, reply), 9, three[:2]), v4Frags(ipPacket(t, seg{cli, srv, 101, 1, "PA", fragPayload}), 9,
			[]piece{{lo: 0, hi: 40, more: true}, {lo: 40, hi: 84}})...), nil, 1, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, st := udpFragRun(t, c.rs)
			if fmt.Sprint(d.got) != fmt.Sprint(c.want) || st.IPReassembled != c.reassembled || st.IPFragDropped != c.dropped ||
				st.IPFragUnknown != c.unk || st.UDPKerberos != int64(len(c.want)) {
				t.Errorf("got %q, stats %+v\nwant %q, reassembled %d dropped %d unknown %d", d.got, st, c.want, c.reassembled, c.dropped, c.unk)
			}
		})
	}
	if _, st := Run([]string{writeFile(t, "nohandler.pcap", pcapLE(t, linkEthernet, false, v4Frags(krb, 9, three)))}, Options{}); st.IPFragments != 0 || st.IPFragDropped != 0 {
		t.Errorf("without a handler: %+v", st)
	}
}

// TestUDPFragmentsForeignFreed: the bytes of a datagram of another port
// are freed when its first fragment comes, and it leaves the table when
// its last range is in (no tombstone that would crowd TCP's datagrams).
func TestUDPFragmentsForeignFreed(t *testing.T) {
	df := newDefrag(&Stats{})
	hdr := []byte{0, 53, 0xc3, 0x51, 0, 128, 0, 0} // ports 53 -> 50001, length 128
	for _, f := range []fragInfo{
		{id: 1, proto: protoUDP, off: 64, data: make([]byte, 64)},
		{id: 1, proto: protoUDP, off: 0, more: true, data: append(hdr, make([]byte, 24)...)},
	} {
		if _, _, _, ok := df.add(&f, Pos{Time: t0}); ok {
			t.Fatal("a foreign datagram was handed on")
		}
		if f.off == 0 && df.bytes != 0 {
			t.Errorf("%d bytes still held after the first fragment", df.bytes)
		}
	}
	f := fragInfo{id: 1, proto: protoUDP, off: 32, more: true, data: make([]byte, 32)}
	if _, _, _, ok := df.add(&f, Pos{Time: t0}); ok || len(df.m) != 0 || df.bytes != 0 {
		t.Errorf("complete foreign datagram: ok %v, in flight %d, bytes %d", ok, len(df.m), df.bytes)
	}
	if st := df.st; st.IPFragDropped != 0 || st.IPFragUnknown != 0 || st.IPReassembled != 0 {
		t.Errorf("stats %+v", st)
	}
}
