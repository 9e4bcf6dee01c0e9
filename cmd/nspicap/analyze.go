package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/redact"
	"github.com/nspicap/nspicap/internal/report"
)

// eventSink feeds NSPI events to the analyzer: through feed (another
// goroutine) when it is set, else directly.
type eventSink struct {
	a    *analyze.Analyzer
	feed *feeder
}

func (s *eventSink) add(ev analyze.Event) {
	if s.feed != nil {
		s.feed.add(ev)
		return
	}
	s.a.Add(ev)
}

func (s *eventSink) Call(c *pipeline.Call) {
	if c.Event != nil {
		s.add(c.Event)
	}
}

func (s *eventSink) ConnEnd(ev *analyze.ConnEnd) { s.add(ev) }

// Extra feeds the EMSMDB, endpoint mapper and RFR events to the analyzer
// (pipeline.ExtraSink).
func (s *eventSink) Extra(ev analyze.Event) { s.add(ev) }

// TCPEnd feeds the ends of connections that carried no data (connection
// attempts) to the analyzer (pipeline.TCPEndSink).
func (s *eventSink) TCPEnd(ev *analyze.ConnAttempt) { s.add(ev) }

// emsmdbLimit sets the Exchange store's per-user session limit
// (--emsmdb-limit).
func emsmdbLimit(n int) func(*analyze.Options) {
	return func(o *analyze.Options) { o.EMSMDBLimit = n }
}

// findingKinds are the kinds --fail-on accepts.
var findingKinds = analyze.Kinds

// analysis runs the pipeline and the analyzer over files. A streamed report
// unpacks its sessions and refusals as they are written
// (analyze.ReportStreamed): for output that does not sort or measure them.
func analysis(files []string, limit int, lim *limitFlags, streamed bool, stdin io.Reader, stderr io.Writer, more ...func(*analyze.Options)) (*analyze.Report, bool) {
	r, unreadable, _ := analysisResult(files, limit, lim, streamed, stdin, stderr, nil, more...)
	return r, unreadable
}

// analysisResult is analysis that also returns the pipeline's result (the
// NTLM identities it saw, for --evidence). With a Redactor (--redact) the
// key warnings are not printed: the caller prints them redacted
// (redactReport) once the report gave the names their pseudonyms.
func analysisResult(files []string, limit int, lim *limitFlags, streamed bool, stdin io.Reader, stderr io.Writer, rd *redact.Redactor, more ...func(*analyze.Options)) (*analyze.Report, bool, *pipeline.Result) {
	ao := analyze.Options{Limit: limit}
	for _, f := range more {
		f(&ao)
	}
	a := analyze.New(ao)
	sink := &eventSink{a: a, feed: newFeeder(a, feedBatch)}
	res := runWithProgress(files, lim.options(stdin), sink, lim.progress, stderr, nil)
	sink.feed.wait()
	for _, an := range res.Anomalies {
		msg := an.Example
		x := analyze.Anomaly{Kind: an.Kind, Count: an.Count}
		if an.First.Frame != 0 {
			msg = fmt.Sprintf("first at %s frame %d: %s", an.First.File, an.First.Frame, an.Example)
			frame := an.First.Frame
			x.File, x.Frame = analyze.NullString(an.First.File), &frame
		}
		x.Message = msg
		// The KDC's refusals are facts of the capture, and a malformed
		// PAC costs no call (the bind decodes on); so is a channel older
		// than the capture that nothing tied to its other channel (nothing
		// was misread): notices, not decoding problems.
		x.Notice = an.Kind == pipeline.AnomalyKDCError || an.Kind == dcerpc.AnomalyMalformedPAC || an.Kind == pipeline.AnomalyHTTPChannelOlder
		a.AddAnomaly(x)
	}
	keyAnomaly(&res, a)
	if rd == nil {
		printKeyWarnings(&res, stderr)
	}
	unreadable := reportInputs(&res, stderr)
	var r *analyze.Report
	if streamed {
		r = a.ReportStreamed(inputs(&res))
	} else {
		r = a.Report(inputs(&res))
	}
	r.Version = version
	return r, unreadable, &res
}

