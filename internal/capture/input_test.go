package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// convo is a small conversation used to check that a format was read.
var convo = []seg{
	{cli, srv, 100, 0, "S", ""},
	{cli, srv, 101, 1, "PA", "bind"},
	{srv, cli, 1, 105, "PA", "bind_ack"},
}

var convoEvents = []string{
	"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
	`data 1 c2s f0:2 "bind"`,
	`data 1 s2c f0:3 "bind_ack"`,
	"end 1 end_of_capture f0:3",
}

// convoRecs frames convo for a link type, with timestamps at 1 ms steps
// plus 1 ns so that the resolution shows.
func convoRecs(t *testing.T, linkType uint16) []rec {
	var rs []rec
	for i, s := range convo {
		rs = append(rs, rec{ts: t0.Add(time.Duration(i)*time.Millisecond + time.Microsecond + 7), data: frame(linkType, ipPacket(t, s))})
	}
	return rs
}

func runFiles(t *testing.T, paths []string, opts Options) (*recorder, []InputInfo, Stats) {
	t.Helper()
	r := &recorder{}
	opts.Factory = r.factory
	infos, st := Run(paths, opts)
	return r, infos, st
}

func TestFormats(t *testing.T) {
	type file struct {
		name   string
		data   []byte
		format string
		ns     bool
	}
	rs := convoRecs(t, linkEthernet)
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: len(r.data)}, r.data)
	}
	w.Flush()
	var ngPkts []ngPkt
	for _, r := range rs {
		ngPkts = append(ngPkts, ngPkt{ts: uint64(r.ts.UnixNano()), data: r.data})
	}
	files := []file{
		{"le-us.pcap", pcapLE(t, linkEthernet, false, rs), "pcap", false},
		{"le-ns.pcap", pcapLE(t, linkEthernet, true, rs), "pcap-ns", true},
		{"be-us.pcap", pcapBytes(binary.BigEndian, false, linkEthernet, rs), "pcap", false},
		{"be-ns.pcap", pcapBytes(binary.BigEndian, true, linkEthernet, rs), "pcap-ns", true},
		{"le.pcapng", ng.Bytes(), "pcapng", true},
		{"be.pcapng", ngSection(binary.BigEndian, []ngIface{{linkEthernet, 9}}, ngPkts), "pcapng", true},
	}
	for _, f := range files {
		for _, zip := range []bool{false, true} {
			data, name, format := f.data, f.name, f.format
			if zip {
				data, name, format = gz(t, data), name+".gz", format+"+gzip"
			}
			t.Run(name, func(t *testing.T) {
				// A misleading extension: detection is by content.
				p := writeFile(t, "capture.txt", data)
				r, infos, st := runFiles(t, []string{p}, Options{})
				in := infos[0]
				if in.Err != nil || len(in.Warnings) > 0 {
					t.Fatalf("err %v warnings %v", in.Err, in.Warnings)
				}
				if in.Format != format || in.Packets != 3 || st.Packets != 3 {
					t.Errorf("format %q packets %d/%d", in.Format, in.Packets, st.Packets)
				}
				wantFirst := rs[0].ts
				if !f.ns {
					wantFirst = wantFirst.Truncate(time.Microsecond)
				}
				if !in.First.Equal(wantFirst) || !in.Last.After(in.First) {
					t.Errorf("first %v last %v, want first %v", in.First, in.Last, wantFirst)
				}
				checkEvents(t, r.events, convoEvents)
			})
		}
	}
}

