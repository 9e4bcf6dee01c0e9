package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMakeDist holds `make dist` (too slow to run in the suite: four
// cross builds) to what the README says of it: static, trimmed, stamped
// binaries for the four platforms, with SHA256SUMS, in a git-ignored
// dist/. The platforms must be ones Go builds for.
func TestMakeDist(t *testing.T) {
	root := filepath.Join(testdataDir, "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DIST_PLATFORMS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no DIST_PLATFORMS")
	}
	platforms := strings.Fields(string(m[1]))
	want := []string{"darwin/arm64", "linux/amd64", "linux/arm64", "windows/amd64"}
	got := slices.Sorted(slices.Values(platforms))
	if !slices.Equal(got, want) {
		t.Errorf("DIST_PLATFORMS %v, want %v", got, want)
	}
	_, recipe, ok := strings.Cut(string(mk), "\ndist:\n")
	if !ok {
		t.Fatal("Makefile: no dist target")
	}
	recipe, _, _ = strings.Cut(recipe, "\n\n")
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags '$(LDFLAGS)'", "GOOS=$$os GOARCH=$$arch", "$(DIST_PLATFORMS)", "SHA256SUMS", "sha256sum", "./cmd/nspicap", "$(VERSION)"} {
		if !strings.Contains(recipe, s) {
			t.Errorf("dist recipe lacks %q:\n%s", s, recipe)
		}
	}
	if !regexp.MustCompile(`(?m)^LDFLAGS\s*:=.*-X main\.version=\$\(VERSION\)`).Match(mk) {
		t.Error("LDFLAGS do not stamp main.version")
	}
	if gi, _ := os.ReadFile(filepath.Join(root, ".gitignore")); !slices.Contains(strings.Fields(string(gi)), "/dist/") {
		t.Error(".gitignore does not list /dist/")
	}
	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	if !strings.Contains(string(readme), "make dist") || !strings.Contains(string(readme), "sha256sum -c SHA256SUMS") {
		t.Error("README does not say how to build and check the binaries")
	}
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	if err != nil {
		t.Skipf("go tool dist list: %v", err)
	}
	known := strings.Fields(string(out))
	for _, p := range platforms {
		if !slices.Contains(known, p) {
			t.Errorf("Go does not build for %s", p)
		}
	}
}
