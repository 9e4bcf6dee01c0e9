package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/evidence"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/safetext"
)

// addEvidenceFlag registers --evidence (analyze).
func addEvidenceFlag(fs *pflag.FlagSet) *string {
	return fs.String("evidence", "", fmt.Sprintf("write the frames behind every finding, with the TCP handshakes of their connections, to the pcapng file `FILE`, "+
		"each with a comment naming its finding (at most %d frames per finding kind and user: the first and the last); never redacted", evidence.MaxPerGroup))
}

// checkEvidence refuses --evidence with standard input: the evidence is
// copied from the inputs in a second reading.
func checkEvidence(path string, files []string) error {
	if path == "" {
		return nil
	}
	ev, everr := os.Stat(path)
	for _, f := range files {
		if f == "-" {
			return &usageError{"--evidence needs capture files: standard input cannot be read a second time to copy the frames"}
		}
		if in, err := os.Stat(f); everr == nil && err == nil && os.SameFile(ev, in) {
			return &usageError{fmt.Sprintf("--evidence %s is one of the inputs: it would be overwritten", safetext.Line(path))}
		}
	}
	return nil
}

// writeEvidence writes the frames behind r's findings to path and says
// what it wrote, for the report. On failure the file is removed.
func writeEvidence(path string, files []string, r *analyze.Report, logons []pipeline.Logon) (*analyze.EvidenceFile, error) {
	ids := make([]evidence.Identity, 0, len(logons))
	for _, l := range logons {
		if l.User == "" || l.Anonymous {
			continue
		}
		ids = append(ids, evidence.Identity{Frame: l.Frame, Server: hostOf(l.Server), User: l.User})
	}
	plan := evidence.NewPlan(r, files, ids)
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--evidence %s: %v", safetext.Line(path), err)
	}
	res, err := plan.Write(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("writing the evidence %s: %v", safetext.Line(path), safetext.Line(err.Error()))
	}
	ev := &analyze.EvidenceFile{Path: path, Frames: res.Frames, Handshakes: res.Handshakes, Cuts: []analyze.EvidenceCut{}}
	for _, c := range plan.Cuts {
		ev.Cuts = append(ev.Cuts, analyze.EvidenceCut{Kind: c.Kind, User: analyze.NullString(c.User), Frames: c.Total, Written: c.Kept})
	}
	return ev, nil
}

// hostOf is the address of an ip:port, or s when it is not one.
func hostOf(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String()
	}
	return s
}
