package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/testutil"
)

// Damaged captures, end to end: for each kind of damage, the exact line the
// user sees on standard error, the exit status, and the results that survive.
// The capture layer's own tests (internal/capture) check the readers in
// detail; these check what reaches the user.

// reportDoc is the part of the analyze JSON (schema nspicap/report/v1) these
// tests look at.
type reportDoc struct {
	Verdict []string `json:"verdict"`
	Inputs  []struct {
		Path           string   `json:"path"`
		Format         string   `json:"format"`
		Packets        int64    `json:"packets"`
		Warnings       []string `json:"warnings"`
		SnapLen        int      `json:"snap_len"`
		CutCalls       int64    `json:"cut_calls"`
		CutSMBMessages int64    `json:"cut_smb_messages"`
		Error          string   `json:"error"`
	} `json:"inputs"`
	Totals    map[string]int64                                        `json:"totals"`
	Sessions  []map[string]any                                        `json:"sessions"`
	Refusals  []map[string]any                                        `json:"refusals"`
	Findings  []struct{ Kind, Severity, Cause, Message, User string } `json:"findings"`
	Anomalies []struct {
		Kind    string `json:"kind"`
		Count   int64  `json:"count"`
		Message string `json:"message"`
		Notice  bool   `json:"notice"`
	} `json:"anomalies"`
}

func parseReport(t *testing.T, out string) *reportDoc {
	t.Helper()
	var r reportDoc
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("analyze output is not JSON: %v\n%s", err, out)
	}
	return &r
}

func (r *reportDoc) anomaly(kind string) int64 {
	for _, a := range r.Anomalies {
		if a.Kind == kind {
			return a.Count
		}
	}
	return 0
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// callLines returns the calls --format jsonl output of path, one string per
// call, with the file name replaced by X so that copies compare.
func callLines(t *testing.T, path string) (lines []string, stderr string, code int) {
	t.Helper()
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", path)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			lines = append(lines, strings.ReplaceAll(l, `"file":"`+path+`"`, `"file":"X"`))
		}
	}
	return lines, errOut, code
}

type callFrames struct {
	Frame      int64  `json:"frame"`
	ReplyFrame *int64 `json:"reply_frame"`
	CallID     uint32 `json:"call_id"`
	Op         string `json:"op"`
	Incomplete bool   `json:"incomplete"`
	Status     *string
}

func replyOf(c callFrames) int64 {
	if c.ReplyFrame == nil {
		return 0
	}
	return *c.ReplyFrame
}

func frames(t *testing.T, line string) callFrames {
	t.Helper()
	var c callFrames
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return c
}

