package capture

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// TestPcapngLyingBlockLength: a block length that does not match the copy at
// the block's end, or an enhanced packet block too short for its captured
// length, stops the file at that block, with the packets before it kept.
func TestPcapngLyingBlockLength(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	var pkts []ngPkt
	for _, r := range rs {
		pkts = append(pkts, ngPkt{ts: uint64(r.ts.UnixMicro()), data: r.data})
	}
	le := binary.LittleEndian
	ng := ngSection(le, []ngIface{{linkEthernet, 0}}, pkts)
	third := len(ngSection(le, []ngIface{{linkEthernet, 0}}, pkts[:2])) // offset of packet 3's block
	l3 := len(ng) - third
	cases := []struct {
		name string
		mut  func(b []byte)
		want string
	}{
		{"longer", func(b []byte) { le.PutUint32(b[third+4:], uint32(l3-4)) },
			fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length %d); stopped reading", third, l3-4, le.Uint32(ng[len(ng)-8:]))},
		{"trailer", func(b []byte) { le.PutUint32(b[len(b)-4:], 12) },
			fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length 12); stopped reading", third, l3)},
		{"caplen-past-block", func(b []byte) { le.PutUint32(b[third+20:], uint32(l3)) },
			fmt.Sprintf("corrupt pcapng block at byte %d (length %d too short for its packet); stopped reading", third, l3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), ng...)
			c.mut(b)
			r, infos, _ := runFiles(t, []string{writeFile(t, "x.pcapng", b)}, Options{})
			in := infos[0]
			if in.Err != nil || len(in.Warnings) != 1 || in.Warnings[0] != c.want {
				t.Errorf("err %v warnings %q; want %q", in.Err, in.Warnings, c.want)
			}
			if in.Packets != 2 || len(r.events) != 3 {
				t.Errorf("packets %d, events %v", in.Packets, r.events)
			}
		})
	}
}

// TestRecordsOverSnapLength: records longer than the snap length the file
// (pcap) or the interface (pcapng) declares are read, with one warning.
func TestRecordsOverSnapLength(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	pc := pcapBytes(binary.LittleEndian, false, linkEthernet, rs)
	binary.LittleEndian.PutUint32(pc[16:], 40)
	var pkts []ngPkt
	for _, r := range rs {
		pkts = append(pkts, ngPkt{ts: uint64(r.ts.UnixMicro()), data: r.data})
	}
	ng := ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, pkts)
	binary.LittleEndian.PutUint32(ng[28+12:], 40) // the IDB's snaplen
	first := len(ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, nil))
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"x.pcap", pc, fmt.Sprintf("record at byte 24 holds %d bytes, more than the snap length 40; read anyway", len(rs[0].data))},
		{"x.pcapng", ng, fmt.Sprintf("record at byte %d holds %d bytes, more than the snap length 40; read anyway", first, len(rs[0].data))},
	} {
		r, infos, _ := runFiles(t, []string{writeFile(t, c.name, c.b)}, Options{})
		if w := infos[0].Warnings; len(w) != 1 || w[0] != c.want {
			t.Errorf("%s: warnings %q; want %q", c.name, w, c.want)
		}
		checkEvents(t, r.events, convoEvents)
	}
}
