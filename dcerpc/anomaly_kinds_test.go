package dcerpc

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAnomalyKinds holds the claim of anomaly_kinds.go: every kind a Conn
// reports is a constant listed in AnomalyKinds with a sentence, once, and no
// anomaly is reported under a literal name.
func TestAnomalyKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range AnomalyKinds {
		if seen[k.Name] {
			t.Errorf("anomaly kind %q listed twice", k.Name)
		}
		seen[k.Name] = true
		if !regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`).MatchString(k.Name) {
			t.Errorf("anomaly kind %q is not a short snake_case name", k.Name)
		}
		if !strings.HasSuffix(k.Description, ".") || len(k.Description) < 20 {
			t.Errorf("anomaly kind %q: description %q is not a sentence", k.Name, k.Description)
		}
	}
	files, _ := filepath.Glob("*.go")
	consts := regexp.MustCompile(`(?m)^\t(Anomaly[A-Za-z]+) = "([a-z_]+)"$`)
	used := regexp.MustCompile(`c\.(?:anomaly|cutAnomaly)\((?:[A-Za-z()]+, )?(Anomaly[A-Za-z]+),`)
	literal := regexp.MustCompile(`anomaly\("|Anomaly\{Kind: "`)
	declared, reported := map[string]string{}, map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range consts.FindAllStringSubmatch(string(b), -1) {
			declared[m[1]] = m[2]
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			reported[m[1]] = true
		}
		if loc := literal.FindIndex(b); loc != nil {
			t.Errorf("%s: an anomaly reported under a literal name at byte %d; use a constant of anomaly_kinds.go", f, loc[0])
		}
	}
	if len(declared) != len(AnomalyKinds) {
		t.Errorf("%d anomaly constants, %d in AnomalyKinds", len(declared), len(AnomalyKinds))
	}
	for c, name := range declared {
		if !seen[name] {
			t.Errorf("%s (%q) is missing from AnomalyKinds", c, name)
		}
		if !reported[c] {
			t.Errorf("%s is never reported", c)
		}
	}
}