// checkCut requires that the calls read from a capture cut after frame
// `kept` are exactly the calls of the whole capture whose request is in the
// first `kept` frames: unchanged when their answer is too, unanswered
// otherwise.
func checkCut(t *testing.T, full, got []string, kept int64) {
	t.Helper()
	var want []string
	for _, l := range full {
		c := frames(t, l)
		if c.Frame > kept {
			continue
		}
		if c.ReplyFrame != nil && *c.ReplyFrame > kept {
			l = strings.Replace(l, fmt.Sprintf(`"reply_frame":%d,`, *c.ReplyFrame), `"reply_frame":null,`, 1)
		}
		want = append(want, l)
	}
	if len(want) == 0 {
		t.Fatalf("no call before frame %d: choose a later cut", kept)
	}
	if len(got) != len(want) {
		t.Fatalf("%d calls, want %d (the calls requested in the first %d frames)", len(got), len(want), kept)
	}
	for i := range got {
		g, w := frames(t, got[i]), frames(t, want[i])
		if g.Frame != w.Frame || g.CallID != w.CallID || g.Op != w.Op || (g.ReplyFrame == nil) != (w.ReplyFrame == nil) {
			t.Errorf("call %d:\n got %s\nwant %s", i, got[i], want[i])
			continue
		}
		if w.ReplyFrame != nil && got[i] != want[i] {
			t.Errorf("answered call %d changed:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// TestDamagedCutRecord: a pcap cut inside a record warns "capture truncated
// at byte N" (N the offset of the cut record) and lists every call before.
func TestDamagedCutRecord(t *testing.T) {
	data := readTestdata(t, "leak-to-limit.pcap")
	f := splitCapture(t, data)
	full, _, _ := callLines(t, filepath.Join(testdataDir, "leak-to-limit.pcap"))
	bounds := f.boundaries()
	for _, k := range []int{200, 377, len(f.units) - 1} { // cut inside record k (frame k+1)
		for _, into := range []int{3, 16, 40} {
			cut := bounds[k] + min(into, len(f.units[k].b)-1)
			p := writeTemp(t, "cut.pcap", data[:cut])
			got, errOut, code := callLines(t, p)
			want := fmt.Sprintf("nspicap: warning: %s: capture truncated at byte %d\n", p, bounds[k])
			if code != 0 || errOut != want {
				t.Errorf("cut at %d: exit %d, stderr %q; want 0, %q", cut, code, errOut, want)
			}
			checkCut(t, full, got, int64(k))
			out, _, _ := nspicap(t, "analyze", "--format", "json", p)
			r := parseReport(t, out)
			if w := r.Inputs[0].Warnings; len(w) != 1 || w[0] != fmt.Sprintf("capture truncated at byte %d", bounds[k]) || r.Inputs[0].Packets != int64(k) {
				t.Errorf("cut at %d: inputs %+v", cut, r.Inputs)
			}
		}
	}
	// Cut inside frame 377, the first refusal: its NspiBind is left
	// unanswered, and the 50 sessions the service account leaked are there.
	k := 377 - 1
	p := writeTemp(t, "cut.pcap", data[:bounds[k]+10])
	out, errOut, code := nspicap(t, "analyze", "--format", "json", p)
	r := parseReport(t, out)
	if want := fmt.Sprintf("nspicap: warning: %s: capture truncated at byte %d\n", p, bounds[k]); code != 0 || errOut != want {
		t.Errorf("cut at the first refusal: exit %d, stderr %q; want 0, %q", code, errOut, want)
	}
	if r.Totals["binds_logon_failed"] != 0 || r.Totals["binds_unknown"] != 1 || r.Totals["open_at_end"] != 50 || len(r.Refusals) != 0 {
		t.Errorf("cut at the first refusal: totals %v", r.Totals)
	}
}

// TestDamagedPcapngBlocks: pcapng cut inside a block, a block whose length
// lies, and unknown block types in the middle.
func TestDamagedPcapngBlocks(t *testing.T) {
	name := "two-interfaces.pcapng"
	data := readTestdata(t, name)
	f := splitCapture(t, data)
	full, _, _ := callLines(t, filepath.Join(testdataDir, name))
	bounds := f.boundaries()
	pk := f.packets()
	frameOf := func(unit int) int64 { // frames before unit
		n := int64(0)
		for _, i := range pk {
			if i < unit {
				n++
			}
		}
		return n
	}

	t.Run("cut-inside-block", func(t *testing.T) {
		for _, j := range []int{20, 30, len(pk) - 1} {
			u := pk[j]
			for _, into := range []int{4, 10, 30} {
				p := writeTemp(t, "cut.pcapng", data[:bounds[u]+into])
				got, errOut, code := callLines(t, p)
				want := fmt.Sprintf("nspicap: warning: %s: capture truncated at byte %d\n", p, bounds[u])
				if code != 0 || errOut != want {
					t.Errorf("cut at %d+%d: exit %d, stderr %q; want %q", bounds[u], into, code, errOut, want)
				}
				checkCut(t, full, got, frameOf(u))
			}
		}
	})

	t.Run("lying-length", func(t *testing.T) {
		u := pk[30]
		for _, c := range []struct {
			delta int
			want  string
		}{
			// Longer or shorter than the block: the trailing copy of the
			// length does not match.
			{8, fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length %d); stopped reading", bounds[u], len(f.units[u].b)+8, binary.LittleEndian.Uint32(f.units[u+1].b[4:]))},
			{-8, fmt.Sprintf("corrupt pcapng block at byte %d (length %d, trailing length %d); stopped reading", bounds[u], len(f.units[u].b)-8, binary.LittleEndian.Uint32(f.units[u].b[len(f.units[u].b)-12:]))},
			// Not a multiple of 4.
			{1, fmt.Sprintf("corrupt pcapng block at byte %d (length %d); stopped reading", bounds[u], len(f.units[u].b)+1)},
			// Past the end of the file: indistinguishable from a cut.
			{len(data), fmt.Sprintf("capture truncated at byte %d", bounds[u])},
			// Over the largest packet block accepted.
			{1 << 20, fmt.Sprintf("block at byte %d too long (%d bytes); stopped reading", bounds[u], len(f.units[u].b)+1<<20)},
		} {
			b := append([]byte(nil), data...)
			binary.LittleEndian.PutUint32(b[bounds[u]+4:], uint32(len(f.units[u].b)+c.delta))
			p := writeTemp(t, "lie.pcapng", b)
			got, errOut, code := callLines(t, p)
			want := fmt.Sprintf("nspicap: warning: %s: %s\n", p, c.want)
			if code != 0 || errOut != want {
				t.Errorf("length %+d: exit %d, stderr %q; want %q", c.delta, code, errOut, want)
			}
			checkCut(t, full, got, frameOf(u))
		}
		// The captured length of an enhanced packet block larger than
		// the block.
		b := append([]byte(nil), data...)
		binary.LittleEndian.PutUint32(b[bounds[u]+20:], uint32(len(f.units[u].b)))
		p := writeTemp(t, "lie.pcapng", b)
		got, errOut, _ := callLines(t, p)
		want := fmt.Sprintf("nspicap: warning: %s: corrupt pcapng block at byte %d (length %d too short for its packet); stopped reading\n", p, bounds[u], len(f.units[u].b))
		if errOut != want {
			t.Errorf("captured length past the block: stderr %q; want %q", errOut, want)
		}
		checkCut(t, full, got, frameOf(u))
	})

	t.Run("unknown-block-types", func(t *testing.T) {
		block := func(typ uint32, body []byte) []byte {
			b := binary.LittleEndian.AppendUint32(nil, typ)
			b = binary.LittleEndian.AppendUint32(b, uint32(12+len(body)))
			b = append(b, body...)
			return binary.LittleEndian.AppendUint32(b, uint32(12+len(body)))
		}
		g := &capFile{ng: true}
		for i, u := range f.units {
			if i == pk[10] || i == pk[25] {
				g.units = append(g.units,
					capUnit{b: block(0x00000bad, []byte("custom\x00\x00"))}, // custom block
					capUnit{b: block(0x12345678, bytes.Repeat([]byte{0xee}, 40))},
					capUnit{b: block(0x0000000a, make([]byte, 16))}, // decryption secrets
					capUnit{b: block(0x80000001, nil)})              // local use, empty
			}
			g.units = append(g.units, u)
		}
		p := writeTemp(t, "unknown.pcapng", g.bytes())
		got, errOut, code := callLines(t, p)
		if code != 0 || errOut != "" {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errOut)
		}
		if strings.Join(got, "\n") != strings.Join(full, "\n") {
			t.Errorf("calls differ with unknown blocks:\n%s", testutil.FirstDiff(strings.Join(full, "\n"), strings.Join(got, "\n")))
		}
	})
}

// TestDamagedFiles: corrupt gzip, oversized records, timestamps going
// backwards, unreadable and foreign files, and one bad file among good ones.
func TestDamagedFiles(t *testing.T) {
	t.Run("corrupt-gzip", func(t *testing.T) {
		raw := readTestdata(t, "gzip.pcap.gz")
		full, _, _ := callLines(t, filepath.Join(testdataDir, "gzip.pcap.gz"))
		// The gzip header itself.
		bad := append([]byte(nil), raw...)
		bad[2] = 7 // compression method other than deflate
		p := writeTemp(t, "hdr.pcap.gz", bad)
		_, errOut, code := callLines(t, p)
		if want := fmt.Sprintf("nspicap: %s: corrupt gzip data: gzip: invalid header\n", p); code != 1 || errOut != want {
			t.Errorf("bad gzip header: exit %d, stderr %q; want 1, %q", code, errOut, want)
		}
		// The CRC at the end: every packet was read, then the stream
		// fails its check.
		bad = append([]byte(nil), raw...)
		bad[len(bad)-6] ^= 0xff
		p = writeTemp(t, "crc.pcap.gz", bad)
		got, errOut, code := callLines(t, p)
		plain := gunzip(t, raw)
		if want := fmt.Sprintf("nspicap: warning: %s: corrupt gzip data after byte %d: gzip: invalid checksum; stopped reading\n", p, len(plain)); code != 0 || errOut != want {
			t.Errorf("bad gzip checksum: exit %d, stderr %q; want 0, %q", code, errOut, want)
		}
		if len(got) != len(full) {
			t.Errorf("bad gzip checksum: %d calls, want %d", len(got), len(full))
		}
		// Compressed data cut short.
		p = writeTemp(t, "cut.pcap.gz", raw[:len(raw)*2/3])
		_, errOut, code = callLines(t, p)
		if code != 0 || !strings.HasPrefix(errOut, "nspicap: warning: "+p+": capture truncated at byte ") || !strings.HasSuffix(errOut, " (compressed data ends early)\n") {
			t.Errorf("cut gzip: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("record-too-long", func(t *testing.T) {
		data := readTestdata(t, "leak-to-limit.pcap")
		f := splitCapture(t, data)
		bounds := f.boundaries()
		full, _, _ := callLines(t, filepath.Join(testdataDir, "leak-to-limit.pcap"))
		k := 300
		b := append([]byte(nil), data...)
		binary.LittleEndian.PutUint32(b[bounds[k]+8:], 300000)
		p := writeTemp(t, "long.pcap", b)
		got, errOut, code := callLines(t, p)
		if want := fmt.Sprintf("nspicap: warning: %s: record at byte %d too long (300000 bytes); stopped reading\n", p, bounds[k]); code != 0 || errOut != want {
			t.Errorf("exit %d, stderr %q; want 0, %q", code, errOut, want)
		}
		checkCut(t, full, got, int64(k))
	})

	t.Run("record-over-snaplen", func(t *testing.T) {
		// A writer that declares a snap length of 100 and does not
		// truncate to it: read anyway, as Wireshark does, and say so once.
		data := append([]byte(nil), readTestdata(t, "clean.pcap")...)
		binary.LittleEndian.PutUint32(data[16:], 100)
		f := splitCapture(t, data)
		first, size := 0, 0
		for i, u := range f.units {
			if len(u.b)-16 > 100 {
				first, size = f.boundaries()[i], len(u.b)-16
				break
			}
		}
		p := writeTemp(t, "snap.pcap", data)
		got, errOut, code := callLines(t, p)
		full, _, _ := callLines(t, filepath.Join(testdataDir, "clean.pcap"))
		if want := fmt.Sprintf("nspicap: warning: %s: record at byte %d holds %d bytes, more than the snap length 100; read anyway\n", p, first, size); first == 0 || code != 0 || errOut != want {
			t.Errorf("exit %d, stderr %q; want 0, %q", code, errOut, want)
		}
		if strings.Join(got, "\n") != strings.Join(full, "\n") {
			t.Errorf("calls differ:\n%s", testutil.FirstDiff(strings.Join(full, "\n"), strings.Join(got, "\n")))
		}
	})

	t.Run("timestamps-backwards", func(t *testing.T) {
		data := append([]byte(nil), readTestdata(t, "clean.pcap")...)
		f := splitCapture(t, data)
		bounds := f.boundaries()
		// Frames 10 and 30 a minute in the past.
		for _, k := range []int{9, 29} {
			ts := binary.LittleEndian.Uint32(data[bounds[k]:])
			binary.LittleEndian.PutUint32(data[bounds[k]:], ts-60)
		}
		p := writeTemp(t, "ts.pcap", data)
		out, errOut, code := nspicap(t, "analyze", "--format", "json", p)
		if want := fmt.Sprintf("nspicap: warning: %s: timestamps go backwards at frame 10\n", p); code != 0 || errOut != want {
			t.Errorf("exit %d, stderr %q; want 0, %q", code, errOut, want)
		}
		r := parseReport(t, out)
		base := analyzeJSON(t, "clean.pcap")
		if len(r.Sessions) != len(base.Sessions) || r.Totals["binds_ok"] != 1 || r.Totals["unbinds"] != 1 || r.Inputs[0].Packets != int64(len(f.units)) {
			t.Errorf("sessions %d, totals %v, inputs %+v", len(r.Sessions), r.Totals, r.Inputs)
		}
		got, _, _ := callLines(t, p)
		full, _, _ := callLines(t, filepath.Join(testdataDir, "clean.pcap"))
		if len(got) != len(full) {
			t.Errorf("%d calls, want %d", len(got), len(full))
		}
	})

	t.Run("no-read-permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: permissions are not enforced")
		}
		p := writeTemp(t, "secret.pcap", readTestdata(t, "clean.pcap"))
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := nspicap(t, "calls", p)
		if want := fmt.Sprintf("nspicap: %s: permission denied\n", p); code != 1 || errOut != want || out != "" {
			t.Errorf("exit %d, stderr %q, output %q; want 1, %q", code, errOut, out, want)
		}
	})

	t.Run("foreign-files", func(t *testing.T) {
		elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 56)...)
		png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
		for _, c := range []struct {
			name string
			b    []byte
			want string
		}{
			{"prog", elf, `not a capture file (starts with "\x7fELF")`},
			{"pic.png", png, `not a capture file (starts with "\x89PNG")`},
			{"prog.gz", gzipBytes(t, elf), `not a capture file inside gzip (starts with "\x7fELF")`},
		} {
			p := writeTemp(t, c.name, c.b)
			for _, cmd := range []string{"calls", "analyze", "sessions"} {
				_, errOut, code := nspicap(t, cmd, p)
				if want := fmt.Sprintf("nspicap: %s: %s\n", p, c.want); code != 1 || errOut != want {
					t.Errorf("%s %s: exit %d, stderr %q; want 1, %q", cmd, c.name, code, errOut, want)
				}
			}
		}
	})

	t.Run("one-bad-among-several", func(t *testing.T) {
		leak := filepath.Join(testdataDir, "leak-to-limit.pcap")
		clean := filepath.Join(testdataDir, "clean.pcap")
		elf := writeTemp(t, "prog", append([]byte("\x7fELF"), make([]byte, 60)...))
		cutData := readTestdata(t, "ntlm-users.pcap")
		cut := writeTemp(t, "cut.pcap", cutData[:len(cutData)-7])
		out, errOut, code := nspicap(t, "analyze", "--format", "json", clean, elf, leak, cut)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != 1 || len(lines) != 2 || lines[0] != fmt.Sprintf(`nspicap: %s: not a capture file (starts with "\x7fELF")`, elf) ||
			!strings.HasPrefix(lines[1], "nspicap: warning: "+cut+": capture truncated at byte ") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		r := parseReport(t, out)
		if len(r.Inputs) != 4 || r.Inputs[1].Packets != 0 || len(r.Inputs[1].Warnings) != 0 || !strings.HasPrefix(r.Inputs[1].Error, "not a capture file") {
			t.Errorf("inputs %+v", r.Inputs)
		}
		kinds := map[string]bool{}
		for _, f := range r.Findings {
			kinds[f.Kind] = true
		}
		// leak-to-limit's findings, clean's session and ntlm-users'
		// sessions all survive.
		users := map[string]bool{}
		for _, s := range r.Sessions {
			if u, ok := s["user"].(string); ok {
				users[u] = true
			}
		}
		if !kinds["session_limit"] || !kinds["leak"] || !users[`CONTOSO\alice`] || !users[`FABRIKAM\carol`] || !users[`CONTOSO\svc-crm`] {
			t.Errorf("findings %v, users %v", kinds, users)
		}
		// The same with calls: every good file's calls are listed.
		outCalls, _, code := nspicap(t, "calls", "--format", "jsonl", clean, elf, leak)
		nc, _, _ := nspicap(t, "calls", "--format", "jsonl", clean)
		nl, _, _ := nspicap(t, "calls", "--format", "jsonl", leak)
		if code != 1 || strings.Count(outCalls, "\n") != strings.Count(nc, "\n")+strings.Count(nl, "\n") {
			t.Errorf("calls: exit %d, %d lines, want %d", code, strings.Count(outCalls, "\n"), strings.Count(nc, "\n")+strings.Count(nl, "\n"))
		}
	})
}

