package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngw writes a pcapng file block by block, for the tests of the pcapng
// reader (pcapng.go).
type ngw struct {
	o binary.AppendByteOrder
	b []byte
}

// ngOpt is one option: its code, its value, padding to 4 bytes.
func ngOpt(o binary.AppendByteOrder, code uint16, v []byte) []byte {
	b := o.AppendUint16(nil, code)
	b = o.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (w *ngw) block(typ uint32, body []byte) *ngw {
	w.b = append(w.b, ngBlock(w.o, typ, body)...)
	return w
}

func (w *ngw) shb(major, minor uint16, opts ...[]byte) *ngw {
	b := w.o.AppendUint32(nil, 0x1a2b3c4d)
	b = w.o.AppendUint16(b, major)
	b = w.o.AppendUint16(b, minor)
	b = w.o.AppendUint64(b, ^uint64(0))
	for _, o := range opts {
		b = append(b, o...)
	}
	return w.block(0x0a0d0d0a, b)
}

func (w *ngw) idb(lt uint16, snap uint32, opts ...[]byte) *ngw {
	b := w.o.AppendUint16(nil, lt)
	b = w.o.AppendUint16(b, 0)
	b = w.o.AppendUint32(b, snap)
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = w.o.AppendUint32(b, 0)
	}
	return w.block(1, b)
}

func (w *ngw) epb(iface uint32, ts uint64, data []byte, orig int, opts ...[]byte) *ngw {
	if orig == 0 {
		orig = len(data)
	}
	b := w.o.AppendUint32(nil, iface)
	b = w.o.AppendUint32(b, uint32(ts>>32))
	b = w.o.AppendUint32(b, uint32(ts))
	b = w.o.AppendUint32(b, uint32(len(data)))
	b = w.o.AppendUint32(b, uint32(orig))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = w.o.AppendUint32(b, 0)
	}
	return w.block(6, b)
}

func (w *ngw) pb(iface uint16, ts uint64, data []byte, orig int) *ngw {
	if orig == 0 {
		orig = len(data)
	}
	b := w.o.AppendUint16(nil, iface)
	b = w.o.AppendUint16(b, 0) // drops
	b = w.o.AppendUint32(b, uint32(ts>>32))
	b = w.o.AppendUint32(b, uint32(ts))
	b = w.o.AppendUint32(b, uint32(len(data)))
	b = w.o.AppendUint32(b, uint32(orig))
	return w.block(2, append(b, data...))
}

func (w *ngw) spb(orig int, data []byte) *ngw {
	return w.block(3, append(w.o.AppendUint32(nil, uint32(orig)), data...))
}

