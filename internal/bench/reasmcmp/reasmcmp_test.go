package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/capture"
)

// both runs the two reassemblers on one file, keeping every byte.
func both(t *testing.T, path string, o gpOptions) (ours, theirs *collector) {
	t.Helper()
	ours = newCollector(true)
	infos, _ := runOurs([]string{path}, ours, capture.Options{})
	if infos[0].Err != nil {
		t.Fatal(infos[0].Err)
	}
	theirs = newCollector(true)
	if _, err := runGopacket(path, theirs, o); err != nil {
		t.Fatal(err)
	}
	return ours, theirs
}

// frameDiffs lists the streams whose bytes agree but came from other frames
// (which copy of a retransmitted byte each side kept).
func frameDiffs(ours, theirs *collector) []string {
	var out []string
	for _, k := range ours.keys() {
		a, b := ours.streams[k], theirs.streams[k]
		for i := range min(len(a), len(b)) {
			if !same(a[i], b[i]) || slices.Equal(a[i].Frames, b[i].Frames) {
				continue
			}
			for j := range a[i].Frames {
				if a[i].Frames[j] != b[i].Frames[j] {
					out = append(out, fmt.Sprintf("%s #%d byte %d: frame %d (ours) / %d (gopacket)", k, i, j, a[i].Frames[j], b[i].Frames[j]))
					break
				}
			}
		}
	}
	return out
}

// TestDifferentialTestdata runs internal/capture and gopacket's
// DecodingLayerParser + reassembly.Assembler on every capture of testdata/
// and wants the same byte streams per connection and direction: the same
// bytes, the same holes, and each byte from the same frame. It runs
// gopacket twice: with Midstream (Accept forces the start of a direction
// whose SYN is not in the capture, as reassemblydump's -allowmissinginit
// does) and with its default (such a direction waits for FlushAll). The
// streams agree everywhere; what differs is when gopacket delivers some of
// them, relative to the other streams, and lateDelivery lists and checks
// where and why. Bytes delivered late are what matters to nspicap, which
// pairs requests with responses in capture order.
func TestDifferentialTestdata(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		m, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", pat))
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found %d captures in testdata", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			for _, mid := range []bool{true, false} {
				ours, theirs := both(t, f, gpOptions{Midstream: mid})
				if len(ours.streams) == 0 {
					t.Fatal("no streams")
				}
				for _, d := range compare(ours, theirs) {
					t.Errorf("midstream %v: %s", mid, d)
				}
				for _, d := range frameDiffs(ours, theirs) {
					t.Errorf("midstream %v: %s", mid, d)
				}
				late := lateDelivery[name]
				if mid {
					late = lateDeliveryMidstream[name]
				}
				if late == nil {
					if !slices.Equal(ours.Log, theirs.Log) {
						t.Errorf("midstream %v: the bytes come in another order:\nours:\n%sgopacket:\n%s", mid, logString(ours), logString(theirs))
					}
					continue
				}
				if slices.Equal(ours.Log, theirs.Log) {
					t.Errorf("midstream %v: the bytes come in the same order; want gopacket's later", mid)
				}
				if msg := late(ours, theirs); msg != "" {
					t.Errorf("midstream %v: %s\nours:\n%sgopacket:\n%s", mid, msg, logString(ours), logString(theirs))
				}
			}
		})
	}
}

// A hole waits in gopacket until the end of the connection: without a
// time-out (FlushCloseOlderThan) nothing declares it lost. We declare it
// lost when the receiver acknowledges past it. In missing-segment.pcap the
// client's bytes after the hole therefore come, in gopacket, after every
// later answer of the server; in ours, before the server's next answer.
func holeLateCheck(client, server string) func(ours, theirs *collector) string {
	return func(ours, theirs *collector) string {
		c2s := dirKey{netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)}
		s2c := dirKey{c2s.Dst, c2s.Src}
		hole := func(e event) bool { return e.Key == c2s && e.Hole }
		fromServer := func(e event) bool { return e.Key == s2c }
		if h, l := firstIndex(theirs, hole), lastIndex(theirs, fromServer); h < 0 || h < l {
			return fmt.Sprintf("gopacket: hole at call %d, server's last bytes at %d: want the hole after", h, l)
		}
		if h, l := firstIndex(ours, hole), lastIndex(ours, fromServer); h < 0 || h > l {
			return fmt.Sprintf("ours: hole at call %d, server's last bytes at %d: want the hole before", h, l)
		}
		return ""
	}
}

