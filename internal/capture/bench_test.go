package capture

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type nopHandler struct{}

func (nopHandler) Data(Dir, Pos, []byte) bool { return true }
func (nopHandler) Gap(Dir, Pos, int)          {}
func (nopHandler) End(Pos, EndKind)           {}

func nopFactory(ConnInfo) StreamHandler { return nopHandler{} }

func BenchmarkDecodeEthernetIPv4TCP(b *testing.B) {
	data := withTags(frame(linkEthernet, ipPacket(b, s4)), etherVLAN)
	var p tcpPacket
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if decodePacket(linkEthernet, data, 0, &p) != decTCP {
			b.Fatal("not decoded")
		}
	}
}

func BenchmarkDecodeSLL2IPv6TCP(b *testing.B) {
	data := frame(linkSLL2, ipPacket(b, s6))
	var p tcpPacket
	b.ReportAllocs()
	for b.Loop() {
		if decodePacket(linkSLL2, data, 0, &p) != decTCP {
			b.Fatal("not decoded")
		}
	}
}

// BenchmarkFlowLookup feeds in-order segments of many established flows.
func BenchmarkFlowLookup(b *testing.B) {
	for _, nflows := range []int{1, 10000} {
		b.Run(fmt.Sprint(nflows), func(b *testing.B) {
			var st Stats
			a := newAssembler(Options{Factory: nopFactory}, &st)
			srvAP := netip.MustParseAddrPort(srv)
			pkts := make([]tcpPacket, nflows)
			payload := make([]byte, 100)
			for i := range pkts {
				pkts[i] = tcpPacket{src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000),
					dst: srvAP, seq: 1, flags: flagACK | flagPSH, payload: payload}
			}
			pos := Pos{Time: time.Unix(1, 0)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := &pkts[i%nflows]
				a.packet(p, pos)
				p.seq += uint32(len(payload))
				i++
			}
		})
	}
}

// BenchmarkIgnoredFlow measures packets of a connection whose handler
// declined it.
func BenchmarkIgnoredFlow(b *testing.B) {
	var st Stats
	a := newAssembler(Options{Factory: func(ConnInfo) StreamHandler { return nil }}, &st)
	p := tcpPacket{src: netip.MustParseAddrPort(cli), dst: netip.MustParseAddrPort(srv), seq: 1, flags: flagACK, payload: []byte("x")}
	b.ReportAllocs()
	for b.Loop() {
		a.packet(&p, Pos{})
		p.seq++
	}
}

// BenchmarkRun reads a pcap file of 10,000 in-order segments end to end.
func BenchmarkRun(b *testing.B) {
	var segs []seg
	for i := range 5000 {
		segs = append(segs,
			seg{cli, srv, uint32(1 + 100*i), uint32(1 + 200*i), "PA", string(make([]byte, 100))},
			seg{srv, cli, uint32(1 + 200*i), uint32(1 + 100*(i+1)), "PA", string(make([]byte, 200))})
	}
	data := pcapLE(b, linkEthernet, false, segRecs(b, segs))
	p := filepath.Join(b.TempDir(), "bench.pcap")
	os.WriteFile(p, data, 0o644)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Run([]string{p}, Options{Factory: nopFactory})
	}
}

// TestHotPathAllocs checks that decoding a frame and delivering in-order
// bytes of a known connection does not allocate.
func TestHotPathAllocs(t *testing.T) {
	var st Stats
	a := newAssembler(Options{Factory: nopFactory}, &st)
	s := seg{cli, srv, 1, 1, "PA", "0123456789"}
	var frames [][]byte
	for _, lt := range []uint16{linkEthernet, linkSLL, linkSLL2, linkNull, linkRaw} {
		frames = append(frames, frame(lt, ipPacket(t, s)))
	}
	lts := []uint16{linkEthernet, linkSLL, linkSLL2, linkNull, linkRaw}
	var p tcpPacket
	seq := uint32(1)
	step := func() {
		for i, f := range frames {
			if decodePacket(lts[i], f, 0, &p) != decTCP {
				t.Fatal("not decoded")
			}
			p.seq = seq
			seq += 10
			a.packet(&p, Pos{Frame: 1})
		}
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
