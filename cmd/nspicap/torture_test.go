package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/testutil"
)

// capUnit is one record of a capture file: a pcap record (header and data)
// or a pcapng block. Packet units are frames, numbered from 1 in file order.
type capUnit struct {
	b      []byte
	packet bool
}

// capFile is a capture file split into its file header (pcap only) and its
// records, so that tests can cut, drop, duplicate and reorder packets.
type capFile struct {
	ng    bool
	order binary.ByteOrder // pcap: the file's byte order
	head  []byte           // pcap: the 24-byte file header
	units []capUnit
}

// splitCapture parses a pcap or pcapng file into records. It is written for
// well-formed test captures and fails on anything else.
func splitCapture(t testing.TB, b []byte) *capFile {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("capture of %d bytes", len(b))
	}
	f := &capFile{}
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		f.order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		f.order = binary.BigEndian
	case 0x0a0d0d0a:
		f.ng = true
	default:
		t.Fatalf("not a capture: % x", b[:4])
	}
	if !f.ng {
		f.head = b[:24]
		for off := 24; off < len(b); {
			if off+16 > len(b) {
				t.Fatalf("pcap record header cut at %d", off)
			}
			n := 16 + int(f.order.Uint32(b[off+8:]))
			if off+n > len(b) {
				t.Fatalf("pcap record cut at %d", off)
			}
			f.units = append(f.units, capUnit{b: b[off : off+n], packet: true})
			off += n
		}
		return f
	}
	var order binary.ByteOrder = binary.LittleEndian
	for off := 0; off < len(b); {
		if off+12 > len(b) {
			t.Fatalf("pcapng block cut at %d", off)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == 0x0a0d0d0a {
			if binary.BigEndian.Uint32(b[off+8:]) == 0x1a2b3c4d {
				order = binary.BigEndian
			} else {
				order = binary.LittleEndian
			}
		} else {
			typ = order.Uint32(b[off:])
		}
		n := int(order.Uint32(b[off+4:]))
		if n < 12 || off+n > len(b) {
			t.Fatalf("pcapng block at %d: length %d", off, n)
		}
		f.units = append(f.units, capUnit{b: b[off : off+n], packet: typ == 2 || typ == 3 || typ == 6})
		off += n
	}
	return f
}

// bytes joins the file header and the records.
func (f *capFile) bytes() []byte {
	var out []byte
	out = append(out, f.head...)
	for _, u := range f.units {
		out = append(out, u.b...)
	}
	return out
}

// packets returns the indexes in f.units of the packet records, in order.
func (f *capFile) packets() []int {
	var out []int
	for i, u := range f.units {
		if u.packet {
			out = append(out, i)
		}
	}
	return out
}

// boundaries returns the byte offset of the start of every record and of
// the end of the file.
func (f *capFile) boundaries() []int {
	off := len(f.head)
	out := []int{}
	for _, u := range f.units {
		out = append(out, off)
		off += len(u.b)
	}
	return append(out, off)
}