// Without Midstream, gopacket holds every byte of a connection whose SYN
// is not in the capture until FlushAll: in midstream.pcap all of
// 192.0.2.60:49702's bytes come after those of the other connection.
// midstreamLate checks a capture whose connections from the client
// sockets mids start without a SYN: gopacket's default holds them until
// the end, after every other connection's bytes, where ours delivers them
// in capture order (their first byte before the others' last, when there
// are others).
func midstreamLate(mids ...string) func(ours, theirs *collector) string {
	set := map[netip.AddrPort]bool{}
	for _, m := range mids {
		set[netip.MustParseAddrPort(m)] = true
	}
	return func(ours, theirs *collector) string {
		of := func(e event) bool { return set[e.Key.Src] || set[e.Key.Dst] }
		other := func(e event) bool { return !of(e) }
		if lastIndex(theirs, other) < 0 {
			return "" // no other connection: only the order among them differs
		}
		if f, l := firstIndex(theirs, of), lastIndex(theirs, other); f < l {
			return fmt.Sprintf("gopacket: first byte of a midstream connection at call %d, before the others' last at %d", f, l)
		}
		if f, l := firstIndex(ours, of), lastIndex(ours, other); f > l {
			return "ours: the midstream connections' bytes come after the others'"
		}
		return ""
	}
}

// lateDelivery (gopacket's default: no Midstream) and lateDeliveryMidstream
// list the captures where gopacket delivers some bytes later than we do,
// relative to other streams, and check how.
var (
	lateDelivery = map[string]func(ours, theirs *collector) string{
		"missing-segment.pcap": holeLateCheck("192.0.2.90:49702", "198.51.100.10:4997"),
		"midstream.pcap":       midstreamLate("192.0.2.60:49702"),
		// Connections older than the capture (internal/synth olderScenario).
		"older-epm-before.pcap":  midstreamLate("192.0.2.70:49702", "192.0.2.70:49705", "192.0.2.70:49708", "192.0.2.72:49711"),
		"older-epm-after.pcap":   midstreamLate("192.0.2.70:49702", "192.0.2.70:49705", "192.0.2.70:49708"),
		"older-no-evidence.pcap": midstreamLate("192.0.2.70:49702", "192.0.2.70:49705"),
		// RPC over HTTP channels older than the capture (internal/synth
		// scenario_rpch_older.go).
		"rpch-older.pcap":          midstreamLate("192.0.2.80:49702", "192.0.2.80:49705", "192.0.2.80:49708", "192.0.2.80:49711"),
		"rpch-older-unpaired.pcap": midstreamLate("192.0.2.80:49702", "192.0.2.80:49705", "192.0.2.80:49708", "192.0.2.80:49711", "192.0.2.80:49714"),
	}
	lateDeliveryMidstream = map[string]func(ours, theirs *collector) string{
		"missing-segment.pcap": holeLateCheck("192.0.2.90:49702", "198.51.100.10:4997"),
	}
)

func firstIndex(c *collector, f func(event) bool) int {
	return slices.IndexFunc(c.Log, f)
}

func lastIndex(c *collector, f func(event) bool) int {
	for i := len(c.Log) - 1; i >= 0; i-- {
		if f(c.Log[i]) {
			return i
		}
	}
	return -1
}

// logString renders a collector's calls, one per line, for messages.
func logString(c *collector) string {
	var b strings.Builder
	for _, e := range c.Log {
		kind := "data"
		if e.Hole {
			kind = "hole"
		}
		fmt.Fprintf(&b, "%s %s %d\n", e.Key, kind, e.N)
	}
	return b.String()
}