func runAnalyze(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("analyze", "Report NSPI sessions per user and client, leaks, and why each logon failed.",
		"nspicap analyze --limit 50 --fail-on session_limit,leak trace.pcapng", stderr)
	in := addInputFlags(fs, true, "output format: table, json or html", "table", "json", "html")
	limit := fs.Int("limit", 50, "the domain controller's NSPI max sessions per user")
	emsLimit := fs.Int("emsmdb-limit", analyze.DefaultEMSMDBLimit, "the Exchange store's Maximum Allowed Sessions Per User (EMSMDB)")
	failOn := addFailOnFlag(fs)
	tables := addTableFlags(fs)
	doms := addDomainFlags(fs)
	evPath := addEvidenceFlag(fs)
	red := addRedactFlags(fs)
	files, err := in.parse(fs, args, stderr)
	if err != nil {
		return exitUsage, err
	}
	if err := tables.check(); err != nil {
		return exitUsage, err
	}
	if err := doms.check(); err != nil {
		return exitUsage, err
	}
	if err := checkEvidence(*evPath, files); err != nil {
		return exitUsage, err
	}
	format, lim := in.format, in.lim
	if *emsLimit < 1 {
		return exitUsage, &usageError{fmt.Sprintf("--emsmdb-limit %d: want a positive number", *emsLimit)}
	}
	if *limit < 1 {
		return exitUsage, &usageError{fmt.Sprintf("--limit %d: want a positive number", *limit)}
	}
	if err := failOn.check(); err != nil {
		return exitUsage, err
	}
	rd := red.redactor()
	warnEvidenceNotRedacted(*evPath, rd, stderr)
	// A redacted report is built whole: the redaction rewrites its lists.
	r, unreadable, res := analysisResult(files, *limit, lim, rd == nil, stdin, stderr, rd, emsmdbLimit(*emsLimit), tables.apply, doms.apply)
	if noneRead(r) {
		return exitInput, nil // the errors are on standard error; a report would read as "no NSPI traffic"
	}
	if *evPath != "" {
		if r.Evidence, err = writeEvidence(*evPath, files, r, res.Logons); err != nil {
			return exitInput, err
		}
	}
	redactReport(rd, r, res, stderr)
	if err := report.WriteAnalyze(stdout, *format, r); err != nil {
		return exitInput, fmt.Errorf("writing output: %v", err)
	}
	if unreadable {
		return exitInput, nil
	}
	if failOn.matches(r) {
		return exitFindings, nil
	}
	return exitOK, nil
}

func runSessions(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("sessions", "List every NSPI session (bind to unbind, connection close, or end of capture) with its frames; --proto emsmdb or all lists the Exchange store sessions (connect to disconnect).",
		"nspicap sessions --proto all --format csv trace.pcapng > sessions.csv", stderr)
	in := addInputFlags(fs, true, "output format: table, csv or jsonl", "table", "csv", "jsonl")
	limit := fs.Int("limit", 50, "the domain controller's NSPI max sessions per user")
	proto := fs.String("proto", "nspi", "which sessions: nspi (address book), emsmdb (Exchange store) or all")
	emsLimit := fs.Int("emsmdb-limit", analyze.DefaultEMSMDBLimit, "the Exchange store's Maximum Allowed Sessions Per User (EMSMDB), for --fail-on")
	failOn := addFailOnFlag(fs)
	tables := addTableFlags(fs)
	doms := addDomainFlags(fs)
	red := addRedactFlags(fs)
	files, err := in.parse(fs, args, stderr)
	if err != nil {
		return exitUsage, err
	}
	if err := tables.check(); err != nil {
		return exitUsage, err
	}
	if err := doms.check(); err != nil {
		return exitUsage, err
	}
	if err := failOn.check(); err != nil {
		return exitUsage, err
	}
	if !contains(report.SessionProtos, *proto) {
		return exitUsage, &usageError{fmt.Sprintf("--proto %q: want nspi, emsmdb or all", *proto)}
	}
	if *limit < 1 || *emsLimit < 1 {
		return exitUsage, &usageError{"--limit and --emsmdb-limit: want a positive number"}
	}
	format, lim := in.format, in.lim
	rd := red.redactor()
	r, unreadable, res := analysisResult(files, *limit, lim, false, stdin, stderr, rd, emsmdbLimit(*emsLimit), tables.apply, doms.apply)
	if noneRead(r) {
		return exitInput, nil
	}
	redactReport(rd, r, res, stderr)
	if err := report.WriteSessionsOf(stdout, *format, *proto, r.Sessions, r.EMSMDBSessions); err != nil {
		return exitInput, fmt.Errorf("writing output: %v", err)
	}
	if unreadable {
		return exitInput, nil
	}
	if failOn.matches(r) {
		return exitFindings, nil
	}
	return exitOK, nil
}

// noneRead reports whether no input could be read: the error lines on
// standard error are then all there is to say.
func noneRead(r *analyze.Report) bool {
	for _, in := range r.Inputs {
		if in.Error == "" {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newAnalyzer() *analyze.Analyzer { return analyze.New(analyze.Options{}) }
