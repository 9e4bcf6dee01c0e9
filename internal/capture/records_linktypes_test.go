package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Records whose lengths disagree, and link types
// nspicap does not read.

// TestRecordLongerThanOriginal: a pcap record whose original length is
// below its captured length is read (its captured bytes), as tcpdump and
// tshark read it, with one warning per file that counts such records.
func TestRecordLongerThanOriginal(t *testing.T) {
	var segs []seg
	segs = append(segs, seg{cli, srv, 100, 0, "S", ""})
	for i := range 43 {
		segs = append(segs, seg{cli, srv, 101 + uint32(i), 1, "PA", "x"})
	}
	rs := segRecs(t, segs)
	// Records 3 and 10 say they were 4 bytes shorter on the wire than
	// what they hold.
	for _, i := range []int{2, 9} {
		rs[i].origLen = len(rs[i].data) - 4
	}
	want := fmt.Sprintf("2 records have a captured length above their original length (the first at byte %d: %d > %d); the captured bytes were read",
		24+2*16+len(rs[0].data)+len(rs[1].data), len(rs[2].data), len(rs[2].data)-4)
	for _, f := range []struct{ name, format string }{{"le.pcap", "pcap"}, {"be-ns.pcap", "pcap-ns"}, {"le.pcap.gz", "pcap+gzip"}} {
		t.Run(f.name, func(t *testing.T) {
			var data []byte
			switch f.name {
			case "le.pcap":
				data = pcapBytes(binary.LittleEndian, false, linkEthernet, rs)
			case "be-ns.pcap":
				data = pcapBytes(binary.BigEndian, true, linkEthernet, rs)
			default:
				data = gz(t, pcapBytes(binary.LittleEndian, false, linkEthernet, rs))
			}
			r, infos, st := runFiles(t, []string{writeFile(t, f.name, data)}, Options{})
			in := infos[0]
			if in.Err != nil || in.Format != f.format || in.Packets != 44 || st.TCPPackets != 44 || in.Cut != 0 {
				t.Fatalf("%+v %+v", in, st)
			}
			if len(in.Warnings) != 1 || in.Warnings[0] != want {
				t.Errorf("warnings %q, want %q", in.Warnings, want)
			}
			if got := strings.Count(strings.Join(r.events, "\n"), `"x"`); got != 43 {
				t.Errorf("%d data events, want 43", got)
			}
		})
	}
}

