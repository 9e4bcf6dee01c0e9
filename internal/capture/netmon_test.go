package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nmRec is one record of a generated NetMon file.
type nmRec struct {
	ts    time.Time
	data  []byte
	media uint16 // 2.1 and later: the frame's media type
}

// nmOpts shape a generated NetMon file.
type nmOpts struct {
	major, minor uint8
	media        uint16 // of the file
	reverse      bool   // store the frames in the file in reverse order
}

// netmonBytes writes a NetMon file as Network Monitor lays it out: the
// 128-byte header, the frames, the frame table.
func netmonBytes(o nmOpts, rs []nmRec) []byte {
	le := binary.LittleEndian
	start := t0
	if len(rs) > 0 {
		start = rs[0].ts.Truncate(time.Millisecond)
	}
	recBytes := func(r nmRec) []byte {
		var b []byte
		d := r.ts.Sub(start)
		if o.major == 1 {
			b = le.AppendUint32(b, uint32(d/time.Millisecond))
			b = le.AppendUint16(b, uint16(len(r.data)))
			b = le.AppendUint16(b, uint16(len(r.data)))
		} else {
			b = le.AppendUint64(b, uint64(d/time.Microsecond))
			b = le.AppendUint32(b, uint32(len(r.data)))
			b = le.AppendUint32(b, uint32(len(r.data)))
		}
		b = append(b, r.data...)
		if o.major == 2 && o.minor >= 1 {
			b = le.AppendUint16(b, r.media)
		}
		if o.major == 2 && o.minor >= 2 {
			b = le.AppendUint32(b, 0)
		}
		if o.major == 2 && o.minor >= 3 {
			ft := uint64(r.ts.Unix()+11644473600)*1e7 + uint64(r.ts.Nanosecond()/100)
			b = le.AppendUint64(b, ft)
			b = append(b, 0)
		}
		return b
	}
	body := make([]byte, 128)
	offs := make([]uint32, len(rs))
	order := make([]int, len(rs))
	for i := range rs {
		order[i] = i
		if o.reverse {
			order[i] = len(rs) - 1 - i
		}
	}
	for _, i := range order {
		offs[i] = uint32(len(body))
		body = append(body, recBytes(rs[i])...)
	}
	table := uint32(len(body))
	for _, off := range offs {
		body = le.AppendUint32(body, off)
	}
	magic := "GMBU"
	if o.major == 1 {
		magic = "RTSS"
	}
	h := body[:0]
	h = append(h, magic...)
	h = append(h, o.minor, o.major)
	h = le.AppendUint16(h, o.media)
	for _, v := range []int{start.Year(), int(start.Month()), int(start.Weekday()), start.Day(), start.Hour(), start.Minute(), start.Second(), start.Nanosecond() / 1e6} {
		h = le.AppendUint16(h, uint16(v))
	}
	h = le.AppendUint32(h, table)
	le.AppendUint32(h, uint32(4*len(rs)))
	return body
}

func nmRecs(rs []rec, media uint16) []nmRec {
	var out []nmRec
	for _, r := range rs {
		out = append(out, nmRec{ts: r.ts, data: r.data, media: media})
	}
	return out
}

func TestNetmonVersions(t *testing.T) {
	rs := convoRecs(t, linkEthernet)
	for _, c := range []struct {
		o      nmOpts
		format string
		res    time.Duration
	}{
		{nmOpts{major: 1, media: 1}, "netmon1", time.Millisecond},
		{nmOpts{major: 2, media: 1}, "netmon2", time.Microsecond},
		{nmOpts{major: 2, minor: 1, media: 1}, "netmon2", time.Microsecond},
		{nmOpts{major: 2, minor: 2, media: 1}, "netmon2", time.Microsecond},
		{nmOpts{major: 2, minor: 3, media: 1}, "netmon2", 100 * time.Nanosecond},
		{nmOpts{major: 2, minor: 3, media: 1, reverse: true}, "netmon2", 100 * time.Nanosecond},
	} {
		name := fmt.Sprintf("%d.%d-reverse=%v", c.o.major, c.o.minor, c.o.reverse)
		t.Run(name, func(t *testing.T) {
			data := netmonBytes(c.o, nmRecs(rs, 1))
			for _, zip := range []bool{false, true} {
				b, format := data, c.format
				if zip {
					b, format = gz(t, data), format+"+gzip"
					if c.o.reverse {
						// A stream is read in file order:
						// the table check says so.
						_, infos, _ := runFiles(t, []string{writeFile(t, "x.cap.gz", b)}, Options{})
						if len(infos[0].Warnings) != 2 || !strings.Contains(infos[0].Warnings[len(infos[0].Warnings)-1], "does not list") {
							t.Errorf("reversed stream: warnings %q", infos[0].Warnings)
						}
						continue
					}
				}
				r, infos, st := runFiles(t, []string{writeFile(t, "x.cap", b)}, Options{})
				in := infos[0]
				if in.Err != nil || len(in.Warnings) > 0 {
					t.Fatalf("zip=%v: err %v warnings %q", zip, in.Err, in.Warnings)
				}
				if in.Format != format || in.Packets != 3 || st.TCPPackets != 3 {
					t.Errorf("format %q packets %d tcp %d", in.Format, in.Packets, st.TCPPackets)
				}
				if want := rs[0].ts.Truncate(c.res); !in.First.Equal(want) {
					t.Errorf("first %v, want %v", in.First, want)
				}
				if want := rs[2].ts.Truncate(c.res); !in.Last.Equal(want) {
					t.Errorf("last %v, want %v", in.Last, want)
				}
				checkEvents(t, r.events, convoEvents)
			}
		})
	}
}