func u64le(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// ngValidFiles returns generated pcapng files that pcapgo reads without
// error: both byte orders, several sections, every timestamp resolution
// form, if_tsoffset, the three packet blocks, and blocks to skip.
func ngValidFiles(t testing.TB) map[string][]byte {
	rs := convoRecs(&testing.T{}, linkEthernet)
	base := uint64(t0.Unix())
	files := map[string][]byte{}
	for _, o := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		name := "le"
		if o == binary.BigEndian {
			name = "be"
		}
		u64 := func(v uint64) []byte { return o.AppendUint64(nil, v) }
		w := &ngw{o: o}
		w.shb(1, 0, ngOpt(o, 4, []byte("nspicap test")), ngOpt(o, 0, nil))
		w.idb(linkEthernet, 0)
		w.idb(linkEthernet, 65535, ngOpt(o, 2, []byte("eth0")), ngOpt(o, 9, []byte{9}))
		w.idb(linkEthernet, 0, ngOpt(o, 9, []byte{0x80 | 20}), ngOpt(o, 14, u64(1000)))
		w.idb(linkEthernet, 0, ngOpt(o, 9, []byte{3}), ngOpt(o, 1, []byte("a comment, then a bad tsresol")))
		w.idb(linkEthernet, 64, ngOpt(o, 9, []byte{0x80 | 40}))
		w.block(4, append(append([]byte{1, 0, 6, 0}, 10, 0, 0, 1, 'a', 0, 0, 0), 0, 0, 0, 0)) // NRB (pcapgo reads it LE-ish; one record)
		w.block(0xbad, []byte("custom\x00\x00"))
		for i, r := range rs {
			ts := uint64(r.ts.UnixMicro())
			switch i % 5 {
			case 0:
				w.epb(0, ts, r.data, 0, ngOpt(o, 1, []byte("comment")), ngOpt(o, 2, []byte{1, 0, 0, 0}))
			case 1:
				w.epb(1, uint64(r.ts.UnixNano()), r.data, len(r.data)+100)
			case 2:
				w.epb(2, (base-1000)<<20|uint64(i)<<12|12345, r.data, 0)
			case 3:
				w.pb(3, uint64(r.ts.UnixMilli())+7, r.data, 0)
			case 4:
				w.epb(4, uint64(i)<<39|0x123456789, r.data[:min(64, len(r.data))], len(r.data))
			}
			if i == 2 {
				w.block(5, append(o.AppendUint32(nil, 0), make([]byte, 8)...)) // ISB
			}
		}
		files[name+"-epb-pb.pcapng"] = w.b

		// SPBs take the snap length of interface 0, in a second section
		// after a section of an unknown version (skipped).
		w = &ngw{o: o}
		w.shb(1, 0).idb(linkIPv4, 0)
		w.epb(0, base*1e6, ipPacket(&testing.T{}, convo[0]), 0)
		w.shb(2, 0).idb(linkEthernet, 0).epb(0, 1, rs[0].data, 0)
		w.shb(1, 0).idb(linkEthernet, 40, ngOpt(o, 9, []byte{6})).idb(linkSLL, 0)
		for i, r := range rs {
			if i%2 == 0 {
				d := r.data[:min(40, len(r.data))]
				w.spb(len(r.data), d)
			} else {
				w.epb(1, base*1e6+uint64(i), frame(linkSLL, ipPacket(&testing.T{}, convo[i%len(convo)])), 0)
			}
		}
		w.spb(12, make([]byte, 12))
		files[name+"-sections-spb.pcapng"] = w.b
	}
	var pkts []ngPkt
	for _, r := range convoRecs(&testing.T{}, linkSLL2) {
		pkts = append(pkts, ngPkt{iface: 1, ts: uint64(r.ts.UnixMilli()), data: r.data})
	}
	files["ngsection.pcapng"] = ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}, {linkSLL2, 3}}, pkts)
	return files
}

// ngFiles returns the valid pcapng files to compare with pcapgo: the
// generated ones, the repository's, and the shared captures when present.
func ngFiles(t testing.TB) map[string][]byte {
	files := ngValidFiles(t)
	var paths []string
	for _, pat := range []string{filepath.Join(testdataDir, "*.pcapng"), "/work/shared/captures/*.pcapng"} {
		m, _ := filepath.Glob(pat)
		paths = append(paths, m...)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = b
	}
	return files
}

// ngRead is one packet as a reader gave it.
type ngRead struct {
	data           []byte
	ts             time.Time
	capLen, length int
	lt             uint16
	iface          int
}

func (p ngRead) String() string {
	return fmt.Sprintf("iface %d lt %d ts %s cap %d len %d data %x", p.iface, p.lt, p.ts.Format(time.RFC3339Nano), p.capLen, p.length, p.data)
}

// readPcapgo reads a pcapng file with gopacket's pcapgo.NgReader, as
// nspicap did before its own reader.
func readPcapgo(t testing.TB, b []byte) []ngRead {
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []ngRead
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("pcapgo: %v", err)
		}
		out = append(out, ngRead{append([]byte(nil), data...), ci.Timestamp, ci.CaptureLength, ci.Length,
			uint16(ci.AncillaryData[0].(layers.LinkType)), ci.InterfaceIndex})
	}
}

// readSource reads a file through nspicap's source, packet by packet.
func readSource(t testing.TB, b []byte) ([]ngRead, *InputInfo) {
	info := &InputInfo{}
	s, err := openSource(0, "-", bytes.NewReader(b), nil, info)
	if err != nil {
		t.Fatal(err)
	}
	var out []ngRead
	for s.next() {
		out = append(out, ngRead{append([]byte(nil), s.data...), s.ci.Timestamp, s.ci.CaptureLength, s.ci.Length, s.lt, s.ci.InterfaceIndex})
	}
	return out, info
}

