package main

import (
	"os"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/smb"
)

// TestReadmeListsKinds holds the README's tables of finding kinds and
// anomaly kinds (the rows under its "... kinds" headings) to the code's
// tables: every kind a report can carry has its row, and no row names a
// kind the code does not have.
func TestReadmeListsKinds(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	inKinds := false // under a "... kinds" heading
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			inKinds = strings.HasSuffix(strings.ToLower(strings.TrimSpace(line)), " kinds")
		}
		if inKinds && strings.HasPrefix(line, "| `") {
			if i := strings.Index(line[3:], "`"); i > 0 {
				rows[line[3:3+i]] = true
			}
		}
	}
	code := map[string]bool{}
	for _, k := range analyze.Kinds {
		code[k] = true
	}
	for _, k := range dcerpc.AnomalyKinds {
		code[k.Name] = true
	}
	for _, k := range pipeline.AnomalyKinds {
		code[k.Name] = true
	}
	for _, k := range analyze.AnomalyKinds {
		code[k.Name] = true
	}
	for _, k := range smb.AnomalyKinds {
		code[k.Name] = true
	}
	for k := range code {
		if !rows[k] {
			t.Errorf("README has no row for the kind %q (add one under Finding kinds or Anomaly kinds)", k)
		}
	}
	for k := range rows {
		if !code[k] {
			t.Errorf("README has a row for %q, which no table of kinds lists", k)
		}
	}
}
