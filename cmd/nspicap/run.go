package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/redact"
	"github.com/nspicap/nspicap/internal/report"
	"github.com/nspicap/nspicap/internal/safetext"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses.
const (
	exitOK       = 0
	exitInput    = 1 // an input could not be read
	exitUsage    = 2
	exitFindings = 3 // --fail-on named a kind that was found
)

const usageText = `nspicap reads packet captures and explains why MAPI clients fail to log on.

Usage:
  nspicap analyze [flags] FILE...   NSPI sessions, leaks and refused logons (the report)
  nspicap sessions [flags] FILE...  every NSPI (or store) session with its frames
  nspicap calls [flags] FILE...     every DCE/RPC call
  nspicap endpoints [flags] FILE... what the endpoint mapper answered (like rpcdump)
  nspicap version                   print the version

FILE is a pcap or pcapng capture, optionally gzip-compressed; several files are
read as one capture in time order (a dumpcap ring buffer); "-" reads standard
input. Run "nspicap COMMAND -h" for a command's flags.
`

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	var err error
	peak := watchMemory()
	defer func() { warnMemory(peak(), stderr) }()
	switch cmd {
	case "analyze":
		code, err = runAnalyze(ctx, rest, stdin, stdout, stderr)
	case "sessions":
		code, err = runSessions(ctx, rest, stdin, stdout, stderr)
	case "calls":
		code, err = runCalls(ctx, rest, stdin, stdout, stderr)
	case "endpoints":
		code, err = runEndpoints(ctx, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "nspicap %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "nspicap: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "nspicap %s: %s\n", cmd, safetext.Line(err.Error()))
			return exitUsage
		}
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "nspicap %s: %s\n", cmd, safetext.Line(err.Error()))
		if code == exitOK {
			code = exitInput
		}
	}
	return code
}

// newFlags returns a flag set for a command, with -h printing its flags and
// an example.
func newFlags(name, synopsis, example string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { writeUsage(stderr, fs, name, synopsis, example) }
	return fs
}

func parse(fs *pflag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		if msg, ok := valueError(err); ok {
			return nil, &usageError{msg}
		}
		return nil, &usageError{err.Error()}
	}
	files := fs.Args()
	if len(files) == 0 {
		return nil, &usageError{"no capture file given (see -h)"}
	}
	return files, nil
}

func checkFormat(f string, allowed ...string) error {
	for _, a := range allowed {
		if f == a {
			return nil
		}
	}
	return &usageError{fmt.Sprintf("--format %q: want %s", f, strings.Join(allowed, ", "))}
}

// reportInputs prints input problems to stderr, one line each, and says
// whether any input was unreadable. File names and what the capture said
// are escaped (safetext.Line): one line each, whatever they hold.
func reportInputs(res *pipeline.Result, stderr io.Writer) (unreadable bool) {
	for _, in := range res.Inputs {
		if in.Err != nil {
			fmt.Fprintf(stderr, "nspicap: %s\n", safetext.Line(in.Err.Error()))
			unreadable = true
		}
		for _, w := range in.Warnings {
			fmt.Fprintf(stderr, "nspicap: warning: %s: %s\n", safetext.Line(in.Path), safetext.Line(w))
		}
	}
	return unreadable
}

// allUnreadable reports whether no input could be read.
func allUnreadable(res *pipeline.Result) bool {
	for _, in := range res.Inputs {
		if in.Err == nil {
			return false
		}
	}
	return len(res.Inputs) > 0
}

// inputs converts what the capture layer says of each file for the report.
func inputs(res *pipeline.Result) []analyze.Input {
	var out []analyze.Input
	for i, in := range res.Inputs {
		ai := analyze.Input{Path: in.Path, Format: in.Format, Packets: in.Packets, FirstTime: in.First, LastTime: in.Last, Warnings: in.Warnings}
		if in.Cut > 0 {
			ai.SnapLen = in.SnapLen
		}
		if i < len(res.CutCalls) {
			ai.CutCalls = res.CutCalls[i]
		}
		if i < len(res.CutSMBMessages) {
			ai.CutSMBMessages = res.CutSMBMessages[i]
		}
		if in.Err != nil {
			ai.Error = strings.TrimPrefix(strings.TrimPrefix(in.Err.Error(), in.Path+": "), "stdin: ")
		}
		out = append(out, ai)
	}
	return out
}

// callSink writes every call.
type callSink struct {
	cw    *report.CallWriter
	err   error
	names *callRenamer     // --domain
	rd    *redact.Redactor // --redact
}

func (s *callSink) Call(c *pipeline.Call) {
	if s.err != nil {
		return
	}
	if s.rd != nil || s.names != nil {
		row := c.Row
		if s.names != nil {
			s.names.rename(&row)
		}
		if s.rd != nil {
			s.rd.CallRow(&row)
		}
		s.err = s.cw.Write(&row, c.Time)
		return
	}
	s.err = s.cw.Write(&c.Row, c.Time)
}

func (s *callSink) ConnEnd(*analyze.ConnEnd) {}

func runCalls(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("calls", "List every DCE/RPC call: interface, operation, user, return value, frames.",
		"nspicap calls --format jsonl trace.pcapng | jq 'select(.op == \"NspiBind\")'", stderr)
	in := addInputFlags(fs, true, "output format: table, csv or jsonl (one JSON object per line, streamed)", report.CallFormats...)
	doms := addDomainFlags(fs)
	red := addRedactFlags(fs)
	files, err := in.parse(fs, args, stderr)
	if err != nil {
		return exitUsage, err
	}
	if err := doms.check(); err != nil {
		return exitUsage, err
	}
	format, lim := in.format, in.lim
	cw, err := report.NewCallWriter(stdout, *format, len(files) > 1)
	if err != nil {
		return exitUsage, &usageError{err.Error()}
	}
	sink := &callSink{cw: cw, names: doms.renamer(), rd: red.redactor()}
	if sink.rd != nil {
		avoidInputAddrs(sink.rd, files)
	}
	opts := lim.options(stdin)
	opts.Rows = true
	var streamed io.Writer // jsonl rows are written as calls complete
	if *format == "jsonl" {
		streamed = stdout
	}
	res := runWithProgress(files, opts, sink, lim.progress, stderr, streamed)
	if allUnreadable(&res) {
		// No table of 0 calls: the error lines say it all.
		reportInputs(&res, stderr)
		return exitInput, nil
	}
	if err := cw.Close(); err != nil && sink.err == nil {
		sink.err = err
	}
	if sink.rd != nil {
		redactResult(sink.rd, &res)
	}
	printAnomalies(&res, stderr)
	printKeyWarnings(&res, stderr)
	if reportInputs(&res, stderr) {
		return exitInput, nil
	}
	if sink.err != nil {
		return exitInput, fmt.Errorf("writing output: %v", sink.err)
	}
	return exitOK, nil
}

func printAnomalies(res *pipeline.Result, stderr io.Writer) {
	for _, a := range res.Anomalies {
		fmt.Fprintf(stderr, "nspicap: note: %s x%d (first at %s#%d: %s)\n", safetext.Line(a.Kind), a.Count, safetext.Line(a.First.File), a.First.Frame, safetext.Line(a.Example))
	}
}
