package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
)

// failOn is --fail-on: which findings make the exit status 3. A rule is a
// severity ("error": findings of severity error; "warning": warning or
// error) or a finding kind, which matches the findings of that kind of
// severity warning or error; "KIND:info" matches that kind at any
// severity (Outlook's anonymous first bind is an info logon_failed).
type failOn struct {
	spec  []string
	rules []failRule
}

type failRule struct {
	kind    string // "" for a severity rule
	minRank int    // sevRank of the least severe finding matched
}

func addFailOnFlag(fs *pflag.FlagSet) *failOn {
	f := &failOn{}
	fs.StringSliceVar(&f.spec, "fail-on", nil, "exit with status 3 when a finding matches: error, warning (or worse), or a kind (of severity warning or error; KIND:info for any severity): "+strings.Join(findingKinds, ", "))
	return f
}

// Rank of the severities, most severe first (as analyze sorts findings).
func sevRank(s string) int {
	switch s {
	case analyze.SevError:
		return 0
	case analyze.SevWarning:
		return 1
	}
	return 2
}

// check parses the rules; an unknown one is a usage error.
func (f *failOn) check() error {
	f.rules = f.rules[:0]
	for _, s := range f.spec {
		switch s {
		case analyze.SevError, analyze.SevWarning:
			f.rules = append(f.rules, failRule{minRank: sevRank(s)})
			continue
		}
		kind, sev, withSev := strings.Cut(s, ":")
		rule := failRule{kind: kind, minRank: sevRank(analyze.SevWarning)}
		if withSev {
			if sev != analyze.SevInfo {
				return &usageError{fmt.Sprintf("--fail-on %q: after the colon, only \"info\" (KIND:info matches that kind at any severity)", s)}
			}
			rule.minRank = sevRank(analyze.SevInfo)
		}
		if !contains(findingKinds, kind) {
			return &usageError{fmt.Sprintf("--fail-on %q: want error, warning, or one of %s (KIND:info to match info findings too)", s, strings.Join(findingKinds, ", "))}
		}
		f.rules = append(f.rules, rule)
	}
	return nil
}

// matches reports whether a finding of r matches a rule.
func (f *failOn) matches(r *analyze.Report) bool {
	for i := range r.Findings {
		fd := &r.Findings[i]
		rank := sevRank(fd.Severity)
		for _, rule := range f.rules {
			if (rule.kind == "" || rule.kind == fd.Kind) && rank <= rule.minRank {
				return true
			}
		}
	}
	return false
}
