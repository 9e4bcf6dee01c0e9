package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/redact"
	"github.com/nspicap/nspicap/internal/safetext"
)

// redactFlags are --redact and --redact-key (analyze, sessions, calls,
// endpoints).
type redactFlags struct {
	on  *bool
	key *string
}

func addRedactFlags(fs *pflag.FlagSet) *redactFlags {
	return &redactFlags{
		on: fs.Bool("redact", false, "replace user names, domains, realms, host names and IP addresses by pseudonyms "+
			"(user-N, domain-N, host-N, 198.51.100.0/24, 2001:db8::/32; ports kept) in every output format; the --evidence file is not redacted"),
		key: fs.String("redact-key", "", "the `KEY` the pseudonyms derive from (implies --redact): the same key gives the same pseudonyms in every report; "+
			"without it they change from run to run"),
	}
}

// redactor returns the Redactor of the flags, nil without --redact.
func (f *redactFlags) redactor() *redact.Redactor {
	if !*f.on && *f.key == "" {
		return nil
	}
	return redact.New(*f.key)
}

// warnEvidenceNotRedacted says that --evidence and --redact together leave
// the evidence file as captured.
func warnEvidenceNotRedacted(evidence string, rd *redact.Redactor, stderr io.Writer) {
	if evidence != "" && rd != nil {
		fmt.Fprintf(stderr, "nspicap: warning: the evidence file %s is not redacted: it holds the frames as captured, with every name and address the report hides\n", safetext.Line(evidence))
	}
}

// avoidInputAddrs reads the input files once (not standard input) for the
// addresses that lie in the pseudonym ranges, so that no pseudonym is an
// address of the input: for calls, whose rows are redacted as they come.
func avoidInputAddrs(rd *redact.Redactor, files []string) {
	seen := map[netip.Addr]bool{}
	for _, f := range files {
		capture.ReadFrames(f, func(fr *capture.Frame) error {
			if fr.TCP {
				for _, a := range []netip.Addr{fr.Src.Addr(), fr.Dst.Addr()} {
					if !seen[a] && redact.InPool(a) {
						seen[a] = true
						rd.Avoid(a)
					}
				}
			}
			return nil
		})
	}
}

// redactResult redacts what calls prints of the pipeline's result on
// standard error: the anomalies' examples and the key warnings.
func redactResult(rd *redact.Redactor, res *pipeline.Result) {
	for i := range res.Anomalies {
		res.Anomalies[i].Example = rd.Text(res.Anomalies[i].Example)
	}
	for i := range res.KeyWarnings {
		res.KeyWarnings[i] = rd.Text(res.KeyWarnings[i])
	}
}

// redactReport redacts r (with the identities the pipeline saw, which the
// key warnings may name) and prints the key warnings redacted; nothing
// without a Redactor.
func redactReport(rd *redact.Redactor, r *analyze.Report, res *pipeline.Result, stderr io.Writer) {
	if rd == nil {
		return
	}
	var ids []string
	for _, l := range res.Logons {
		ids = append(ids, l.User)
	}
	rd.Report(r, ids...)
	for _, w := range res.KeyWarnings {
		fmt.Fprintf(stderr, "nspicap: warning: %s\n", safetext.Line(rd.Text(w)))
	}
}
