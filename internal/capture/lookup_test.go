package capture

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"
)

// TestLookupCacheSameAsTable: the connection remembered from the previous
// packet (lookup) never stands in for another. Random segments over a few
// 4-tuples, with connections opened, reset, closed, reused and evicted
// (MaxConns 2), give the same handler calls as an assembler that forgets
// the remembered connection before every packet.
func TestLookupCacheSameAsTable(t *testing.T) {
	srvAP := netip.MustParseAddrPort("192.0.2.1:135")
	hits := 0
	for seed := int64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var clients []netip.AddrPort
		for i := range 1 + rng.Intn(4) {
			clients = append(clients, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}), uint16(40000+rng.Intn(2))))
		}
		run := func(forget bool) ([]string, int) {
			var st Stats
			r := &recorder{}
			a := newAssembler(Options{Factory: r.factory, MaxConns: 2, MaxBuffered: 1 << 16, MaxBufferedTotal: 1 << 20}, &st)
			rs := rand.New(rand.NewSource(seed))
			seq := map[[2]netip.AddrPort]uint32{}
			n := 0
			for i := range 400 {
				c := clients[rs.Intn(len(clients))]
				p := tcpPacket{src: c, dst: srvAP, flags: flagACK}
				if rs.Intn(2) == 0 {
					p.src, p.dst = srvAP, c
				}
				k := [2]netip.AddrPort{p.src, p.dst}
				switch x := rs.Intn(20); {
				case x == 0:
					p.flags = flagSYN
					seq[k] = rs.Uint32()
				case x == 1:
					p.flags = flagSYN | flagACK
					seq[k] = rs.Uint32()
				case x == 2:
					p.flags |= flagRST
				case x == 3:
					p.flags |= flagFIN
				case x < 6:
				default:
					p.payload = []byte(fmt.Sprintf("%d", i))
				}
				if rs.Intn(15) == 0 {
					seq[k] += uint32(rs.Intn(50))
				}
				p.seq = seq[k]
				seq[k] += uint32(len(p.payload))
				if p.flags&(flagSYN|flagFIN) != 0 {
					seq[k]++
				}
				if forget {
					a.last = nil
				} else if a.last != nil && a.last.key == makeKey(p.src, p.dst) {
					n++
				}
				a.packet(&p, Pos{Time: time.Unix(1000+int64(i), 0), Frame: int64(i + 1)})
			}
			a.closeAll()
			return r.events, n
		}
		want, _ := run(true)
		got, n := run(false)
		hits += n
		checkEvents(t, got, want)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
	if hits < 1000 {
		t.Errorf("the remembered connection was used %d times: too few to test it", hits)
	}
}