// without returns the file with the packet units at the given indexes of
// f.units removed.
func (f *capFile) without(drop map[int]bool) []byte {
	g := &capFile{ng: f.ng, order: f.order, head: f.head}
	for i, u := range f.units {
		if !drop[i] {
			g.units = append(g.units, u)
		}
	}
	return g.bytes()
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(b)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frameSink records the frames that matter to the NSPI analysis: every frame
// of every NSPI call's request, response or fault, and every connection end.
type frameSink struct{ last int64 }

func (s *frameSink) see(f int64) { s.last = max(s.last, f) }

func (s *frameSink) Call(c *pipeline.Call) {
	if c.Event == nil {
		return
	}
	if m := c.Raw.Request; m != nil {
		s.see(m.Pos.Frame)
		s.see(m.LastPos.Frame)
	}
	if m := c.Raw.Response; m != nil {
		s.see(m.Pos.Frame)
		s.see(m.LastPos.Frame)
	}
	if c.Raw.Fault != nil {
		s.see(c.Raw.Fault.Pos.Frame)
	}
}

func (s *frameSink) ConnEnd(ev *analyze.ConnEnd) { s.see(ev.Frame.Frame) }

// lastNSPIFrame returns the last frame of the capture b that the NSPI
// analysis depends on: the last frame of an NSPI call, or of a connection's
// end.
func lastNSPIFrame(b []byte) int64 {
	s := &frameSink{}
	pipeline.Run([]string{"-"}, pipeline.Options{Stdin: bytes.NewReader(b)}, s)
	return s.last
}

// analyzeRun runs "nspicap analyze --format json -" on b, within a time
// bound proportional to its size, and returns the exit status and output.
// A panic or a run over the bound fails the test, naming the mutation.
func analyzeRun(t *testing.T, what string, b []byte) (code int, out, errOut string) {
	t.Helper()
	bound := 2*time.Second + time.Duration(len(b)/1024)*time.Millisecond
	type result struct {
		code        int
		out, errOut string
		panicked    string
	}
	start := func() chan result {
		done := make(chan result, 1)
		go func() {
			var r result
			defer func() {
				if p := recover(); p != nil {
					r.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
				}
				done <- r
			}()
			var o, e bytes.Buffer
			r.code = run(context.Background(), []string{"analyze", "--format", "json", "-"}, bytes.NewReader(b), &o, &e)
			r.out, r.errOut = o.String(), e.String()
		}()
		return done
	}
	// A run over the bound is run once more, after the first one ends (a
	// hang never ends): a busy machine (go test runs packages in parallel)
	// can stall one run, but not two in a row.
	for attempt := 0; ; attempt++ {
		done := start()
		timer := time.NewTimer(bound)
		select {
		case r := <-done:
			timer.Stop()
			if r.panicked != "" {
				t.Fatalf("%s: panic: %s", what, r.panicked)
			}
			return r.code, r.out, r.errOut
		case <-timer.C:
		}
		if attempt == 1 {
			t.Fatalf("%s: no result after %v for %d bytes, twice", what, bound, len(b))
		}
		select {
		case <-done:
		case <-time.After(10 * bound):
			t.Fatalf("%s: no result after %v for %d bytes (hang)", what, 11*bound, len(b))
		}
	}
}

// comparable returns the analyze JSON without what depends on the packets
// after the last NSPI frame: inputs[].packets and inputs[].last_time.
func comparableReport(t *testing.T, what, out string) any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", what, err, out)
	}
	ins, _ := v["inputs"].([]any)
	for _, in := range ins {
		if m, ok := in.(map[string]any); ok {
			delete(m, "packets")
			delete(m, "last_time")
		}
	}
	return v
}

// mutation is one damaged copy of a capture.
type mutation struct {
	what string
	b    []byte
	// same: only packets after the last frame the NSPI analysis depends on
	// were dropped, so the report must not change.
	same bool
}