// TestPcapngSameAsPcapgo: nspicap's pcapng reader gives exactly the packets
// pcapgo gives (bytes, timestamps to the nanosecond, lengths, link types,
// interfaces) on every valid file.
func TestPcapngSameAsPcapgo(t *testing.T) {
	for name, b := range ngFiles(t) {
		want := readPcapgo(t, b)
		got, info := readSource(t, b)
		for _, w := range info.Warnings {
			if !strings.HasPrefix(w, "timestamps go backwards") { // simple packet blocks have none
				t.Errorf("%s: warning %q", name, w)
			}
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Errorf("%s: %d packets, pcapgo %d", name, len(got), len(want))
			continue
		}
		for i := range got {
			g, w := got[i], want[i]
			if !bytes.Equal(g.data, w.data) || g.ts != w.ts || g.capLen != w.capLen || g.length != w.length || g.lt != w.lt || g.iface != w.iface {
				t.Errorf("%s: packet %d:\n got  %v\n want %v", name, i+1, g, w)
				break
			}
		}
	}
}

// hostile is a crafted pcapng input, the warning it must give and the
// packets it must keep.
type hostile struct {
	name    string
	b       []byte
	want    string // the one warning
	packets int
}

const filler = 1000 // bytes of a filler frame

// hostileInputs builds crafted pcapng inputs (lying lengths, block bombs) at a test's size.
func hostileInputs(t testing.TB) []hostile {
	le := binary.LittleEndian
	rs := convoRecs(&testing.T{}, linkEthernet)
	head := func() *ngw { return (&ngw{o: le}).shb(1, 0).idb(linkEthernet, 0) } // 48 bytes
	withConvo := func(w *ngw) []byte {
		for _, r := range rs {
			w.epb(0, uint64(r.ts.UnixMicro()), r.data, 0)
		}
		return w.b
	}
	var hs []hostile

	// A simple packet block whose original length says 0x7FFFFFF0 (the
	// snap length is 0, so all of it should be there), then 32 MiB of zeros.
	w := head().spb(0x7ffffff0, nil)
	hs = append(hs, hostile{"spb-huge", append(w.b, make([]byte, 32<<20)...),
		"corrupt pcapng block at byte 48 (length 16 too short for its packet); stopped reading", 0})
	// The same in an obsolete packet block, after a packet.
	w = head().epb(0, uint64(rs[0].ts.UnixMicro()), rs[0].data, 0)
	at := len(w.b)
	w.pb(0, 0, nil, 0)
	le.PutUint32(w.b[at+20:], 0x7ffffff0)
	hs = append(hs, hostile{"pb-huge", append(w.b, make([]byte, 32<<20)...),
		fmt.Sprintf("corrupt pcapng block at byte %d (length 32 too short for its packet); stopped reading", at), 1})

	// More interfaces than a section may have, each 20 bytes.
	w = head()
	for range maxInterfaces + 1000 {
		w.idb(linkEthernet, 0)
	}
	hs = append(hs, hostile{"many-idbs", withConvo(w),
		fmt.Sprintf("more than %d interfaces in one pcapng section at byte %d; stopped reading", maxInterfaces, 28+20*maxInterfaces), 0})

	// A name resolution block of 4 MiB of IPv4 records: skipped.
	var nrb []byte
	for i := 0; len(nrb) < 4<<20; i++ {
		nrb = append(nrb, 1, 0, 6, 0, 10, byte(i>>16), byte(i>>8), byte(i), 'a', 0, 0, 0)
	}
	nrb = append(nrb, 0, 0, 0, 0)
	hs = append(hs, hostile{"nrb-huge", withConvo(head().block(4, nrb)), "", len(rs)})

	// An interface description of 12 MiB of 60-byte options, and packets
	// with 300 KiB of comments each.
	var opts [][]byte
	for range (12 << 20) / 64 {
		opts = append(opts, ngOpt(le, 2, bytes.Repeat([]byte{'n'}, 60)))
	}
	w = (&ngw{o: le}).shb(1, 0).idb(linkEthernet, 0, opts...)
	var comments [][]byte
	for range (300 << 10) / 1024 {
		comments = append(comments, ngOpt(le, 1, bytes.Repeat([]byte{'c'}, 1020)))
	}
	for _, r := range rs {
		w.epb(0, uint64(r.ts.UnixMicro()), r.data, 0, comments...)
	}
	hs = append(hs, hostile{"many-options", w.b, "", len(rs)})

	// A block length that lies, after 400 KiB of packets.
	w = head()
	n := 0
	for len(w.b) < 400<<10 {
		w.epb(0, uint64(t0.UnixMicro())+uint64(n), make([]byte, filler), 0)
		n++
	}
	at = len(w.b)
	b := withConvo(w)
	l := le.Uint32(b[at+4:])
	le.PutUint32(b[at+4:], l+8)
	hs = append(hs, hostile{"lying-length-packets", b,
		fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length %d); stopped reading", at, l+8, le.Uint32(b[at+int(l)+4:])), n})
	// And after 400 KiB of blocks that are skipped, the next packet's
	// length lies (reported as "capture truncated at byte 108").
	w = head().epb(0, uint64(rs[0].ts.UnixMicro()), rs[0].data, 0)
	for len(w.b) < 400<<10 {
		w.block(0xbad, make([]byte, 4096))
	}
	at = len(w.b)
	b = withConvo(w)
	l = le.Uint32(b[at+4:])
	le.PutUint32(b[at+4:], l+8)
	hs = append(hs, hostile{"lying-length-after-blocks", b,
		fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length %d); stopped reading", at, l+8, le.Uint32(b[at+int(l)+4:])), 1})
	// A skipped block whose length lies by 1 MiB: its trailing length
	// is read 1 MiB on.
	w = head().epb(0, uint64(rs[0].ts.UnixMicro()), rs[0].data, 0)
	for len(w.b) < 400<<10 {
		w.block(0xbad, make([]byte, 4096))
	}
	at = len(w.b)
	w.block(0xbad, make([]byte, 4096))
	b = withConvo(w)
	b = append(b, make([]byte, 2<<20)...)
	le.PutUint32(b[at+4:], 1<<20)
	hs = append(hs, hostile{"lying-skipped-length", b,
		fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length 0); stopped reading", at, 1<<20), 1})
	return hs
}

// allocDuring returns the bytes f allocates (on the whole heap: the tests
// that use it run alone).
func allocDuring(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// TestPcapngHostile: the crafted pcapng inputs each give one
// warning at the offset of the damage, keep the packets before it, and
// allocate no more than a clean file does (the read buffers and batches).
func TestPcapngHostile(t *testing.T) {
	clean := writeFile(t, "clean.pcapng.gz", gz(t, ngValidFiles(t)["le-epb-pb.pcapng"]))
	base := allocDuring(func() { Run([]string{clean}, Options{Factory: nopFactory}) })
	for _, h := range hostileInputs(t) {
		t.Run(h.name, func(t *testing.T) {
			p := writeFile(t, h.name+".pcapng.gz", gz(t, h.b))
			var infos []InputInfo
			var st Stats
			n := allocDuring(func() { infos, st = Run([]string{p}, Options{Factory: nopFactory}) })
			in := infos[0]
			var want []string
			if h.want != "" {
				want = []string{h.want}
			}
			if in.Err != nil || strings.Join(in.Warnings, "\n") != strings.Join(want, "\n") {
				t.Errorf("err %v, warnings %q; want %q", in.Err, in.Warnings, want)
			}
			if in.Packets != int64(h.packets) || st.Packets != int64(h.packets) {
				t.Errorf("%d packets (%d delivered), want %d", in.Packets, st.Packets, h.packets)
			}
			if n > base+2<<20 {
				t.Errorf("allocated %d MiB, a clean file %d MiB", n>>20, base>>20)
			}
			t.Logf("%d KiB gzipped, %d MiB read: allocated %.1f MiB (a clean file %.1f MiB)",
				len(gz(t, h.b))>>10, len(h.b)>>20, float64(n)/(1<<20), float64(base)/(1<<20))
		})
	}
}

// BenchmarkReadPcapng reads a generated pcapng file of 20,000 enhanced
// packet blocks of 60 to 1514 bytes through nspicap's input reader.
func BenchmarkReadPcapng(b *testing.B) {
	w := (&ngw{o: binary.LittleEndian}).shb(1, 0).idb(linkEthernet, 0).idb(linkEthernet, 0, ngOpt(binary.LittleEndian, 9, []byte{9}))
	data := make([]byte, 1514)
	for i := range 20000 {
		n := 60 + (i*7919)%1455
		w.epb(uint32(i%2), uint64(t0.UnixMicro())+uint64(i), data[:n], 0)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(w.b)))
	for b.Loop() {
		s, err := openSource(0, "-", bytes.NewReader(w.b), nil, &InputInfo{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for s.next() {
			n++
		}
		if n != 20000 {
			b.Fatal(n)
		}
	}
}

// TestPcapngTimestampsOutOfRange: timestamps no output can print are
// replaced by the previous frame's, with one warning per file however many
// frames have them.
func TestPcapngTimestampsOutOfRange(t *testing.T) {
	var pkts []ngPkt
	for _, r := range convoRecs(t, linkEthernet) {
		pkts = append(pkts, ngPkt{ts: uint64(r.ts.UnixMicro()), data: r.data}) // in ms: year 56302
	}
	r, infos, _ := runFiles(t, []string{writeFile(t, "x.pcapng", ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 3}}, pkts))}, Options{})
	want := "frame 1: timestamp out of range; the previous frame's is used (for later frames too)"
	if w := infos[0].Warnings; len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q; want %q", w, want)
	}
	checkEvents(t, r.events, convoEvents)
}

// FuzzPcapng feeds damaged pcapng files to the input reader. It must not
// panic; what it allocates is bounded by the input's size (the read buffers
// and 64 bytes per input byte); each warning is one line, and few; and
// when both it and pcapgo read a file to its end without complaint, they
// give the same packets.
func FuzzPcapng(f *testing.F) {
	for _, b := range ngFiles(f) {
		f.Add(b)
	}
	le := binary.LittleEndian
	w := (&ngw{o: le}).shb(1, 0).idb(linkEthernet, 0)
	f.Add(append(w.b, ngBlock(le, 3, le.AppendUint32(nil, 0x7ffffff0))...))
	w = (&ngw{o: le}).shb(1, 0).idb(linkEthernet, 0, ngOpt(le, 9, []byte{0x80 | 63}), ngOpt(le, 14, u64le(1<<62)))
	f.Add(w.epb(0, 1<<63, []byte{1, 2, 3}, 1<<31).pb(0, 0, []byte{4}, 0).block(4, []byte{1, 0, 6, 0, 10, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0}).b)
	for range 20 {
		w.idb(linkSLL2, 1)
	}
	f.Add(w.b)
	magic := []byte{0x0a, 0x0d, 0x0d, 0x0a}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, magic) {
			return
		}
		var m0, m1 runtime.MemStats
		info := &InputInfo{}
		var got []ngRead
		clean := false
		runtime.ReadMemStats(&m0)
		s, err := openSource(0, "-", bytes.NewReader(data), nil, info)
		if err == nil {
			for {
				d, ci, err := s.read()
				if err != nil {
					clean = err == io.EOF
					break
				}
				got = append(got, ngRead{append([]byte(nil), d[:min(len(d), 8)]...), ci.Timestamp, ci.CaptureLength, ci.Length,
					s.ng.lt, ci.InterfaceIndex})
			}
		}
		runtime.ReadMemStats(&m1)
		// got holds 8 bytes of data and 80 of header a packet: at least 16
		// bytes of input each.
		if n := m1.TotalAlloc - m0.TotalAlloc; n > 64*uint64(len(data))+1<<20 {
			t.Fatalf("%d bytes allocated for %d bytes of input", n, len(data))
		}
		if len(info.Warnings) > 1 {
			t.Fatalf("warnings %q", info.Warnings)
		}
		for _, w := range info.Warnings {
			if strings.Contains(w, "\n") {
				t.Fatalf("multi-line warning %q", w)
			}
		}
		if !clean {
			return
		}
		// pcapgo, where it reads the file to its end without an error.
		var want []ngRead
		func() {
			defer func() {
				if recover() != nil {
					want = nil
				}
			}()
			r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
			if err != nil {
				return
			}
			for {
				d, ci, err := r.ZeroCopyReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil || len(want) > 100000 {
					want = nil
					return
				}
				want = append(want, ngRead{append([]byte(nil), d[:min(len(d), 8)]...), ci.Timestamp, ci.CaptureLength, ci.Length,
					uint16(ci.AncillaryData[0].(layers.LinkType)), ci.InterfaceIndex})
			}
			if want == nil {
				want = []ngRead{}
			}
		}()
		if want == nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d packets, pcapgo %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if !bytes.Equal(g.data, w.data) || g.ts != w.ts || g.capLen != w.capLen || g.length != w.length || g.lt != w.lt || g.iface != w.iface {
				t.Fatalf("packet %d:\n got  %v\n want %v", i+1, g, w)
			}
		}
	})
}
