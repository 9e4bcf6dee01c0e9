package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

func main() {
	dir := flag.String("dir", ".bench", "folder for the generated captures and binaries (git-ignored)")
	sizeMB := flag.Int64("size", 1024, "size of the ticket and busy-DC captures, MB")
	runs := flag.Int("runs", 3, "runs per measurement (the median is reported)")
	quick := flag.Bool("quick", false, "small captures (100 MB, 100k flows), one run: a smoke test of the harness")
	flows := flag.Int("flows", 1000000, "connections in the many-flows capture")
	scale := flag.Bool("scale", true, "also measure 200 MB and 2 GB ticket and site captures (memory and time per packet against size)")
	tsharkMB := flag.Int64("tshark", 100, "size of the slice timed with tshark when it is installed, MB (0: skip)")
	huge := flag.Bool("huge", false, "also measure 4 GB ticket and site captures (about 8.6 GB more on disk): memory once every bound is full")
	only := flag.String("only", "", "measure only the captures whose name contains this text (e.g. \"busy DC\")")
	flag.Parse()
	if *quick {
		*sizeMB, *runs, *flows, *scale, *tsharkMB = 100, 1, 100000, false, 20
	}
	if err := benchmain(*dir, *sizeMB<<20, *runs, *flows, *scale, *huge, *tsharkMB<<20, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type measurement struct {
	name    string
	bytes   int64
	packets int64
	base    time.Duration
	tool    time.Duration
	read    time.Duration // the reading stage alone (readstage), ticket rows only
	baseRSS int64
	toolRSS int64
	note    string
	kind    string // ticket (also as a ring and gzip), busydc, tshark, ...
	scale   string // small, large or huge: the ticket or site at 200 MB, 2 GB and 4 GB
	extra   bool   // beyond the list of captures
}

// ratio is nspicap's time over the baseline's, or for the tshark row
// tshark's over nspicap's.
func (m *measurement) ratio() float64 {
	if m.kind == "tshark" {
		return float64(m.base) / float64(m.tool)
	}
	return float64(m.tool) / float64(m.base)
}

func benchmain(dir string, size int64, runs, flows int, scale, huge bool, tsharkSize int64, only string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	testdata := "testdata"
	bin := func(name string) string {
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		return filepath.Join(dir, name)
	}
	tool, base, reader := bin("nspicap"), bin("pcapread"), bin("readstage")
	for _, b := range [][2]string{{tool, "./cmd/nspicap"}, {base, "./internal/bench/baseline"}, {reader, "./internal/bench/readstage"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %v", b[1], err)
		}
	}
	mb := size >> 20
	type capfile struct {
		name, kind, path string
		size             int64
		files            []string
		once             bool   // measured once, whatever -runs says
		scale            string // measurement.scale
	}
	caps := []capfile{
		{name: fmt.Sprintf("ticket %d MB", mb), kind: "ticket", path: filepath.Join(dir, fmt.Sprintf("ticket-%d.pcap", mb)), size: size},
		{name: fmt.Sprintf("busy DC %d MB", mb), kind: "busydc", path: filepath.Join(dir, fmt.Sprintf("busydc-%d.pcap", mb)), size: size},
		{name: fmt.Sprintf("many flows %dk", flows/1000), kind: "manyflows", path: filepath.Join(dir, fmt.Sprintf("manyflows-%d.pcap", flows)), size: int64(flows)},
		{name: fmt.Sprintf("ticket %d MB gzip", mb), kind: "ticket", path: filepath.Join(dir, fmt.Sprintf("ticket-%d.pcap.gz", mb)), size: size},
		// Not in the list: the worst case for memory per
		// connection: a quarter as many connections as the many-flows
		// capture, each left open with a partial PDU.
		{name: fmt.Sprintf("open connections %dk", flows/4000), kind: "openconns", path: filepath.Join(dir, fmt.Sprintf("openconns-%d.pcap", flows/4)), size: int64(flows / 4)},
		// Crafted to make nspicap hold as much memory at once as it can
		// (hostile.go): connections that each fill every per-connection
		// limit; 80k smaller ones (8% of -flows), beyond --max-conns; one
		// user binding NSPI sessions without end.
		{name: fmt.Sprintf("hostile %d MB", mb), kind: "hostile", path: filepath.Join(dir, fmt.Sprintf("hostile-%d.pcap", mb)), size: size, once: true},
		{name: fmt.Sprintf("hostile conns %dk", flows*2/25000), kind: "hostile-conns", path: filepath.Join(dir, fmt.Sprintf("hostile-conns-%d.pcap", flows*2/25)), size: int64(flows * 2 / 25), once: true},
		{name: fmt.Sprintf("hostile sessions %d MB", mb), kind: "hostile-sessions", path: filepath.Join(dir, fmt.Sprintf("hostile-sessions-%d.pcap", mb)), size: size, once: true},
	}
	if scale {
		caps = append(caps,
			capfile{name: "ticket 200 MB", kind: "ticket", path: filepath.Join(dir, "ticket-200.pcap"), size: 200 << 20, scale: "small"},
			capfile{name: "ticket 2048 MB", kind: "ticket", path: filepath.Join(dir, "ticket-2048.pcap"), size: 2048 << 20, scale: "large"},
			// Not in the list: the same traffic from a site of
			// sitePopulation machines and users that keep coming back,
			// where the ticket brings a new machine and user with every
			// replay: memory against size when the report does not grow.
			capfile{name: fmt.Sprintf("site of %d, 200 MB", sitePopulation), kind: "site", path: filepath.Join(dir, "site-200.pcap"), size: 200 << 20, scale: "small"},
			capfile{name: fmt.Sprintf("site of %d, 2048 MB", sitePopulation), kind: "site", path: filepath.Join(dir, "site-2048.pcap"), size: 2048 << 20, scale: "large"})
	}
	if huge {
		caps = append(caps,
			capfile{name: "ticket 4096 MB", kind: "ticket", path: filepath.Join(dir, "ticket-4096.pcap"), size: 4096 << 20, scale: "huge"},
			capfile{name: fmt.Sprintf("site of %d, 4096 MB", sitePopulation), kind: "site", path: filepath.Join(dir, "site-4096.pcap"), size: 4096 << 20, scale: "huge"})
	}
	if only != "" {
		var keep []capfile
		for _, c := range caps {
			if strings.Contains(c.name, only) {
				keep = append(keep, c)
			}
		}
		caps = keep
	}
	for _, c := range caps {
		if _, err := os.Stat(c.path); err == nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "generating %s ...\n", c.path)
		if err := generate(c.kind, c.path, testdata, c.size); err != nil {
			return fmt.Errorf("generating %s: %v", c.path, err)
		}
	}
	// the ticket capture again, as a ring buffer of 10 files
	ringDir := filepath.Join(dir, fmt.Sprintf("ring-%d", mb))
	ring, _ := filepath.Glob(filepath.Join(ringDir, "ring_*.pcap"))
	// (made of the first capture, the ticket, unless -only left it out)
	if len(caps) > 0 && caps[0].kind == "ticket" && caps[0].size == size && !strings.HasSuffix(caps[0].path, ".gz") {
		if len(ring) != 10 {
			os.MkdirAll(ringDir, 0o755)
			var err error
			if ring, err = splitRing(caps[0].path, 10, ringDir); err != nil {
				return err
			}
		}
		caps = append(caps[:1], append([]capfile{{name: fmt.Sprintf("ticket %d MB, ring of 10", mb), kind: "ticket", files: ring}}, caps[1:]...)...)
	}

	var rows []measurement
	for _, c := range caps {
		files := c.files
		if files == nil {
			files = []string{c.path}
		}
		m := measurement{name: c.name, kind: c.kind, scale: c.scale, extra: c.kind == "openconns" || c.kind == "site" || c.scale == "huge" || strings.HasPrefix(c.kind, "hostile")}
		if c.once && runs > 1 {
			m.name += " (1 run)"
		}
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				m.bytes += st.Size()
			}
		}
		var bt, tt, rt []time.Duration
		n := runs
		if c.once {
			n = 1
		}
		// One untimed read first, so that neither program is timed
		// reading a file the page cache has not got yet.
		if _, _, _, err := timed(base, files...); err != nil {
			return fmt.Errorf("baseline on %s: %v", c.name, err)
		}
		for i := 0; i < n; i++ {
			d, rss, out, err := timed(base, files...)
			if err != nil {
				return fmt.Errorf("baseline on %s: %v", c.name, err)
			}
			bt = append(bt, d)
			m.baseRSS = max(m.baseRSS, rss)
			fmt.Sscan(strings.TrimSpace(out), &m.packets)
			d, rss, err = timedQuiet(tool, append([]string{"analyze", "--format", "json"}, files...)...)
			if err != nil {
				return fmt.Errorf("nspicap on %s: %v", c.name, err)
			}
			tt = append(tt, d)
			m.toolRSS = max(m.toolRSS, rss)
			if c.kind == "ticket" {
				d, _, err = timedQuiet(reader, files...)
				if err != nil {
					return fmt.Errorf("reading stage on %s: %v", c.name, err)
				}
				rt = append(rt, d)
			}
		}
		m.base, m.tool = median(bt), median(tt)
		if rt != nil {
			m.read = median(rt)
		}
		rows = append(rows, m)
		fmt.Fprintf(os.Stderr, "%s: baseline %v, nspicap %v\n", c.name, m.base, m.tool)
	}
	if _, err := exec.LookPath("tshark"); err == nil && tsharkSize > 0 && (only == "" || strings.Contains("slice vs tshark", only)) {
		slice := filepath.Join(dir, fmt.Sprintf("slice-%d.pcap", tsharkSize>>20))
		if _, err := os.Stat(slice); err != nil {
			if err := generate("ticket", slice, testdata, tsharkSize); err != nil {
				return err
			}
		}
		st, _ := os.Stat(slice)
		m := measurement{name: fmt.Sprintf("ticket %d MB slice vs tshark", tsharkSize>>20), bytes: st.Size(), kind: "tshark"}
		d, rss, err := timedQuiet("tshark", "-r", slice, "-Y", "nspi", "-T", "fields", "-e", "frame.number", "-e", "nspi.opnum")
		if err != nil {
			return fmt.Errorf("tshark: %v", err)
		}
		m.base, m.baseRSS = d, rss
		var tt []time.Duration
		for i := 0; i < runs; i++ {
			d, rss, err := timedQuiet(tool, "analyze", "--format", "json", slice)
			if err != nil {
				return err
			}
			tt = append(tt, d)
			m.toolRSS = max(m.toolRSS, rss)
		}
		m.tool = median(tt)
		m.note = "baseline column is tshark"
		rows = append(rows, m)
	}
	printTable(rows, runs)
	printReadStage(rows)
	printTargets(targets(rows))
	return nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// gnuTime is GNU time, which reports a child's peak RSS without counting the