// mutate returns the deterministic mutations of one capture file (its
// decompressed bytes in raw, raw itself when it is compressed).
func mutate(t *testing.T, name string, raw []byte, rng *rand.Rand, short bool) []mutation {
	data := raw
	gz := strings.HasSuffix(name, ".gz")
	if gz {
		data = gunzip(t, raw)
	}
	f := splitCapture(t, data)
	pk := f.packets()
	last := lastNSPIFrame(data)
	if last == 0 {
		t.Fatalf("%s: no NSPI frame", name)
	}
	n := func(full, small int) int {
		if short {
			return small
		}
		return full
	}
	var out []mutation
	add := func(m mutation) { out = append(out, m) }

	// Truncation at every record boundary (a sample under -short); the
	// report must not change when the cut follows the last NSPI frame.
	bounds := f.boundaries()
	frameAt := make([]int64, len(f.units)+1) // packets before record i
	for i, u := range f.units {
		frameAt[i+1] = frameAt[i]
		if u.packet {
			frameAt[i+1]++
		}
	}
	// Quick runs cut a long capture at 150 of its boundaries before the
	// last NSPI frame, spread evenly (NSPICAP_SLOW_TESTS: at every one).
	stride := 1
	if !testutil.Slow() && len(bounds) > 150 {
		stride = (len(bounds) + 149) / 150
	}
	for i, off := range bounds {
		if short && i%7 != 0 && frameAt[i] < last {
			continue
		}
		if i%stride != 0 && frameAt[i] < last {
			continue
		}
		add(mutation{what: fmt.Sprintf("cut at record boundary %d (byte %d)", i, off), b: data[:off], same: frameAt[i] >= last})
	}
	// Truncation at random points.
	for range n(40, 8) {
		off := rng.IntN(len(data))
		add(mutation{what: fmt.Sprintf("cut at byte %d", off), b: data[:off]})
	}
	// Flipped bytes, anywhere or after the file header.
	for range n(60, 12) {
		b := append([]byte(nil), data...)
		k := 1 + rng.IntN(8)
		var where []string
		for range k {
			i := rng.IntN(len(b))
			if rng.IntN(4) > 0 {
				i = 24 + rng.IntN(len(b)-24)
			}
			x := byte(1 + rng.IntN(255))
			b[i] ^= x
			where = append(where, fmt.Sprintf("%d^%02x", i, x))
		}
		add(mutation{what: "flip " + strings.Join(where, ","), b: b})
	}
	// Dropped packets.
	for range n(25, 5) {
		drop := map[int]bool{}
		var which []int
		for range 1 + rng.IntN(3) {
			j := rng.IntN(len(pk))
			drop[pk[j]] = true
			which = append(which, j+1)
		}
		add(mutation{what: fmt.Sprintf("drop frames %v", which), b: f.without(drop)})
	}
	// Dropped packets after the last NSPI frame only: the same report.
	if int(last) < len(pk) {
		for range n(15, 3) {
			drop := map[int]bool{}
			var which []int
			for j := int(last); j < len(pk); j++ {
				if rng.IntN(2) == 0 {
					drop[pk[j]] = true
					which = append(which, j+1)
				}
			}
			add(mutation{what: fmt.Sprintf("drop frames %v after the last NSPI frame %d", which, last), b: f.without(drop), same: true})
		}
	}
	// Duplicated packets.
	for range n(25, 5) {
		g := &capFile{ng: f.ng, order: f.order, head: f.head, units: append([]capUnit(nil), f.units...)}
		j := pk[rng.IntN(len(pk))]
		k := 1 + rng.IntN(3)
		for range k {
			g.units = append(g.units[:j+1], g.units[j:]...)
		}
		add(mutation{what: fmt.Sprintf("duplicate record %d x%d", j, k), b: g.bytes()})
	}
	// Reordered packets: swap two, or move one some places later.
	for range n(25, 5) {
		g := &capFile{ng: f.ng, order: f.order, head: f.head, units: append([]capUnit(nil), f.units...)}
		a := rng.IntN(len(pk))
		c := min(len(pk)-1, a+1+rng.IntN(5))
		g.units[pk[a]], g.units[pk[c]] = g.units[pk[c]], g.units[pk[a]]
		add(mutation{what: fmt.Sprintf("swap frames %d and %d", a+1, c+1), b: g.bytes()})
	}
	// Mixed: drop, duplicate and flip at once.
	for range n(10, 2) {
		drop := map[int]bool{pk[rng.IntN(len(pk))]: true}
		b := f.without(drop)
		b = append(b, f.units[pk[rng.IntN(len(pk))]].b...)
		i := 24 + rng.IntN(len(b)-24)
		b[i] ^= 0xff
		add(mutation{what: fmt.Sprintf("mixed: drop %v, append a duplicate, flip %d", drop, i), b: b})
	}
	if gz {
		// The compressed stream itself: cut and flipped, and mutated
		// captures compressed again.
		for range n(20, 4) {
			off := rng.IntN(len(raw))
			add(mutation{what: fmt.Sprintf("gzip cut at byte %d", off), b: raw[:off]})
			b := append([]byte(nil), raw...)
			i := rng.IntN(len(b))
			b[i] ^= byte(1 + rng.IntN(255))
			add(mutation{what: fmt.Sprintf("gzip flip at byte %d", i), b: b})
		}
		for i, m := range out {
			if i%3 == 0 {
				out = append(out, mutation{what: m.what + " (gzipped)", b: gzipBytes(t, m.b), same: m.same})
			}
		}
	}
	return out
}

