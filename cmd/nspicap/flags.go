package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// How -h shows a command's flags: the everyday flags first, in this order
// (a flag registered by any file falls into its group by its name), then
// the resource limits (every --max-* flag), then the rest.
var everydayFlags = []string{"format", "limit", "emsmdb-limit", "fail-on", "proto", "keys", "keytab",
	"evidence", "redact", "redact-key", "progress"}

const limitPrefix = "max-"

// flagGroups splits the flags of fs into the groups -h shows, each in its
// order; empty groups are left out.
func flagGroups(fs *pflag.FlagSet) []struct {
	title string
	flags *pflag.FlagSet
} {
	every := pflag.NewFlagSet("everyday", pflag.ContinueOnError)
	limits := pflag.NewFlagSet("limits", pflag.ContinueOnError)
	other := pflag.NewFlagSet("other", pflag.ContinueOnError)
	for _, s := range []*pflag.FlagSet{every, limits, other} {
		s.SortFlags = false
	}
	for _, name := range everydayFlags {
		if f := fs.Lookup(name); f != nil {
			every.AddFlag(f)
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		switch {
		case every.Lookup(f.Name) != nil:
		case strings.HasPrefix(f.Name, limitPrefix):
			limits.AddFlag(f)
		default:
			other.AddFlag(f)
		}
	})
	var out []struct {
		title string
		flags *pflag.FlagSet
	}
	for _, g := range []struct {
		title string
		flags *pflag.FlagSet
	}{{"Flags", every}, {"Other flags", other},
		{"Resource limits (sizes take a unit: 64MiB, 1GiB; each limit hit is reported)", limits}} {
		if g.flags.HasFlags() {
			out = append(out, g)
		}
	}
	return out
}

// writeUsage prints a command's help: synopsis, flag groups, example.
func writeUsage(w io.Writer, fs *pflag.FlagSet, name, synopsis, example string) {
	fmt.Fprintf(w, "Usage: nspicap %s [flags] FILE...\n\n%s\n", name, synopsis)
	for _, g := range flagGroups(fs) {
		fmt.Fprintf(w, "\n%s:\n%s", g.title, g.flags.FlagUsages())
	}
	fmt.Fprintf(w, "\nExample:\n  %s\n", example)
}

// valueError says a bad flag value in plain words: `invalid value "abc"
// for --limit: not a number`, not strconv's text.
func valueError(err error) (string, bool) {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return "", false
	}
	why := ive.Unwrap()
	var ne *strconv.NumError
	switch {
	case errors.As(why, &ne) && errors.Is(ne.Err, strconv.ErrRange):
		why = errors.New("too large")
	case errors.As(why, &ne) && ive.GetFlag().Value.Type() == "bool":
		why = errors.New("want true or false")
	case errors.As(why, &ne):
		why = errors.New("not a number")
	}
	return fmt.Sprintf("invalid value %q for --%s: %v", ive.GetValue(), ive.GetFlag().Name, why), true
}

// sizeValue is a size flag: bytes, or a number with a binary unit (KiB,
// MiB, GiB, TiB) or a decimal one (kB, MB, GB, TB); a plain number counts
// in plain units (bytes, or MiB for --max-memory, as it always did).
type sizeValue struct {
	p    *int
	unit int64 // of a plain number
}

func addSizeFlag(fs *pflag.FlagSet, p *int, name string, def int, unit int64, usage string) {
	*p = def
	fs.Var(&sizeValue{p: p, unit: unit}, name, usage)
}

var sizeUnits = []struct {
	name string
	mult int64
}{
	{"tib", 1 << 40}, {"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"tb", 1e12}, {"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3}, {"b", 1},
}

func (s *sizeValue) Type() string { return "size" }

// String shows the size in the largest binary unit that divides it.
func (s *sizeValue) String() string {
	if s.p == nil {
		return "0"
	}
	return formatSize(int64(*s.p) * s.unit)
}

func formatSize(n int64) string {
	for _, u := range []struct {
		mult int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (s *sizeValue) Set(v string) error {
	t := strings.ToLower(strings.TrimSpace(v))
	mult := s.unit
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(t, u.name); ok && num != "" && (num[len(num)-1] >= '0' && num[len(num)-1] <= '9' || num[len(num)-1] == ' ') {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || strings.ContainsAny(t, "eEnNxX") || math.IsNaN(n) {
		return errors.New("not a size (write bytes, or a number and a unit: 64MiB, 1GiB)")
	}
	b := n * float64(mult)
	if b > float64(math.MaxInt64/2) {
		return errors.New("too large")
	}
	if b < 0 {
		return errors.New("want a positive size")
	}
	q := int64(b) / s.unit
	if q > int64(math.MaxInt32) && strconv.IntSize == 32 {
		return errors.New("too large")
	}
	*s.p = int(q)
	return nil
}