func TestLinkTypesEndToEnd(t *testing.T) {
	for _, lt := range []uint16{linkEthernet, linkSLL, linkSLL2, linkRaw, linkRawDLT12, linkIPv4, linkNull, linkLoop} {
		t.Run(fmt.Sprint(lt), func(t *testing.T) {
			p := writeFile(t, "x.pcap", pcapLE(t, lt, false, convoRecs(t, lt)))
			r, _, st := runFiles(t, []string{p}, Options{})
			checkEvents(t, r.events, convoEvents)
			if st.TCPPackets != 3 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("ipv6", func(t *testing.T) {
		c6, s6 := "[2001:db8::1]:50000", "[2001:db8::2]:135"
		rs := []rec{{ts: t0, data: ipPacket(t, seg{c6, s6, 1, 0, "S", ""})}, {ts: t0, data: ipPacket(t, seg{c6, s6, 2, 0, "PA", "x"})}}
		for _, lt := range []uint16{linkIPv6, linkRaw} {
			p := writeFile(t, "x.pcap", pcapLE(t, lt, false, rs))
			r, _, _ := runFiles(t, []string{p}, Options{})
			checkEvents(t, r.events, []string{
				"open 1 [2001:db8::1]:50000>[2001:db8::2]:135 syn=true f0:1",
				`data 1 c2s f0:2 "x"`,
				"end 1 end_of_capture f0:2",
			})
		}
	})
}

func TestPcapngInterfacesAndSections(t *testing.T) {
	// Section 1 (little endian): interface 0 Ethernet in microseconds,
	// interface 1 raw IPv4 in 2^-20 s. Section 2 (big endian): one SLL
	// interface in nanoseconds.
	base := uint64(t0.Unix())
	sec1 := ngSection(binary.LittleEndian,
		[]ngIface{{linkEthernet, 0}, {linkIPv4, 0x80 | 20}},
		[]ngPkt{
			{iface: 0, ts: base*1e6 + 1, data: frame(linkEthernet, ipPacket(t, convo[0]))},
			{iface: 1, ts: base<<20 | 1<<19, data: ipPacket(t, convo[1])}, // +0.5 s
		})
	sec2 := ngSection(binary.BigEndian,
		[]ngIface{{linkSLL, 9}},
		[]ngPkt{{iface: 0, ts: base*1e9 + 7e8, data: frame(linkSLL, ipPacket(t, convo[2]))}})
	p := writeFile(t, "two.pcapng", append(sec1, sec2...))
	var times []time.Time
	r := &recorder{}
	infos, st := Run([]string{p}, Options{Factory: func(c ConnInfo) StreamHandler {
		times = append(times, c.First.Time)
		return r.factory(c)
	}})
	if infos[0].Err != nil || len(infos[0].Warnings) > 0 || infos[0].Packets != 3 {
		t.Fatalf("%+v", infos[0])
	}
	checkEvents(t, r.events, convoEvents)
	if st.TCPPackets != 3 {
		t.Errorf("stats %+v", st)
	}
	if want := t0.Add(time.Microsecond); len(times) != 1 || !times[0].Equal(want) {
		t.Errorf("first time %v want %v", times, want)
	}
	if want := t0.Add(700 * time.Millisecond); !infos[0].Last.Equal(want) {
		t.Errorf("last %v want %v", infos[0].Last, want)
	}
}

func TestMergeOrderAndFrameNumbers(t *testing.T) {
	// File 0 holds the client's segments (and an ARP frame), file 1 the
	// server's; timestamps interleave, with one tie.
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	arp := append(append(append([]byte(nil), macB...), macA...), 0x08, 0x06, 0, 1, 8, 0, 6, 4)
	f0 := []rec{
		{ts: ms(0), data: frame(linkEthernet, ipPacket(t, seg{cli, srv, 100, 0, "PA", "c1"}))},
		{ts: ms(1), data: arp},
		{ts: ms(2), data: frame(linkEthernet, ipPacket(t, seg{cli, srv, 102, 0, "PA", "c2"}))},
		{ts: ms(4), data: frame(linkEthernet, ipPacket(t, seg{cli, srv, 104, 0, "PA", "c3"}))},
	}
	f1 := []rec{
		{ts: ms(1), data: frame(linkEthernet, ipPacket(t, seg{srv, cli, 500, 0, "PA", "s1"}))},
		{ts: ms(2), data: frame(linkEthernet, ipPacket(t, seg{srv, cli, 502, 0, "PA", "s2"}))},
		{ts: ms(3), data: frame(linkEthernet, ipPacket(t, seg{srv, cli, 504, 0, "PA", "s3"}))},
	}
	p0 := writeFile(t, "a.pcap", pcapLE(t, linkEthernet, false, f0))
	p1 := writeFile(t, "b.pcapng.gz", gz(t, pcapLE(t, linkEthernet, true, f1)))
	r, infos, st := runFiles(t, []string{p0, p1}, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=false f0:1",
		`data 1 c2s f0:1 "c1"`,
		`data 1 s2c f1:1 "s1"`,
		`data 1 c2s f0:3 "c2"`,
		`data 1 s2c f1:2 "s2"`,
		`data 1 s2c f1:3 "s3"`,
		`data 1 c2s f0:4 "c3"`,
		"end 1 end_of_capture f0:4",
	})
	if infos[0].Packets != 4 || infos[1].Packets != 3 || st.Packets != 7 || st.NonIP != 1 {
		t.Errorf("infos %+v %+v stats %+v", infos[0], infos[1], st)
	}
}

func TestTimestampsBackwards(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	rs[1].ts, rs[2].ts = rs[0].ts.Add(-time.Second), rs[0].ts.Add(-2*time.Second)
	p := writeFile(t, "x.pcap", pcapLE(t, linkEthernet, false, rs))
	r, infos, _ := runFiles(t, []string{p}, Options{})
	if w := infos[0].Warnings; len(w) != 1 || w[0] != "timestamps go backwards at frame 2" {
		t.Errorf("warnings %q", w)
	}
	checkEvents(t, r.events, convoEvents) // file order kept
}

func TestSnapLength(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	full := rs[1].data
	rs[1].data, rs[1].origLen = full[:len(full)-2], len(full) // "bi" of "bind"
	p := writeFile(t, "x.pcap", pcapLE(t, linkEthernet, false, rs))
	r, infos, st := runFiles(t, []string{p}, Options{})
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:2 "bi"`,
		"gap 1 c2s f0:2 2",
		`data 1 s2c f0:3 "bind_ack"`,
		"end 1 end_of_capture f0:3",
	})
	if st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
	if in := infos[0]; in.Cut != 1 || in.SnapLen != len(full)-2 {
		t.Errorf("input: cut %d records to %d bytes, want 1 to %d", in.Cut, in.SnapLen, len(full)-2)
	}

	// A handler that is a Cutter hears of the cut bytes as cut, not lost.
	cr := &recorder{cutter: true}
	Run([]string{p}, Options{Factory: cr.factory})
	checkEvents(t, cr.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:2 "bi"`,
		"cut 1 c2s f0:2 2",
		`data 1 s2c f0:3 "bind_ack"`,
		"end 1 end_of_capture f0:3",
	})

	// A whole capture: nothing cut.
	q := writeFile(t, "y.pcap", pcapLE(t, linkEthernet, false, convoRecs(t, linkEthernet)))
	_, infos, _ = runFiles(t, []string{q}, Options{})
	if in := infos[0]; in.Cut != 0 || in.SnapLen != 0 {
		t.Errorf("whole capture: cut %d records to %d bytes", in.Cut, in.SnapLen)
	}
}

