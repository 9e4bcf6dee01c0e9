package testutil

import (
	"fmt"
	"regexp"
	"strings"
)

// Sentences splits a text into its sentences, at a period followed by a
// space and a capital letter or a parenthesis ("0.6 s" and "e.g. x" stay
// whole).
func Sentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && (s[i+2] >= 'A' && s[i+2] <= 'Z' || s[i+2] == '(') {
			out = append(out, strings.TrimSpace(s[start:i+1]))
			start = i + 2
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

// singularS are words ending in s that are singular (or not nouns) and may
// follow "1".
var singularS = map[string]bool{
	"was": true, "is": true, "has": true, "its": true, "this": true, "process": true, "address": true,
	"access": true, "status": true, "alias": true, "class": true, "ms": true, "s": true, "minutes": false,
	"bytes": false, "bus": true, "pass": true, "less": true, "miss": true, "plus": true,
}

var (
	oneNoun      = regexp.MustCompile(`(?:^|[^0-9.,:/x\\-])1 ([A-Za-z_/]+)(?: ([a-z]+))?`)
	pluralVerb   = regexp.MustCompile(`^(stay|are|were|have|remain|do|were|go)$`)
	onlyZero     = regexp.MustCompile(`\bonly 0 [a-z]`)
	noProblems   = regexp.MustCompile(`^No [A-Za-z/ ]*problems? found`)
	plainPlurals = map[string]bool{"anomalies": true, "calls": true, "sessions": true, "binds": true, "unbinds": true, "connections": true,
		"refusals": true, "attempts": true, "findings": true, "rows": true, "users": true, "clients": true, "frames": true, "packets": true,
		"messages": true, "times": true, "problems": true, "hours": true, "minutes": true, "seconds": true, "days": true, "bytes": true,
		"answers": true, "requests": true, "handles": true, "servers": true, "interfaces": true, "entries": true, "keys": true}
)

// SentenceProblems checks the sentences a report says (its verdict, and
// each finding message as a separate text) against the rules every
// sentence of nspicap keeps: no sentence twice in one text, no "only 0
// sessions", "1" before a singular noun and verb, and no "No ... problems
// found" when problems (errors or warnings) were listed. It returns one
// line per rule broken.
func SentenceProblems(verdict []string, messages []string, problems bool) []string {
	var out []string
	check := func(where string, sentences []string) {
		seen := map[string]bool{}
		for _, s := range sentences {
			if seen[s] {
				out = append(out, fmt.Sprintf("%s: said twice: %q", where, s))
			}
			seen[s] = true
			if onlyZero.MatchString(s) {
				out = append(out, fmt.Sprintf("%s: \"only 0\": %q", where, s))
			}
			for _, m := range oneNoun.FindAllStringSubmatch(s, -1) {
				noun, next := strings.ToLower(m[1]), m[2]
				if plainPlurals[noun] || (strings.HasSuffix(noun, "s") && !singularS[noun] && len(noun) > 3 && !strings.HasSuffix(noun, "ss")) {
					out = append(out, fmt.Sprintf("%s: \"1 %s\": %q", where, m[1], s))
				} else if plainPlurals[next] {
					out = append(out, fmt.Sprintf("%s: \"1 %s %s\": %q", where, m[1], next, s))
				} else if pluralVerb.MatchString(next) {
					out = append(out, fmt.Sprintf("%s: \"1 %s %s\": %q", where, m[1], next, s))
				}
			}
		}
	}
	var vs []string
	for _, v := range verdict {
		vs = append(vs, Sentences(v)...)
		if problems && noProblems.MatchString(v) {
			out = append(out, fmt.Sprintf("verdict: %q after problems were listed", v))
		}
	}
	check("verdict", vs)
	for i, m := range messages {
		check(fmt.Sprintf("finding %d", i), Sentences(m))
	}
	return out
}