// TestTorture damages every sample capture in many deterministic ways (cut
// at every record boundary and at random points, flipped bytes, dropped,
// duplicated and reordered packets) and runs "nspicap analyze --format json"
// on each copy: no panic, a result within a time bound proportional to the
// input size, and the same report when only packets after the last NSPI frame
// were dropped.
func TestTorture(t *testing.T) {
	t.Parallel()
	files := captures(t)
	pcg := rand.NewPCG(4, 0x6e737069)
	rng := rand.New(pcg)
	var total, same atomic.Int64
	start := time.Now()
	// The captures take the one random stream in turn, as when they ran
	// one after the other, so the mutations are the same: here each
	// capture's mutations are made to advance the stream and dropped, and
	// its parallel subtest makes them again from where the stream was (the
	// mutations of all captures held at once would take about 150 MiB).
	// The counts are checked once the group has finished.
	t.Run("captures", func(t *testing.T) {
		for _, name := range files {
			raw, err := os.ReadFile(filepath.Join(testdataDir, name))
			if err != nil {
				t.Fatal(err)
			}
			at := *pcg
			mutate(t, name, raw, rng, testing.Short())
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				muts := mutate(t, name, raw, rand.New(&at), testing.Short())
				tortureCapture(t, name, raw, muts, &total, &same)
			})
		}
	})
	t.Logf("%d mutations of %d captures in %v; %d only dropped packets after the last NSPI frame", total.Load(), len(files), time.Since(start), same.Load())
	if !testing.Short() && total.Load() < 2000 {
		t.Errorf("only %d mutations", total.Load())
	}
}

// tortureCapture runs the mutations of one capture (TestTorture), adding to
// total the mutations run and to same those that must not change the report.
func tortureCapture(t *testing.T, name string, raw []byte, muts []mutation, total, same *atomic.Int64) {
	plain := raw
	if strings.HasSuffix(name, ".gz") {
		plain = gunzip(t, raw)
	}
	code, baseOut, baseErr := analyzeRun(t, name, plain)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", name, code, baseErr)
	}
	base := comparableReport(t, name, baseOut)
	baseGz := base
	if strings.HasSuffix(name, ".gz") {
		// Recompressed mutations compare with the compressed original
		// (its format is "pcap+gzip").
		_, out, _ := analyzeRun(t, name, raw)
		baseGz = comparableReport(t, name, out)
	}
	for _, m := range muts {
		what := name + ": " + m.what
		code, out, errOut := analyzeRun(t, what, m.b)
		total.Add(1)
		if code != 0 && code != 1 {
			t.Errorf("%s: exit %d: %s", what, code, errOut)
		}
		if out == "" {
			// An input that cannot be read gives no report: one
			// error line, exit 1 (a mutation that must not change
			// the report still needs one).
			if m.same || code != 1 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "nspicap: stdin: ") {
				t.Errorf("%s: no report (exit %d: %s)", what, code, errOut)
			}
			continue
		}
		got := comparableReport(t, what, out)
		if m.same {
			same.Add(1)
			if code != 0 || errOut != baseErr {
				t.Errorf("%s: exit %d, stderr %q; want 0, %q", what, code, errOut, baseErr)
			}
			want := base
			if strings.HasSuffix(m.what, "(gzipped)") {
				want = baseGz
			}
			if !reflect.DeepEqual(got, want) {
				a, _ := json.MarshalIndent(want, "", "  ")
				b, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("%s: the report changed:\n%s", what, testutil.FirstDiff(string(a), string(b)))
			}
		}
	}
}
