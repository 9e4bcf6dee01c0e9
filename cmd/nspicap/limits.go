package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/pipeline"
)

// limitFlags are the resource limits every command accepts. Their defaults
// keep nspicap's memory under 256 MiB on any input; each limit, when hit, is
// reported as an anomaly (README, "Damaged captures and limits").
type limitFlags struct {
	maxConns, maxBuffered, maxBufferedTotal, maxCallBytes, maxOpenCalls int
	maxCallBytesTotal                                                   int
	maxMemory                                                           int         // MiB (memory.go)
	keys                                                                *keys.Store // --keys, --keytab (keyflags.go)
	progress                                                            string      // --progress (progress.go)
}

func addLimitFlags(fs *pflag.FlagSet) *limitFlags {
	l := &limitFlags{}
	fs.IntVar(&l.maxConns, "max-conns", pipeline.DefaultMaxConns, "TCP connections tracked at once; beyond, the longest idle is dropped")
	addSizeFlag(fs, &l.maxBuffered, "max-buffered", 1<<20, 1, "out-of-order bytes buffered per connection and direction before a hole is declared lost")
	addSizeFlag(fs, &l.maxBufferedTotal, "max-buffered-total", pipeline.DefaultMaxBufferedTotal, 1, "out-of-order bytes buffered over all connections")
	addSizeFlag(fs, &l.maxCallBytes, "max-call-bytes", dcerpc.DefaultLimits.MaxCallBytes, 1, "stub bytes kept per call and direction (the return value is always kept)")
	fs.IntVar(&l.maxOpenCalls, "max-open-calls", dcerpc.DefaultLimits.MaxOpenCalls, "calls awaiting an answer per connection")
	addSizeFlag(fs, &l.maxCallBytesTotal, "max-call-bytes-total", pipeline.DefaultMaxCallBytesTotal, 1, "memory the DCE/RPC layer holds between packets over all connections: stubs of calls in reassembly or awaiting an answer (at most half), the state of open calls and contexts, and partial PDUs")
	addSizeFlag(fs, &l.maxMemory, "max-memory", defaultMaxMemory, 1<<20, "soft limit of the heap (a plain number counts MiB): the garbage collector works harder as it nears it (a GOMEMLIMIT in the environment applies when this flag is not given)")
	return l
}

func (l *limitFlags) check() error {
	for _, v := range []struct {
		name string
		v    int
	}{{"max-conns", l.maxConns}, {"max-buffered", l.maxBuffered}, {"max-buffered-total", l.maxBufferedTotal},
		{"max-call-bytes", l.maxCallBytes}, {"max-open-calls", l.maxOpenCalls},
		{"max-call-bytes-total", l.maxCallBytesTotal}, {"max-memory", l.maxMemory}} {
		if v.v < 1 {
			return &usageError{fmt.Sprintf("--%s %d: want a positive number", v.name, v.v)}
		}
	}
	return nil
}

func (l *limitFlags) options(stdin io.Reader) pipeline.Options {
	return pipeline.Options{
		Stdin:             stdin,
		Limits:            dcerpc.Limits{MaxCallBytes: l.maxCallBytes, MaxOpenCalls: l.maxOpenCalls},
		MaxConns:          l.maxConns,
		MaxBuffered:       l.maxBuffered,
		MaxBufferedTotal:  l.maxBufferedTotal,
		MaxCallBytesTotal: l.maxCallBytesTotal,
		Keys:              l.keys,
		// The sinks of every command (eventSink, callSink, endpointSink)
		// copy what they keep.
		Recycle: true,
	}
}

// inputFlags are the flags of every command that reads captures: the output
// format, the resource limits, where sealed stubs matter the key files, and
// the progress line.
type inputFlags struct {
	format  *string
	formats []string
	lim     *limitFlags
	keys    *keyFlags
}

func addInputFlags(fs *pflag.FlagSet, keys bool, formatHelp string, formats ...string) *inputFlags {
	f := &inputFlags{formats: formats}
	f.format = fs.StringP("format", "f", formats[0], formatHelp)
	f.lim = addLimitFlags(fs)
	if keys {
		f.keys = addKeyFlags(fs)
	}
	fs.StringVar(&f.lim.progress, "progress", "auto", "a progress line on standard error: auto (when it is a terminal and the input is over 50 MB), always or never")
	return f
}

// parse parses the command line, checks every flag and loads the key files;
// it returns the capture files.
func (f *inputFlags) parse(fs *pflag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	files, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if err := checkFormat(*f.format, f.formats...); err != nil {
		return nil, err
	}
	if err := f.lim.check(); err != nil {
		return nil, err
	}
	setMemoryLimit(fs, f.lim.maxMemory)
	if err := checkProgress(f.lim.progress); err != nil {
		return nil, err
	}
	if f.keys != nil {
		if err := f.keys.load(f.lim, stderr); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// tableFlags bound what the analyzer follows at once and lists (analyze
// doc.go, "Memory"); analyze and sessions accept them.
type tableFlags struct {
	maxRows, maxFindings, maxSessions, maxRefusals, maxOpenSessions int
}

func addTableFlags(fs *pflag.FlagSet) *tableFlags {
	t := &tableFlags{}
	fs.IntVar(&t.maxRows, "max-rows", analyze.DefaultMaxRows, "user rows and client rows followed at once; beyond, rows that hold no session are retired (reported, then counted)")
	fs.IntVar(&t.maxFindings, "max-findings", analyze.DefaultMaxFindings, "findings kept of retired rows; beyond, the least severe are counted, not listed")
	fs.IntVar(&t.maxSessions, "max-sessions", analyze.DefaultMaxSessions, "sessions listed (the first bound); the counters and findings count them all")
	fs.IntVar(&t.maxRefusals, "max-refusals", analyze.DefaultMaxRefusals, "refused binds listed (the first); the counters and findings count them all")
	fs.IntVar(&t.maxOpenSessions, "max-open-sessions", analyze.DefaultMaxOpenSessions, "sessions followed open at once; beyond, the rows holding the oldest are retired with them (reported)")
	return t
}

func (t *tableFlags) check() error {
	for _, v := range []struct {
		name string
		v    int
	}{{"max-rows", t.maxRows}, {"max-findings", t.maxFindings}, {"max-sessions", t.maxSessions}, {"max-refusals", t.maxRefusals},
		{"max-open-sessions", t.maxOpenSessions}} {
		if v.v < 1 {
			return &usageError{fmt.Sprintf("--%s %d: want a positive number", v.name, v.v)}
		}
	}
	return nil
}

func (t *tableFlags) apply(o *analyze.Options) {
	o.MaxRows, o.MaxFindings, o.MaxSessions, o.MaxRefusals = t.maxRows, t.maxFindings, t.maxSessions, t.maxRefusals
	o.MaxOpenSessions = t.maxOpenSessions
}