// memory of the process that started it (a Go parent's wait4 rusage includes
// the pages the child inherited before exec).
var gnuTime = func() string {
	if p, err := exec.LookPath("/usr/bin/time"); err == nil {
		return p
	}
	return ""
}()

// timed runs a command and returns its wall time, peak RSS in bytes and
// standard output.
func timed(name string, args ...string) (time.Duration, int64, string, error) {
	return run(true, name, args...)
}

// timedQuiet is timed for a command whose output is not needed: it goes to
// the null device, so that the bench does not time itself reading a pipe
// (on two cores, that competes with the command measured).
func timedQuiet(name string, args ...string) (time.Duration, int64, error) {
	d, rss, _, err := run(false, name, args...)
	return d, rss, err
}

func run(keep bool, name string, args ...string) (time.Duration, int64, string, error) {
	cmd := exec.Command(name, args...)
	if gnuTime != "" {
		cmd = exec.Command(gnuTime, append([]string{"-f", "maxrss_kb=%M", name}, args...)...)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if !keep {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return 0, 0, "", err
		}
		defer null.Close()
		cmd.Stdout = null
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	rss := maxRSS(cmd.ProcessState)
	if gnuTime != "" {
		e := errb.String()
		if i := strings.LastIndex(e, "maxrss_kb="); i >= 0 {
			var kb int64
			fmt.Sscan(e[i+len("maxrss_kb="):], &kb)
			rss = kb << 10
		}
	}
	return d, rss, out.String(), nil
}

func printTable(rows []measurement, runs int) {
	host, _ := os.Hostname()
	fmt.Printf("nspicap benchmark: %s/%s, %d CPUs%s, %s; median of %d runs\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), host, runs)
	fmt.Println("| capture | size | packets | baseline | nspicap analyze | ratio | MB/s | packets/s | peak RSS (baseline / nspicap) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, m := range rows {
		ratio := m.ratio()
		sec := m.tool.Seconds()
		pps := "-"
		if m.packets > 0 {
			pps = fmt.Sprintf("%.0f", float64(m.packets)/sec)
		}
		name := m.name
		if m.note != "" {
			name += " (" + m.note + ")"
		}
		fmt.Printf("| %s | %.0f MB | %d | %.2f s | %.2f s | %.2fx | %.0f | %s | %.0f / %.0f MiB |\n",
			name, float64(m.bytes)/(1<<20), m.packets, m.base.Seconds(), sec, ratio,
			float64(m.bytes)/(1<<20)/sec, pps, float64(m.baseRSS)/(1<<20), float64(m.toolRSS)/(1<<20))
	}
	fmt.Println("\nratio: nspicap time / baseline time (for the tshark row: tshark time / nspicap time).")
}

// printReadStage prints, for the ticket captures, the time of nspicap's
// reading stage alone (internal/bench/readstage) between the baseline's and
// nspicap analyze's: the part of the ratio that reading costs before any
// reassembly.
func printReadStage(rows []measurement) {
	first := true
	for _, m := range rows {
		if m.read == 0 {
			continue
		}
		if first {
			fmt.Println("\nreading stage alone (readstage: read, hand over, decode headers, look up connections; no reassembly):")
			fmt.Println()
			fmt.Println("| capture | baseline | reading stage | nspicap analyze | reading stage / baseline |")
			fmt.Println("|---|---:|---:|---:|---:|")
			first = false
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %.2f s | %.2fx |\n", m.name, m.base.Seconds(), m.read.Seconds(), m.tool.Seconds(),
			float64(m.read)/float64(m.base))
	}
}

// cpuModel returns the processor's model name in parentheses where the
// system says it (Linux), or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return " (" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}