// snapCopy returns a pcap whose records hold at most snap bytes, with their
// original lengths unchanged and the header's snap length set to snap: what
// tcpdump -s snap writes.
func snapCopy(t *testing.T, b []byte, snap int) []byte {
	t.Helper()
	f := splitCapture(t, b)
	out := append([]byte(nil), f.head...)
	f.order.PutUint32(out[16:], uint32(snap))
	for _, u := range f.units {
		if caplen := int(f.order.Uint32(u.b[8:])); caplen > snap {
			r := append([]byte(nil), u.b[:16+snap]...)
			f.order.PutUint32(r[8:], uint32(snap))
			out = append(out, r...)
			continue
		}
		out = append(out, u.b...)
	}
	return out
}

// TestSnapLength: packets cut to 200 bytes by the snap length. Every call is
// still found with its frames; NspiBind answers (short) keep their status,
// so the session_limit story survives; calls whose stubs were cut are marked
// incomplete; the cuts are no anomaly (no gap, lost_pdu or resync: the
// missing bytes are skipped exactly) but one warning on the input that
// names the snap length and the calls cut.
func TestSnapLength(t *testing.T) {
	for _, name := range []string{"clean.pcap", "leak-to-limit.pcap"} {
		t.Run(name, func(t *testing.T) {
			orig := filepath.Join(testdataDir, name)
			snapped := snapCopy(t, readTestdata(t, name), 200)
			p := writeTemp(t, name, snapped)

			// Every call, with the same frames; NspiBind keeps its status.
			full, _, _ := callLines(t, orig)
			got, errOut, code := callLines(t, p)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if len(got) != len(full) {
				t.Fatalf("%d calls, want %d", len(got), len(full))
			}
			incomplete := 0
			for i := range got {
				g, w := frames(t, got[i]), frames(t, full[i])
				if g.Frame != w.Frame || g.CallID != w.CallID || replyOf(g) != replyOf(w) {
					t.Errorf("call %d: %s\nwant %s", i, got[i], full[i])
				}
				if g.Op != w.Op {
					t.Errorf("call %d: op %s, want %s", i, g.Op, w.Op)
				}
				if w.Op == "NspiBind" && (g.Status == nil || *g.Status != *w.Status) {
					t.Errorf("NspiBind at frame %d: status %s, want %s", g.Frame, str(g.Status), str(w.Status))
				}
				if g.Incomplete {
					incomplete++
					if w.Incomplete {
						t.Errorf("call %d incomplete in the whole capture", i)
					}
				}
			}
			if incomplete == 0 {
				t.Errorf("no call marked incomplete")
			}

			// No anomaly: the cut bytes were not lost in transit, and
			// nothing is mistaken for lost sync. One warning instead.
			var nspiSink collect
			res := pipeline.Run([]string{p}, pipeline.Options{}, &nspiSink)
			if len(res.Anomalies) != 0 {
				t.Errorf("anomalies %+v", res.Anomalies)
			}
			in := res.Inputs[0]
			if in.Cut == 0 || in.Cut != res.Stats.Truncated || in.SnapLen != 200 || res.CutCalls[0] == 0 {
				t.Errorf("input cut %d records to %d bytes (%d truncated), %v calls cut", in.Cut, in.SnapLen, res.Stats.Truncated, res.CutCalls)
			}
			want := fmt.Sprintf("the capture's snap length cut %d records to 200 bytes: it cut %d DCE/RPC calls", in.Cut, res.CutCalls[0])
			if len(in.Warnings) != 1 || !strings.HasPrefix(in.Warnings[0], want) {
				t.Errorf("warnings %q, want %q", in.Warnings, want)
			}
			// Nothing read past the captured bytes: the stub kept of a
			// damaged message is never longer than what its frames held.
			for _, c := range nspiSink.calls {
				if rq := c.Raw.Request; rq != nil && rq.Damaged && len(rq.Stub) > 200 {
					t.Errorf("frame %d: %d stub bytes kept from 200-byte packets", rq.Pos.Frame, len(rq.Stub))
				}
			}

			// The report: the same counters, the anomalies listed.
			out, _, _ := nspicap(t, "analyze", "--format", "json", p)
			r := parseReport(t, out)
			base := parseReport(t, func() string { o, _, _ := nspicap(t, "analyze", "--format", "json", orig); return o }())
			for _, k := range []string{"binds", "binds_ok", "binds_logon_failed", "unbinds", "other_calls", "open_at_end"} {
				if r.Totals[k] != base.Totals[k] {
					t.Errorf("totals.%s %d, want %d", k, r.Totals[k], base.Totals[k])
				}
			}
			if len(r.Anomalies) != 0 || r.Inputs[0].SnapLen != 200 || r.Inputs[0].CutCalls != res.CutCalls[0] {
				t.Errorf("report anomalies %+v, inputs %+v", r.Anomalies, r.Inputs)
			}
			if name == "leak-to-limit.pcap" {
				limit := false
				for _, f := range r.Findings {
					if f.Kind == "session_limit" && f.Cause == "session_limit" {
						limit = true
					}
				}
				if !limit || len(r.Refusals) != 10 {
					t.Errorf("session_limit not found (%d refusals): %+v", len(r.Refusals), r.Findings)
				}
			}
		})
	}
}