// TestNetmonMediaTypes: per-frame media types of 2.1 and later map to link
// types; NetMon's own records that Wireshark does not number are skipped
// without a frame number, the others are frames without IP.
func TestNetmonMediaTypes(t *testing.T) {
	var rs []nmRec
	raw := convoRecs(t, linkRaw)
	sll2 := convoRecs(t, linkSLL2)
	rs = append(rs,
		nmRec{ts: raw[0].ts, data: raw[0].data, media: 9},             // raw IP frames
		nmRec{ts: raw[0].ts, data: []byte("adapters"), media: 0xFFFD}, // network info: not a frame
		nmRec{ts: raw[0].ts, data: []byte("filter"), media: 0xFFFF},   // a frame, not IP
		nmRec{ts: sll2[1].ts, data: sll2[1].data, media: 0xE000 | linkSLL2},
		nmRec{ts: raw[2].ts, data: raw[2].data, media: 7},
	)
	data := netmonBytes(nmOpts{major: 2, minor: 3, media: 1}, rs)
	r, infos, st := runFiles(t, []string{writeFile(t, "x.cap", data)}, Options{})
	if infos[0].Err != nil || len(infos[0].Warnings) > 0 {
		t.Fatalf("err %v warnings %q", infos[0].Err, infos[0].Warnings)
	}
	if st.Packets != 4 || st.TCPPackets != 3 || st.NonIP != 1 {
		t.Errorf("stats %+v", st)
	}
	checkEvents(t, r.events, []string{
		"open 1 10.0.0.1:50000>10.0.0.2:135 syn=true f0:1",
		`data 1 c2s f0:3 "bind"`,
		`data 1 s2c f0:4 "bind_ack"`,
		"end 1 end_of_capture f0:4",
	})
}

// TestNetmonDamaged: a damaged NetMon file keeps the frames before the
// damage and says where it is, in one warning.
func TestNetmonDamaged(t *testing.T) {
	le := binary.LittleEndian
	rs := nmRecs(convoRecs(t, linkEthernet), 1)
	good := netmonBytes(nmOpts{major: 2, minor: 3, media: 1}, rs)
	table := int(le.Uint32(good[24:]))
	third := int(le.Uint32(good[table+8:]))
	cases := []struct {
		name    string
		data    func() []byte
		packets int64
		want    string
	}{
		{"cut-in-frame", func() []byte { return good[:third+20] }, 2,
			fmt.Sprintf("capture truncated at byte %d (the NetMon frame table is missing; frames were read in file order)", third)},
		{"cut-before-table", func() []byte { return good[:table] }, 3,
			fmt.Sprintf("capture truncated at byte %d (the NetMon frame table is missing; frames were read in file order)", table)},
		{"cut-in-table", func() []byte { return good[:table+6] }, 3,
			fmt.Sprintf("capture truncated at byte %d (the NetMon frame table is missing; frames were read in file order)", table)},
		{"entry-outside", func() []byte {
			b := bytes.Clone(good)
			le.PutUint32(b[table+8:], 1<<30)
			return b
		}, 2, fmt.Sprintf("corrupt NetMon frame table: frame at byte %d is outside the file; stopped reading", 1<<30)},
		{"entry-in-header", func() []byte {
			b := bytes.Clone(good)
			le.PutUint32(b[table+8:], 3)
			return b
		}, 2, "corrupt NetMon frame table: frame at byte 3 is outside the file; stopped reading"},
		{"huge-record", func() []byte {
			b := bytes.Clone(good)
			le.PutUint32(b[third+12:], 0xfffffff0)
			return b
		}, 2, fmt.Sprintf("record at byte %d too long (%d bytes); stopped reading", third, 0xfffffff0)},
		{"record-past-end", func() []byte {
			b := bytes.Clone(good)
			le.PutUint32(b[third+12:], 200000)
			return b
		}, 2, fmt.Sprintf("capture truncated at byte %d", third)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, infos, _ := runFiles(t, []string{writeFile(t, "x.cap", c.data())}, Options{})
			in := infos[0]
			if in.Err != nil || len(in.Warnings) != 1 || in.Warnings[0] != c.want {
				t.Errorf("err %v warnings %q, want %q", in.Err, in.Warnings, c.want)
			}
			if in.Packets != c.packets {
				t.Errorf("packets %d, want %d", in.Packets, c.packets)
			}
		})
	}
}

