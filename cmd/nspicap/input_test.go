package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/pipeline"
)

// TestBadInput: each unreadable input gives one line naming the file, and
// exit status 1; a capture cut mid-record gives a warning and every call
// read before the cut; one bad file does not hide the others' results.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	clean, err := os.ReadFile(filepath.Join(testdataDir, "clean.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.pcap", nil)
	text := write("notes.txt", []byte("hello, this is not a capture\n"))
	png := write("pic.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	hdr := write("hdr.pcap", clean[:10])
	missing := filepath.Join(dir, "missing.pcap")
	for _, c := range []struct {
		file, want string
	}{
		{empty, "empty file"},
		{text, "not a capture file"},
		{png, "not a capture file"},
		{hdr, "truncated inside the file header"},
		{missing, "no such file"},
		{dir, "is a directory"},
	} {
		out, errOut, code := nspicap(t, "calls", "--format", "jsonl", c.file)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", c.file, code)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], c.file) || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: stderr %q, want one line naming the file and %q", c.file, errOut, c.want)
		}
		if out != "" {
			t.Errorf("%s: output %q", c.file, out)
		}
	}

	// Cut in the middle of a record: a warning, and the calls before the cut.
	full, _, _ := nspicap(t, "calls", "--format", "jsonl", filepath.Join(testdataDir, "clean.pcap"))
	fullLines := strings.Split(strings.TrimSpace(full), "\n")
	cut := write("cut.pcap", clean[:len(clean)*2/3])
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", cut)
	if code != 0 || !strings.Contains(errOut, "cut.pcap: capture truncated at byte") {
		t.Errorf("cut capture: exit %d, stderr %q", code, errOut)
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) == 0 || len(got) >= len(fullLines) {
		t.Errorf("cut capture: %d calls, full capture %d", len(got), len(fullLines))
	}
	for i := range got {
		a := strings.Replace(got[i], cut, "X", 1)
		b := strings.Replace(fullLines[i], filepath.Join(testdataDir, "clean.pcap"), "X", 1)
		if a != b && !strings.Contains(a, `"reply_frame":null`) {
			t.Errorf("cut capture call %d differs:\n%s\n%s", i, a, b)
		}
	}

	// One bad file among good ones: results of the good ones, exit 1.
	out, errOut, code = nspicap(t, "analyze", "--format", "json", text, filepath.Join(testdataDir, "leak-to-limit.pcap"))
	if code != 1 || !strings.Contains(out, `"session_limit"`) || !strings.Contains(errOut, "notes.txt") {
		t.Errorf("mixed inputs: exit %d, session_limit in output %v, stderr %q", code, strings.Contains(out, `"session_limit"`), errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"analyze"},
		{"analyze", "--format", "xml", "x.pcap"},
		{"analyze", "--limit", "0", "x.pcap"},
		{"analyze", "--fail-on", "nonsense", "x.pcap"},
		{"calls", "--bogus", "x.pcap"},
	} {
		if _, _, code := nspicap(t, args...); code != 2 {
			t.Errorf("nspicap %v: exit %d, want 2", args, code)
		}
	}
	for _, cmd := range []string{"analyze", "sessions", "calls"} {
		_, errOut, code := nspicap(t, cmd, "-h")
		if code != 0 || !strings.Contains(errOut, "Example:") || !strings.Contains(errOut, "--format") {
			t.Errorf("%s -h: exit %d, %q", cmd, code, errOut)
		}
	}
	out, _, code := nspicap(t, "version")
	if code != 0 || !strings.HasPrefix(out, "nspicap ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestFailOnAndStdin(t *testing.T) {
	leak := filepath.Join(testdataDir, "leak-to-limit.pcap")
	if _, _, code := nspicap(t, "analyze", "--fail-on", "session_limit", leak); code != 3 {
		t.Errorf("--fail-on session_limit on the leak capture: exit %d, want 3", code)
	}
	if _, _, code := nspicap(t, "analyze", "--fail-on", "session_limit", filepath.Join(testdataDir, "clean.pcap")); code != 0 {
		t.Errorf("--fail-on session_limit on the clean capture: exit %d, want 0", code)
	}
	b, err := os.ReadFile(leak)
	if err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	code := run(t.Context(), []string{"calls", "--format", "jsonl", "-"}, bytes.NewReader(b), &o, &e)
	want, _, _ := nspicap(t, "calls", "--format", "jsonl", leak)
	if code != 0 || strings.ReplaceAll(o.String(), `"file":"-"`, `"file":"`+leak+`"`) != want {
		t.Errorf("stdin: exit %d, %d bytes vs %d (%s)", code, o.Len(), len(want), e.String())
	}
}

// FuzzPipeline feeds arbitrary bytes as a capture file through the whole
// pipeline: capture reading, TCP, DCE/RPC, NSPI and the analyzer. Seeds are
// the first records of sample captures (Go's fuzzer slows down sharply on
// seeds of tens of kilobytes, and minimising a large new input takes long:
// make fuzz sets -fuzzminimizetime).
func FuzzPipeline(f *testing.F) {
	for _, name := range []string{"clean.pcap", "fragmented.pcap", "two-interfaces.pcapng", "midstream.pcap", "bigendian.pcap"} {
		if b, err := os.ReadFile(filepath.Join(testdataDir, name)); err == nil {
			f.Add(b[:min(len(b), 3000)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := &eventSink{a: newAnalyzer()}
		pipeline.Run([]string{"-"}, pipeline.Options{Stdin: bytes.NewReader(b)}, a)
		a.a.Report(nil)
	})
}
