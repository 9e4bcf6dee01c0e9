package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestHelpGroups: -h lists the everyday flags first, in their order, then
// every --max-* limit in a group of its own; a flag registered later (by
// another file, like --evidence) falls into its group by its name.
func TestHelpGroups(t *testing.T) {
	for _, cmd := range []string{"analyze", "sessions", "calls", "endpoints"} {
		_, help, code := nspicap(t, cmd, "-h")
		if code != 0 {
			t.Fatalf("%s -h: exit %d", cmd, code)
		}
		head, limits, ok := strings.Cut(help, "\nResource limits")
		if !ok {
			t.Fatalf("%s -h: no limits group:\n%s", cmd, help)
		}
		last := -1
		for _, name := range everydayFlags {
			i := strings.Index(head, "  --"+name+" ")
			if j := strings.Index(head, ", --"+name+" "); i < 0 {
				i = j
			}
			if i < 0 {
				continue
			}
			if i < last {
				t.Errorf("%s -h: --%s out of order", cmd, name)
			}
			last = i
		}
		if strings.Contains(head, "--max-") {
			t.Errorf("%s -h: a --max- flag before the limits group:\n%s", cmd, head)
		}
		n := strings.Count(limits, "\n      --max-")
		want := 7
		if cmd == "analyze" || cmd == "sessions" {
			want = 12
		}
		if n != want || !strings.Contains(limits, "(default 16MiB)") {
			t.Errorf("%s -h: %d limits (want %d):\n%s", cmd, n, want, limits)
		}
	}

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("max-zzz", 1, "")
	fs.Bool("redact", false, "")
	fs.String("evidence", "", "")
	fs.String("zebra", "", "")
	fs.String("format", "", "")
	var titles, names []string
	for _, g := range flagGroups(fs) {
		titles = append(titles, g.title)
		g.flags.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	}
	if got := strings.Join(names, " "); got != "format evidence redact zebra max-zzz" || len(titles) != 3 {
		t.Errorf("groups %q: %s", titles, got)
	}
}

// TestFlagValues: sizes take units and show them; bad values name the flag
// in plain words.
func TestFlagValues(t *testing.T) {
	for _, c := range []struct {
		in   string
		unit int64
		want int
		err  string
	}{
		{"1048576", 1, 1 << 20, ""},
		{"64MiB", 1, 64 << 20, ""},
		{"64 MiB", 1, 64 << 20, ""},
		{"1GiB", 1, 1 << 30, ""},
		{"512kib", 1, 512 << 10, ""},
		{"2MB", 1, 2000000, ""},
		{"1.5KiB", 1, 1536, ""},
		{"208", 1 << 20, 208, ""},
		{"1GiB", 1 << 20, 1024, ""},
		{"abc", 1, 0, "not a size"},
		{"MiB", 1, 0, "not a size"},
		{"1e9", 1, 0, "not a size"},
		{"NaN", 1, 0, "not a size"},
		{"-5MiB", 1, 0, "positive"},
		{"99999999TiB", 1, 0, "too large"},
	} {
		var n int
		v := &sizeValue{p: &n, unit: c.unit}
		err := v.Set(c.in)
		if (err != nil) != (c.err != "") || err != nil && !strings.Contains(err.Error(), c.err) || err == nil && n != c.want {
			t.Errorf("Set(%q) unit %d: %d, %v; want %d, %q", c.in, c.unit, n, err, c.want, c.err)
		}
	}
	for n, want := range map[int64]string{1 << 20: "1MiB", 33554432: "32MiB", 1536: "1536", 3 << 30: "3GiB", 1000: "1000", 4 << 10: "4KiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
	capture := filepath.Join(testdataDir, "clean.pcap")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "--limit", "abc", "x"}, `nspicap analyze: invalid value "abc" for --limit: not a number` + "\n"},
		{[]string{"analyze", "--limit", "1e99", "x"}, `nspicap analyze: invalid value "1e99" for --limit: not a number` + "\n"},
		{[]string{"sessions", "--max-conns", "99999999999999999999", "x"}, `nspicap sessions: invalid value "99999999999999999999" for --max-conns: too large` + "\n"},
		{[]string{"calls", "--max-buffered", "12QB", "x"}, `nspicap calls: invalid value "12QB" for --max-buffered: not a size (write bytes, or a number and a unit: 64MiB, 1GiB)` + "\n"},
		{[]string{"analyze", "--keys", capture, capture}, "nspicap analyze: keys file " + capture + " looks like a packet capture (pcap), not a keys file: give captures as FILE arguments, and --keys a text file of keys\n"},
		{[]string{"analyze", "--keytab", capture, capture}, "nspicap analyze: keytab " + capture + " looks like a packet capture (pcap), not a keytab: give captures as FILE arguments\n"},
	} {
		out, errOut, code := nspicap(t, c.args...)
		if code != 2 || out != "" || errOut != c.want {
			t.Errorf("%q: exit %d, stderr %q; want 2, %q", c.args, code, errOut, c.want)
		}
	}
	// Sizes with units reach the pipeline: the same report as in bytes.
	a, _, _ := nspicap(t, "analyze", "--max-call-bytes", "4MiB", "--max-memory", "1GiB", capture)
	b, _, _ := nspicap(t, "analyze", "--max-call-bytes", "4194304", "--max-memory", "1024", capture)
	if a != b || a == "" {
		t.Errorf("sizes with units give another report")
	}
}