func TestStdin(t *testing.T) {
	data := pcapLE(t, linkEthernet, false, convoRecs(t, linkEthernet))
	r, infos, _ := runFiles(t, []string{"-"}, Options{Stdin: bytes.NewReader(gz(t, data))})
	if infos[0].Err != nil || infos[0].Format != "pcap+gzip" || infos[0].Path != "-" {
		t.Fatalf("%+v", infos[0])
	}
	checkEvents(t, r.events, convoEvents)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	pcapHdr := pcapLE(t, linkEthernet, false, nil)
	ngHdr := ngSection(binary.LittleEndian, nil, nil)
	files := map[string][]byte{
		"empty.pcap":   {},
		"notes.txt":    []byte("hello world\n"),
		"bin.dat":      {0, 1, 2, 3, 4},
		"short.pcap":   pcapHdr[:20],
		"tiny.pcap":    pcapHdr[:2],
		"short.pcapng": ngHdr[:10],
		"bad.gz":       {0x1f, 0x8b, 0, 0, 0},
		"text.gz":      gz(t, []byte("just text")),
		"empty.gz":     gz(t, nil),
		"badver.pcap":  append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 9, 0}, pcapHdr[6:]...),
		"v2.pcapng":    append(append([]byte(nil), ngHdr[:12]...), append([]byte{2, 0}, ngHdr[14:]...)...),
	}
	for name, b := range files {
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	good := writeFile(t, "good.pcap", pcapLE(t, linkEthernet, false, convoRecs(t, linkEthernet)))
	p := func(n string) string { return filepath.Join(dir, n) }
	paths := []string{p("missing.pcap"), dir, p("empty.pcap"), p("notes.txt"), p("bin.dat"), p("short.pcap"),
		p("tiny.pcap"), p("short.pcapng"), p("bad.gz"), p("text.gz"), p("empty.gz"), p("badver.pcap"), p("v2.pcapng"), good}
	want := []string{
		p("missing.pcap") + ": no such file",
		dir + ": is a directory",
		p("empty.pcap") + ": empty file",
		p("notes.txt") + `: not a capture file (starts with "hell")`,
		p("bin.dat") + `: not a capture file (starts with "\x00\x01\x02\x03")`,
		p("short.pcap") + ": capture truncated inside the file header",
		p("tiny.pcap") + ": capture truncated inside the file header",
		p("short.pcapng") + ": capture truncated inside the file header",
		p("bad.gz") + ": corrupt gzip data: data ends early",
		p("text.gz") + `: not a capture file inside gzip (starts with "just")`,
		p("empty.gz") + ": empty file",
		p("badver.pcap") + ": bad pcap header: unknown major version 9",
		p("v2.pcapng") + ": unsupported pcapng version 2.0",
	}
	r, infos, _ := runFiles(t, paths, Options{})
	for i, w := range want {
		if infos[i].Err == nil || infos[i].Err.Error() != w {
			t.Errorf("%s: got %v, want %s", paths[i], infos[i].Err, w)
		}
		if infos[i].Err != nil && strings.Contains(infos[i].Err.Error(), "\n") {
			t.Errorf("multi-line error %q", infos[i].Err)
		}
	}
	if infos[len(paths)-1].Err != nil {
		t.Errorf("good file: %v", infos[len(paths)-1].Err)
	}
	if len(r.events) != len(convoEvents) {
		t.Errorf("good file not processed: %v", r.events)
	}
}