// TestNetmonAndETLOpenErrors: files that cannot be read at all get one line
// naming the file and what is wrong.
func TestNetmonAndETLOpenErrors(t *testing.T) {
	le := binary.LittleEndian
	good := netmonBytes(nmOpts{major: 2, media: 1}, nmRecs(convoRecs(t, linkEthernet), 1))
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	etl := make([]byte, 4096)
	le.PutUint32(etl[0:], 65536)         // WMI_BUFFER_HEADER.BufferSize
	le.PutUint32(etl[0x48:], 0xC0020002) // SYSTEM_TRACE_HEADER marker, 64-bit, version 2
	le.PutUint16(etl[0x4c:], 0x0138)     // size; hook id 0 (logfile header)
	le.PutUint32(etl[0x68:], 65536)      // TRACE_LOGFILE_HEADER.BufferSize
	notETL := bytes.Clone(etl)
	le.PutUint16(notETL[0x4e:], 1) // another hook id
	const conv = "an ETW trace (.etl, as netsh trace and pktmon write), not a packet capture: convert it with " +
		"etl2pcapng in.etl out.pcapng (github.com/microsoft/etl2pcapng) or pktmon etl2pcap in.etl --out out.pcapng"
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"short.cap", good[:40], "capture truncated inside the file header"},
		{"v3.cap", mut(func(b []byte) { b[5] = 3 }), "unsupported NetMon version 3.0"},
		{"rtss-v2.cap", mut(func(b []byte) { copy(b, "RTSS") }), "unsupported NetMon version 2.0"},
		{"table.cap", mut(func(b []byte) { le.PutUint32(b[28:], 7) }), "bad NetMon header: frame table length 7 is not a multiple of 4"},
		{"time.cap", mut(func(b []byte) { le.PutUint16(b[10:], 13) }), "bad NetMon header: start time 2024-13-01 12:00:00.000"},
		{"trace.etl", etl, conv},
		{"trace.etl.gz", gz(t, etl), conv},
		{"other.bin", notETL, `not a capture file (starts with "\x00\x00\x01\x00")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, c.name, c.data)
			_, infos, _ := runFiles(t, []string{p}, Options{})
			if err := infos[0].Err; err == nil || err.Error() != p+": "+c.want {
				t.Errorf("got %v, want %s: %s", err, p, c.want)
			}
		})
	}
}

const testdataDir = "../../testdata"

// netmonFiles are the NetMon files in testdata and the captures editcap
// made them from.
var netmonFiles = []struct{ file, from, format string }{
	{"clean-netmon2.cap", "clean.pcap", "netmon2"},
}

// TestNetmonEditcap: the NetMon files in testdata are what editcap writes
// (regenerated when editcap is installed), and read as the same frames as
// the pcap they were made from.
func TestNetmonEditcap(t *testing.T) {
	for _, f := range netmonFiles {
		t.Run(f.file, func(t *testing.T) {
			committed, err := os.ReadFile(filepath.Join(testdataDir, f.file))
			if err != nil {
				t.Fatal(err)
			}
			if editcap, err := exec.LookPath("editcap"); err == nil {
				out := filepath.Join(t.TempDir(), f.file)
				if b, err := exec.Command(editcap, "-F", f.format, filepath.Join(testdataDir, f.from), out).CombinedOutput(); err != nil {
					t.Fatalf("editcap: %v: %s", err, b)
				}
				made, _ := os.ReadFile(out)
				if !bytes.Equal(made, committed) {
					t.Errorf("editcap -F %s %s differs from testdata/%s", f.format, f.from, f.file)
				}
			} else {
				t.Log("editcap not installed: the committed file is not regenerated")
			}
			a, aInfos, aSt := runFiles(t, []string{filepath.Join(testdataDir, f.from)}, Options{})
			b, bInfos, bSt := runFiles(t, []string{filepath.Join(testdataDir, f.file)}, Options{})
			if bInfos[0].Err != nil || len(bInfos[0].Warnings) > 0 || bInfos[0].Format != f.format {
				t.Fatalf("err %v warnings %q format %q", bInfos[0].Err, bInfos[0].Warnings, bInfos[0].Format)
			}
			if aSt != bSt || aInfos[0].Packets != bInfos[0].Packets || !aInfos[0].First.Equal(bInfos[0].First) || !aInfos[0].Last.Equal(bInfos[0].Last) {
				t.Errorf("stats %+v %+v, infos %+v %+v", aSt, bSt, aInfos[0], bInfos[0])
			}
			checkEvents(t, b.events, a.events)
		})
	}
}
