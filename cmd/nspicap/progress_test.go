package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/pipeline"
)

var progressCommands = []string{"analyze", "sessions", "calls", "endpoints"}

func TestProgressFlag(t *testing.T) {
	clean := filepath.Join(testdataDir, "clean.pcap")
	for _, cmd := range progressCommands {
		for _, mode := range progressModes {
			if _, errOut, code := nspicap(t, cmd, "--progress="+mode, clean); code != 0 {
				t.Errorf("%s --progress=%s: exit %d: %s", cmd, mode, code, errOut)
			}
		}
		out, errOut, code := nspicap(t, cmd, "--progress", "sometimes", clean)
		want := "nspicap " + cmd + ": --progress \"sometimes\": want auto, always, never\n"
		if code != 2 || out != "" || errOut != want {
			t.Errorf("%s --progress sometimes: exit %d, stdout %q, stderr %q; want 2 and %q", cmd, code, out, errOut, want)
		}
		if _, errOut, _ := nspicap(t, cmd, "-h"); !strings.Contains(errOut, "--progress") {
			t.Errorf("%s -h does not list --progress:\n%s", cmd, errOut)
		}
	}
}

func TestShowProgress(t *testing.T) {
	const big, small = 200 << 20, 10 << 20
	for _, c := range []struct {
		mode     string
		terminal bool
		total    int64
		want     bool
	}{
		{"auto", true, big, true},
		{"auto", false, big, false}, // not a terminal
		{"auto", true, small, false},
		{"auto", true, progressMin, false},
		{"auto", true, progressMin + 1, true},
		{"auto", true, -1, true}, // unknown size: drawn from progressMin bytes on
		{"auto", false, -1, false},
		{"always", false, small, true},
		{"always", true, -1, true},
		{"always", false, 0, false}, // nothing to read
		{"never", true, big, false},
		{"", true, big, false},
	} {
		if got := showProgress(c.mode, c.terminal, c.total); got != c.want {
			t.Errorf("showProgress(%q, %v, %d) = %v, want %v", c.mode, c.terminal, c.total, got, c.want)
		}
	}
}

// TestProgressAlways: the line is drawn into a non-terminal with always, and
// standard output is the same with and without it.
func TestProgressAlways(t *testing.T) {
	leak := filepath.Join(testdataDir, "leak-to-limit.pcap")
	for _, args := range [][]string{
		{"analyze", leak},
		{"analyze", "--format", "json", leak},
		{"sessions", leak},
		{"calls", "--format", "jsonl", leak},
		{"endpoints", filepath.Join(testdataDir, "endpoint-trouble.pcap")},
	} {
		name := strings.Join(args[:len(args)-1], " ")
		with := append([]string{args[0], "--progress=always"}, args[1:]...)
		without := append([]string{args[0], "--progress=never"}, args[1:]...)
		out1, err1, code1 := nspicap(t, with...)
		out2, err2, code2 := nspicap(t, without...)
		out3, err3, _ := nspicap(t, args...) // auto: standard error is not a terminal
		if code1 != 0 || code2 != 0 {
			t.Errorf("%s: exit %d with progress, %d without", name, code1, code2)
		}
		if out1 != out2 || out1 != out3 {
			t.Errorf("%s: standard output differs with --progress=always (%d bytes, %d without)", name, len(out1), len(out2))
		}
		if err2 != "" || err3 != "" {
			t.Errorf("%s: standard error without progress: never %q, auto %q", name, err2, err3)
		}
		if !strings.HasPrefix(err1, "\r") || !strings.Contains(err1, "reading") || !strings.Contains(err1, "100%") ||
			!strings.HasSuffix(err1, "\n") || strings.Count(err1, "\n") != 1 {
			t.Errorf("%s: progress line %q: want one line redrawn with \\r, ending at 100%% and a newline", name, err1)
		}
	}
}

// TestProgressStdin: standard input from a pipe has no size: bytes and
// rate, no percent.
func TestProgressStdin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdataDir, "leak-to-limit.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	code := run(t.Context(), []string{"calls", "--progress=always", "--format", "jsonl", "-"}, bytes.NewReader(b), &o, &e)
	if code != 0 || !strings.Contains(e.String(), "reading") || !strings.Contains(e.String(), "66 kB") || strings.Contains(e.String(), "%") {
		t.Errorf("stdin: exit %d, progress %q: want the bytes read and no percent", code, e.String())
	}
}

// TestProgressCountsGzip: the bytes counted are those stored, compressed
// for gzip: at the end they equal the total, the sum of the file sizes.
func TestProgressCountsGzip(t *testing.T) {
	gz := filepath.Join(testdataDir, "gzip.pcap.gz")
	clean := filepath.Join(testdataDir, "clean.pcap")
	size := func(f string) int64 {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	for _, files := range [][]string{{gz}, {gz, clean}} {
		want := int64(0)
		for _, f := range files {
			want += size(f)
		}
		if got := inputSize(files, nil); got != want {
			t.Errorf("%v: inputSize %d, want %d", files, got, want)
		}
		var n atomic.Int64
		res := pipeline.Run(files, pipeline.Options{Read: &n}, &collect{})
		if res.Stats.Packets == 0 {
			t.Fatalf("%v: no packets read", files)
		}
		if n.Load() != want {
			t.Errorf("%v: %d bytes counted, want %d (the files' sizes)", files, n.Load(), want)
		}
	}
	if got := inputSize([]string{gz, "-"}, strings.NewReader("")); got != -1 {
		t.Errorf("inputSize with a piped standard input: %d, want -1", got)
	}
	if got := inputSize([]string{gz, filepath.Join(testdataDir, "no-such.pcap")}, nil); got != size(gz) {
		t.Errorf("inputSize with a missing file: %d, want %d", got, size(gz))
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until w holds s (the ticker redraws the line every 100 ms).
func waitFor(t *testing.T, w *syncBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(w.String(), s) {
			return
		}
	}
	t.Fatalf("progress line never showed %q: %q", s, w.String())
}

// TestProgressTerminal: on a terminal the line is redrawn as bytes are read
// and cleared at the end, leaving no line behind; with an unknown size, auto
// draws it only from progressMin bytes on.
func TestProgressTerminal(t *testing.T) {
	var w syncBuffer
	p := newProgress(&w, true, 10_000_000, 0)
	waitFor(t, &w, "0%")
	p.read.Store(5_000_000)
	waitFor(t, &w, "50%")
	if !strings.Contains(w.String(), "5.0/10 MB") {
		t.Errorf("no bytes of total in %q", w.String())
	}
	p.finish()
	out := w.String()
	if strings.Contains(out, "\n") || strings.Contains(out, "100%") || !strings.HasSuffix(out, strings.Repeat(" ", 20)+"\r") {
		t.Errorf("line not cleared at the end: %q", out)
	}

	var u syncBuffer
	p = newProgress(&u, true, -1, 1000)
	p.read.Store(999)
	time.Sleep(3 * progressEvery)
	if u.String() != "" {
		t.Errorf("drawn before 1000 bytes were read: %q", u.String())
	}
	p.read.Store(2000)
	waitFor(t, &u, "2.0 kB")
	p.finish()
	if out := u.String(); strings.Contains(out, "%") || strings.Contains(out, "\n") || !strings.HasSuffix(out, "\r") {
		t.Errorf("unknown size: %q", out)
	}

	var v syncBuffer
	p = newProgress(&v, true, -1, 1000)
	p.finish()
	if v.String() != "" {
		t.Errorf("a line never drawn left %q", v.String())
	}
}