func TestTruncatedFiles(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	pc := pcapLE(t, linkEthernet, false, rs)
	third := 24 + 16 + len(rs[0].data) + 16 + len(rs[1].data) // offset of record 3
	var ngPkts []ngPkt
	for _, r := range rs {
		ngPkts = append(ngPkts, ngPkt{ts: uint64(r.ts.UnixMicro()), data: r.data})
	}
	ng := ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, ngPkts)
	ngThird := len(ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, ngPkts[:2]))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"mid-record", pc[:third+30], fmt.Sprintf("capture truncated at byte %d", third)},
		{"mid-record-header", pc[:third+5], fmt.Sprintf("capture truncated at byte %d", third)},
		{"after-record-header", pc[:third+16], fmt.Sprintf("capture truncated at byte %d", third)},
		{"pcapng-mid-block", ng[:ngThird+40], fmt.Sprintf("capture truncated at byte %d", ngThird)},
		{"pcapng-mid-header", ng[:ngThird+6], fmt.Sprintf("capture truncated at byte %d", ngThird)},
		{"gzip-cut", gz(t, pc)[:len(gz(t, pc))-20], "capture truncated at byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "x.pcap", c.data)
			r, infos, _ := runFiles(t, []string{p}, Options{})
			in := infos[0]
			if in.Err != nil {
				t.Fatalf("err %v", in.Err)
			}
			if len(in.Warnings) != 1 || !strings.HasPrefix(in.Warnings[0], c.want) {
				t.Errorf("warnings %q, want %q", in.Warnings, c.want)
			}
			if c.name != "gzip-cut" && (in.Packets != 2 || len(r.events) != 3) {
				t.Errorf("packets %d events %v", in.Packets, r.events)
			}
		})
	}
}

func TestCorruptInputs(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	pc := pcapLE(t, linkEthernet, false, rs)
	// A record claiming 1 GiB.
	huge := append([]byte(nil), pc...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	binary.LittleEndian.PutUint32(huge[24+12:], 1<<30)
	// A gzip stream with a damaged body.
	z := gz(t, pc)
	z[len(z)/2] ^= 0xff
	// A gzip stream with a bad checksum.
	zc := gz(t, pc)
	zc[len(zc)-6] ^= 0xff
	// pcapng with a block length that is not a multiple of 4.
	ng := ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, []ngPkt{{data: rs[0].data}})
	ngBad := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(ngBad[len(ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}}, nil))+4:], 13)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"huge", huge, "record at byte 24 too long (1073741824 bytes); stopped reading"},
		{"gzip-body", z, ""}, // garbage out of flate, or a flate error
		{"gzip-checksum", zc, "corrupt gzip data"},
		{"pcapng-block-len", ngBad, "corrupt pcapng block at byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "x", c.data)
			_, infos, _ := runFiles(t, []string{p}, Options{})
			in := infos[0]
			msg := fmt.Sprint(in.Err)
			if in.Err == nil && len(in.Warnings) > 0 {
				msg = in.Warnings[0]
			}
			if in.Err == nil && len(in.Warnings) == 0 || !strings.Contains(msg, c.want) {
				t.Errorf("got err %v warnings %q; want %q", in.Err, in.Warnings, c.want)
			}
		})
	}
}

// TestTimestampRange: minUnix and maxUnix bound the years 1 to 9999 that
// RFC 3339 prints, to the second.
func TestTimestampRange(t *testing.T) {
	for _, c := range []struct {
		u    int64
		year int
	}{{minUnix, 1}, {minUnix - 1, 0}, {maxUnix, 9999}, {maxUnix + 1, 10000}} {
		if y := time.Unix(c.u, 0).UTC().Year(); y != c.year {
			t.Errorf("second %d is in year %d, want %d", c.u, y, c.year)
		}
	}
}
