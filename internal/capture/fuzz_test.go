package capture

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRun feeds arbitrary bytes to Run as a capture file: it must not panic
// and handlers must see a consistent sequence of calls.
func FuzzRun(f *testing.F) {
	rs := convoRecs(&testing.T{}, linkEthernet)
	segs := append(handshake(100, 500),
		seg{cli, srv, 105, 501, "PA", "efgh"},
		seg{cli, srv, 101, 501, "PA", "abcd"},
		seg{srv, cli, 501, 109, "FA", "x"},
		seg{cli, srv, 109, 503, "FA", ""},
	)
	pc := pcapLE(&testing.T{}, linkEthernet, false, append(rs, segRecs(&testing.T{}, segs)...))
	f.Add(pc)
	f.Add(pc[:len(pc)-7])
	f.Add(gz(&testing.T{}, pc))
	f.Add(pcapBytes(binary.BigEndian, true, linkSLL, convoRecs(&testing.T{}, linkSLL)))
	var ngPkts []ngPkt
	for _, r := range convoRecs(&testing.T{}, linkSLL2) {
		ngPkts = append(ngPkts, ngPkt{iface: 1, ts: uint64(r.ts.UnixMicro()), data: r.data})
	}
	f.Add(ngSection(binary.LittleEndian, []ngIface{{linkEthernet, 0}, {linkSLL2, 3}}, ngPkts))
	f.Add(ngSection(binary.BigEndian, []ngIface{{linkNull, 0x80 | 10}}, nil))
	ip := ipPacket(&testing.T{}, seg{cli, srv, 101, 1, "PA", fragPayload})
	f.Add(pcapLE(&testing.T{}, linkEthernet, false, v4Frags(ip, 9, []piece{{lo: 56, hi: 84}, {lo: 0, hi: 24, more: true},
		{lo: 16, hi: 40, more: true, fill: 'X'}, {lo: 24, hi: 56, more: true}})))
	udp := udpPacket(&testing.T{}, "10.0.0.2", "10.0.0.1", 88, 50000, []byte(fragPayload+fragPayload))
	f.Add(pcapLE(&testing.T{}, linkEthernet, false, v4Frags(udp, 9, []piece{{lo: 96, hi: 136}, {lo: 0, hi: 48, more: true}, {lo: 48, hi: 96, more: true}})))
	f.Add([]byte("hello"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.pcap")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := &recorder{}
		d := &dgramRec{}
		infos, st := Run([]string{p}, Options{Factory: r.factory, MaxBuffered: 64, MaxConns: 4, Datagrams: d})
		if infos[0].Err == nil && infos[0].Packets != st.Packets {
			t.Fatalf("packets %d vs %d", infos[0].Packets, st.Packets)
		}
		if int64(len(d.got)) != st.UDPKerberos {
			t.Fatalf("%d datagrams handed on, %d counted", len(d.got), st.UDPKerberos)
		}
	})
}

// FuzzNetmon feeds damaged NetMon files to Run, as a file and as a gzip
// stream: no panic, and the packets counted are the packets delivered.
func FuzzNetmon(f *testing.F) {
	rs := nmRecs(convoRecs(&testing.T{}, linkEthernet), 1)
	for _, o := range []nmOpts{{major: 1, media: 1}, {major: 2, media: 1}, {major: 2, minor: 1, media: 1},
		{major: 2, minor: 2, media: 1}, {major: 2, minor: 3, media: 1, reverse: true}} {
		f.Add(netmonBytes(o, rs), false)
	}
	if b, err := os.ReadFile(filepath.Join(testdataDir, "clean-netmon2.cap")); err == nil {
		f.Add(b, false)
		f.Add(b, true)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, zip bool) {
		if zip {
			data = gz(t, data)
		}
		p := filepath.Join(dir, "fuzz.cap")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := &recorder{}
		infos, st := Run([]string{p}, Options{Factory: r.factory, MaxBuffered: 64, MaxConns: 4})
		if infos[0].Err == nil && infos[0].Packets != st.Packets {
			t.Fatalf("packets %d vs %d", infos[0].Packets, st.Packets)
		}
		if err := infos[0].Err; err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}