// nflogRecord frames an IP packet as LINKTYPE_NFLOG: the header, a prefix
// TLV and the payload TLV, in the given byte order.
func nflogRecord(order binary.AppendByteOrder, ip []byte) []byte {
	family := byte(2)
	if ip[0]>>4 == 6 {
		family = 10
	}
	b := []byte{family, 0, 0, 1}
	b = order.AppendUint16(b, 4+4) // NFULA_PREFIX "abc\0"
	b = order.AppendUint16(b, 10)
	b = append(b, "abc\x00"...)
	b = order.AppendUint16(b, uint16(4+len(ip)))
	b = order.AppendUint16(b, 9) // NFULA_PAYLOAD
	b = append(b, ip...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// TestNFLOG reads Linux netfilter log captures (link type 239), written
// by a little-endian or a big-endian host, IPv4 and IPv6.
func TestNFLOG(t *testing.T) {
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		var rs []rec
		for _, r := range convoRecs(t, linkRaw) {
			rs = append(rs, rec{ts: r.ts, data: nflogRecord(order, r.data)})
		}
		r, infos, st := runFiles(t, []string{writeFile(t, "nflog.pcap", pcapBytes(order, false, linkNFLOG, rs))}, Options{})
		if infos[0].Err != nil || len(infos[0].Warnings) > 0 || st.TCPPackets != 3 {
			t.Fatalf("%v: %+v %+v", order, infos[0], st)
		}
		checkEvents(t, r.events, convoEvents)
	}
	c6, s6 := "[2001:db8::1]:50000", "[2001:db8::2]:135"
	var p tcpPacket
	if got := decodePacket(linkNFLOG, nflogRecord(binary.LittleEndian, ipPacket(t, seg{c6, s6, 2, 0, "PA", "x"})), 0, &p); got != decTCP || string(p.payload) != "x" {
		t.Errorf("IPv6: %v %q", got, p.payload)
	}
	// A record of the prefix alone carries no packet; one cut inside the
	// TLVs is truncated.
	prefixOnly := []byte{2, 0, 0, 1, 8, 0, 10, 0, 'a', 'b', 'c', 0}
	if got := decodePacket(linkNFLOG, prefixOnly, 0, &p); got != decNonIP {
		t.Errorf("prefix only: %v", got)
	}
	if got := decodePacket(linkNFLOG, prefixOnly[:10], 2, &p); got != decTruncated {
		t.Errorf("cut: %v", got)
	}
}

// TestLinkDecodedMatchesDecode: linkDecoded names exactly the link types
// decodePacket reads.
func TestLinkDecodedMatchesDecode(t *testing.T) {
	ip := ipPacket(t, convo[1])
	framings := [][]byte{ip, frame(linkEthernet, ip), frame(linkSLL, ip), frame(linkSLL2, ip), frame(linkNull, ip),
		frame(linkLoop, ip), nflogRecord(binary.LittleEndian, ip), ipPacket(t, seg{"[2001:db8::1]:50000", "[2001:db8::2]:135", 2, 0, "PA", "x"})}
	for lt := range 1 << 16 {
		decoded := false
		for _, f := range framings {
			var p tcpPacket
			if decodePacket(uint16(lt), f, 0, &p) == decTCP {
				decoded = true
			}
		}
		if decoded != linkDecoded(uint16(lt)) {
			t.Errorf("link type %d: decoded %v, linkDecoded %v", lt, decoded, linkDecoded(uint16(lt)))
		}
	}
}

// TestUnsupportedLinkTypes: packets of a link type nspicap does not read
// are counted and said once per file and interface.
func TestUnsupportedLinkTypes(t *testing.T) {
	junk := func(n int) []rec {
		var rs []rec
		for i := range n {
			rs = append(rs, rec{ts: t0.Add(time.Duration(i) * time.Millisecond), data: []byte("not a frame nspicap reads")})
		}
		return rs
	}
	base := uint64(t0.Unix()) * 1e6
	var ngPkts []ngPkt
	for i, r := range convoRecs(t, linkEthernet) {
		ngPkts = append(ngPkts, ngPkt{iface: 0, ts: base + uint64(i), data: r.data},
			ngPkt{iface: 1, ts: base + uint64(i), data: []byte("usb")}, ngPkt{iface: 2, ts: base + uint64(i), data: []byte("usb")})
	}
	var manyPkts []ngPkt
	var many []ngIface
	for i := range 70 {
		many = append(many, ngIface{linkType: 1000})
		manyPkts = append(manyPkts, ngPkt{iface: i, ts: base + uint64(i), data: []byte("?")})
	}
	wantMany := make([]string, 0, 64)
	for i := range 63 {
		wantMany = append(wantMany, fmt.Sprintf("interface %d: skipped 1 packet of link type 1000, which nspicap does not read", i))
	}
	wantMany = append(wantMany, "skipped 7 packets of further interfaces and link types nspicap does not read")
	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"wifi.pcap", pcapLE(t, 105, false, junk(5)),
			[]string{"skipped 5 packets of link type 105 (IEEE802_11), which nspicap does not read"}},
		{"unknown.pcap.gz", gz(t, pcapLE(t, 60000, false, junk(1))),
			[]string{"skipped 1 packet of link type 60000, which nspicap does not read"}},
		{"two.pcapng", ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}, {189, 0}, {189, 0}}, ngPkts),
			[]string{"interface 1: skipped 3 packets of link type 189 (USB_LINUX), which nspicap does not read",
				"interface 2: skipped 3 packets of link type 189 (USB_LINUX), which nspicap does not read"}},
		{"many.pcapng", ngSection(binary.LittleEndian, many, manyPkts), wantMany},
		{"wifi.cap", netmonBytes(nmOpts{major: 2, minor: 3, media: 1}, []nmRec{
			{ts: t0, data: []byte("802.11"), media: 6}, {ts: t0, data: []byte("802.11"), media: 6},
			{ts: t0, data: []byte("filter"), media: 0xFFFF}}),
			[]string{"skipped 2 packets of NetMon media type 6 (IEEE 802.11), which nspicap does not read"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, infos, _ := runFiles(t, []string{writeFile(t, c.name, c.data)}, Options{})
			if infos[0].Err != nil {
				t.Fatal(infos[0].Err)
			}
			checkEvents(t, infos[0].Warnings, c.want)
		})
	}
}
