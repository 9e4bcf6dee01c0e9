package safetext

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// unescape reads Escape's output back, as the package documentation says.
func unescape(s string) (string, bool) {
	var b []byte
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b = append(b, s[i])
			i++
			continue
		}
		rest := s[i+1:]
		switch {
		case len(rest) >= 3 && rest[0] == 'x' && isHex(rest[1]) && isHex(rest[2]):
			v, err := strconv.ParseUint(rest[1:3], 16, 8)
			if err != nil {
				return "", false
			}
			b = append(b, byte(v))
			i += 4
		case len(rest) >= 5 && rest[0] == 'u' && isHex(rest[1]) && isHex(rest[2]) && isHex(rest[3]) && isHex(rest[4]):
			v, err := strconv.ParseUint(rest[1:5], 16, 16)
			if err != nil {
				return "", false
			}
			b = utf8.AppendRune(b, rune(v))
			i += 6
		default:
			b = append(b, '\\')
			i++
		}
	}
	return string(b), true
}

// clean says what Escape promises of its output: valid UTF-8 without
// control characters, separators or bidirectional formatting.
func clean(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Escape(%q) = %q: not valid UTF-8", in, out)
	}
	for _, r := range out {
		if escRune(r) {
			t.Fatalf("Escape(%q) = %q: contains %U", in, out, r)
		}
	}
	back, ok := unescape(out)
	if !ok || back != in {
		t.Fatalf("Escape(%q) = %q reads back as %q", in, out, back)
	}
}

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{`CONTOSO\bob`, `CONTOSO\bob`},
		{`\PIPE\lsarpc`, `\PIPE\lsarpc`},
		{`CONTOSO\xavier`, `CONTOSO\xavier`},
		{`\\server\share`, `\\server\share`},
		{"Ünïcødé 山田 😀", "Ünïcødé 山田 😀"},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"a\r\nFAKE VERDICT", `a\x0d\x0aFAKE VERDICT`},
		{"nul\x00", `nul\x00`},
		{"tab\tdel\x7f", `tab\x09del\x7f`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"c1\u0085\u009b", `c1\u0085\u009b`},
		{"\xc2\x85", `\u0085`},
		{"evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"\u2028\u2029\u2066\u2069\u200e\u200f\u061c", `\u2028\u2029\u2066\u2069\u200e\u200f\u061c`},
		// A backslash that would read as an escape is escaped itself.
		{`\x1b`, `\x5cx1b`},
		{`\u202E`, `\x5cu202E`},
		{`\x1`, `\x1`},
		{`\u202`, `\u202`},
		{"\\\x1b", `\\x1b`},
		{`\\x41`, `\\x5cx41`},
	} {
		got := Escape(c.in)
		if got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
		if Needs(c.in) != (c.in != c.want) {
			t.Errorf("Needs(%q) = %v", c.in, Needs(c.in))
		}
		clean(t, c.in, got)
	}
}

func TestLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`CONTOSO\bob`, `CONTOSO\bob`},
		{`not a capture file (starts with "\x7fELF")`, `not a capture file (starts with "\x7fELF")`},
		{"a\nb\x1b\xff\u202e", `a\x0ab\x1b\xff\u202e`},
		{"\\\x1b", `\\x1b`},
	} {
		if got := Line(c.in); got != c.want {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEscapeNoAlloc(t *testing.T) {
	s := strings.Repeat(`CONTOSO\bob 山田 `, 10)
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s); _ = Line(s); _ = CSV(s) }); n != 0 {
		t.Errorf("Escape, Line or CSV of a plain string allocates %v times", n)
	}
}

// TestEscapeInjective escapes a sample of similar strings, every pair of
// which differs, and checks that no two escape alike.
func TestEscapeInjective(t *testing.T) {
	atoms := []string{"", "a", `\`, "x", "u", "1b", "202e", "\x1b", "\n", "\xff", "\xc3", "\u0085", "\u202e", `\x`, `\u`, "\\x1b", "5c"}
	seen := map[string]string{}
	for _, a := range atoms {
		for _, b := range atoms {
			for _, c := range atoms {
				in := a + b + c
				out := Escape(in)
				if prev, ok := seen[out]; ok && prev != in {
					t.Fatalf("Escape(%q) = Escape(%q) = %q", in, prev, out)
				}
				seen[out] = in
				clean(t, in, out)
			}
		}
	}
}

func TestCSV(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"bob", "bob"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"=2+5", "'=2+5"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"-", "-"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", `\x09=1`},
		{"\r=1", `\x0d=1`},
		{"a=1", "a=1"},
	} {
		if got := CSV(c.in); got != c.want {
			t.Errorf("CSV(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", `CONTOSO\bob`, "\x1b]0;title\x07", "a\r\nFAKE VERDICT", "\xff\xc3", "\u202e", `\x1b`, `\u202e`, "\\\x1b", "=2+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		clean(t, s, out)
		if Needs(s) != (out != s) {
			t.Fatalf("Needs(%q) = %v, Escape gives %q", s, Needs(s), out)
		}
		if string(Append(nil, s)) != out {
			t.Fatalf("Append and Escape differ on %q", s)
		}
		c := CSV(s)
		if c != out && c != "'"+out {
			t.Fatalf("CSV(%q) = %q", s, c)
		}
		// Line differs from Escape only in the backslashes it keeps.
		l := Line(s)
		if !utf8.ValidString(l) || !strings.Contains(s, `\`) && l != out {
			t.Fatalf("Line(%q) = %q, Escape %q", s, l, out)
		}
		for _, r := range l {
			if escRune(r) {
				t.Fatalf("Line(%q) = %q: contains %U", s, l, r)
			}
		}
	})
}
