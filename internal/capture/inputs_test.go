package capture

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// payloads returns the data events of a recorder without their frame
// references, which differ between one file and its ring.
func payloads(events []string) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(e, "data ") {
			f := strings.Fields(e)
			out = append(out, f[1]+" "+f[2]+" "+f[4])
		}
	}
	return out
}

// TestRingOpensFilesInTurn: a capture cut into a ring of 40 files gives the
// same bytes in the same order as the whole file, with never more than two
// files open at once.
func TestRingOpensFilesInTurn(t *testing.T) {
	var segs []seg
	c, s := uint32(100), uint32(1)
	for i := range 200 {
		p := fmt.Sprintf("p%03d", i)
		if i%2 == 0 {
			segs = append(segs, seg{cli, srv, c, s, "PA", p})
			c += uint32(len(p))
		} else {
			segs = append(segs, seg{srv, cli, s, c, "PA", p})
			s += uint32(len(p))
		}
	}
	rs := segRecs(t, segs)
	whole := writeFile(t, "whole.pcap", pcapLE(t, linkEthernet, false, rs))
	var ring []string
	for k := 0; k < 40; k++ {
		ring = append(ring, writeFile(t, fmt.Sprintf("ring_%02d.pcap", k), pcapLE(t, linkEthernet, false, rs[5*k:5*k+5])))
	}
	// Given in reverse: the order of the arguments does not matter.
	for i, j := 0, len(ring)-1; i < j; i, j = i+1, j-1 {
		ring[i], ring[j] = ring[j], ring[i]
	}
	peak := 0
	openHook = func(n int) { peak = max(peak, n) }
	defer func() { openHook = nil }()
	r1, _, st1 := runFiles(t, []string{whole}, Options{})
	peak = 0
	r2, infos, st2 := runFiles(t, ring, Options{})
	if a, b := payloads(r1.events), payloads(r2.events); strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) != 200 {
		t.Errorf("the ring gives %d data events, the whole file %d, or in another order", len(b), len(a))
	}
	if st1.Packets != st2.Packets || st1.Conns != st2.Conns {
		t.Errorf("stats %+v vs %+v", st1, st2)
	}
	if peak > 2 {
		t.Errorf("%d files open at once reading a ring; want at most 2", peak)
	}
	for _, in := range infos {
		if in.Err != nil || in.Packets != 5 || len(in.Warnings) > 0 {
			t.Errorf("%s: %+v", filepath.Base(in.Path), in)
		}
	}
}

// TestOverlappingInputs: more files overlapping in time than are read at
// once are all read; those opened late say so, and each connection's bytes
// stay in order.
func TestOverlappingInputs(t *testing.T) {
	const n = maxOpenInputs + 4
	var paths []string
	for k := range n {
		client := fmt.Sprintf("10.0.%d.1:50000", k)
		var rs []rec
		c, s := uint32(100), uint32(1)
		for i := range 10 {
			p := fmt.Sprintf("f%02dp%d", k, i)
			sg := seg{client, srv, c, s, "PA", p}
			c += uint32(len(p))
			if i%2 == 1 {
				sg = seg{srv, client, s, c, "PA", p}
				s += uint32(len(p))
			}
			rs = append(rs, rec{ts: t0.Add(time.Duration(i*n+k) * time.Millisecond), data: frame(linkEthernet, ipPacket(t, sg))})
		}
		paths = append(paths, writeFile(t, fmt.Sprintf("if%02d.pcap", k), pcapLE(t, linkEthernet, false, rs)))
	}
	peak := 0
	openHook = func(o int) { peak = max(peak, o) }
	defer func() { openHook = nil }()
	r, infos, st := runFiles(t, paths, Options{})
	if st.Packets != n*10 || len(payloads(r.events)) != n*10 {
		t.Errorf("%d packets, %d data events; want %d", st.Packets, len(payloads(r.events)), n*10)
	}
	if peak > maxOpenInputs {
		t.Errorf("%d files open at once, over %d", peak, maxOpenInputs)
	}
	late := 0
	for _, in := range infos {
		for _, w := range in.Warnings {
			if strings.HasPrefix(w, fmt.Sprintf("read late: more than %d input files overlap in time", maxOpenInputs)) {
				late++
			}
		}
	}
	if late != n-maxOpenInputs {
		t.Errorf("%d files warned read late; want %d", late, n-maxOpenInputs)
	}
	// Per connection, the bytes are in order.
	last := map[string]int{}
	for _, e := range payloads(r.events) {
		f := strings.Fields(e)
		var k, i int
		fmt.Sscanf(strings.Trim(f[2], `"`), "f%02dp%d", &k, &i)
		if i < last[f[0]] {
			t.Errorf("connection %s: %s after part %d", f[0], f[2], last[f[0]])
		}
		last[f[0]] = i
	}
}

// panicky makes the reader library panic at its n-th record.
type panicky struct {
	packetReader
	n int
}

func (p *panicky) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if p.n--; p.n == 0 {
		panic("boom")
	}
	return p.packetReader.ZeroCopyReadPacketData()
}

// TestReaderPanicEndsInput: a panic inside the reader library, caught once
// per batch by the reading goroutine, keeps the packets read before it and
// ends the input with a warning naming the record's offset.
func TestReaderPanicEndsInput(t *testing.T) {
	var segs []seg
	for i := range 1500 {
		segs = append(segs, seg{src: "10.0.0.1:1000", dst: "10.0.0.2:135", seq: uint32(i), flags: "A"})
	}
	path := writeFile(t, "many.pcap", pcapLE(t, linkEthernet, false, segRecs(t, segs)))
	for _, at := range []int{1, 2, batchPackets, batchPackets + 1, 1200} {
		var info InputInfo
		s, err := openSource(0, path, nil, nil, &info)
		if err != nil {
			t.Fatal(err)
		}
		s.rd = &panicky{packetReader: s.rd, n: at}
		c := prefetch(s, 2)
		n := 0
		for c.next() {
			n++
		}
		c.wait()
		if n != at-1 {
			t.Errorf("panic at record %d: %d packets delivered, want %d", at, n, at-1)
		}
		off := 24 + int64(at-1)*int64(16+len(segRecs(t, segs[:1])[0].data))
		want := fmt.Sprintf("unreadable record at byte %d: reader failed: boom; stopped reading", off)
		if len(info.Warnings) != 1 || info.Warnings[0] != want {
			t.Errorf("panic at record %d: warnings %q, want %q", at, info.Warnings, want)
		}
	}
}
