// Package safetext makes text from the wire, and file names, safe to print:
// in a terminal, a report read by people, a CSV file opened in a
// spreadsheet. JSON output does not use it (encoding/json escapes already).
//
// # Escape
//
// Escape returns s unchanged when nothing in it needs escaping (the common
// case, which allocates nothing), else a copy in which
//
//   - a C0 control character (U+0000 to U+001F, newline and tab included)
//     or DEL (U+007F) is written \xHH: ESC is \x1b, a newline \x0a;
//   - a byte that is not part of valid UTF-8 is written \xHH too (\xff):
//     HH is 80 or more, so it cannot be mistaken for a character above;
//   - a C1 control character (U+0080 to U+009F, as a rune), the line and
//     paragraph separators (U+2028, U+2029), and the bidirectional
//     formatting characters (U+061C, U+200E, U+200F, U+202A to U+202E,
//     U+2066 to U+2069) are written \uHHHH: U+202E is \u202e;
//   - a backslash is written \x5c only where it would otherwise read as the
//     start of one of those escapes: before an x and two hex digits, or a u
//     and four hex digits. Every other backslash stays as it is, so that
//     CONTOSO\bob and \PIPE\lsarpc print as they are.
//
// Hex digits are lowercase. The result is valid UTF-8 without any of the
// characters above, and the mapping is injective: reading left to right,
// \xHH below 80 is that ASCII character, \xHH from 80 the raw byte, \uHHHH
// that rune, any other backslash itself, gives back s.
//
// # Line
//
// Line escapes the same characters the same way but leaves every backslash
// as it is. It is for the tool's messages (errors, warnings, notes): they
// may quote bytes Go's way already (strconv.Quote: "\x7fELF"), which Escape
// would escape a second time. Its result is as safe to print, and one line,
// but not reversible: a name holding the four characters \x1b prints as one
// holding ESC. Names in tables, reports and CSV go through Escape.
package safetext

import (
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// escRune says whether r, a valid rune, is written \uHHHH (above U+007F) or
// \xHH (below U+0080).
func escRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x80:
		return false
	case r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Needs says whether Escape would change s.
func Needs(s string) bool { return needs(s, true) }

// needs says whether s needs escaping; bs: escape backslashes (Escape) or
// not (Line).
func needs(s string, bs bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return true
		case c == '\\':
			if bs && looksEscaped(s, i) {
				return true
			}
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 || escRune(r) {
				return true
			}
			i += n - 1
		}
	}
	return false
}

// looksEscaped says whether the backslash at s[i] is followed by x and two
// hex digits, or u and four.
func looksEscaped(s string, i int) bool {
	rest := s[i+1:]
	switch {
	case len(rest) >= 3 && rest[0] == 'x':
		return isHex(rest[1]) && isHex(rest[2])
	case len(rest) >= 5 && rest[0] == 'u':
		return isHex(rest[1]) && isHex(rest[2]) && isHex(rest[3]) && isHex(rest[4])
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Escape returns s with control characters, invalid UTF-8 and the other
// characters listed in the package documentation written visibly; s itself
// when it has none.
func Escape(s string) string {
	if !needs(s, true) {
		return s
	}
	return string(appendEsc(make([]byte, 0, len(s)+16), s, true))
}

// Line returns s with the characters Escape escapes written the same way,
// backslashes left as they are (see the package documentation); s itself
// when it has none.
func Line(s string) string {
	if !needs(s, false) {
		return s
	}
	return string(appendEsc(make([]byte, 0, len(s)+16), s, false))
}

// Append appends Escape(s) to b.
func Append(b []byte, s string) []byte { return appendEsc(b, s, true) }

func appendEsc(b []byte, s string, bs bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			b = appendX(b, c)
			i++
			continue
		case c == '\\':
			if bs && looksEscaped(s, i) {
				b = appendX(b, c)
			} else {
				b = append(b, c)
			}
			i++
			continue
		case c < 0x80:
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendX(b, c)
		case escRune(r):
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

func appendX(b []byte, c byte) []byte {
	return append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
}

// csvRisky are the first characters that make a spreadsheet read a cell
// as a formula (OWASP, CSV injection).
func csvRisky(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// CSV returns a text cell for a CSV file: s escaped, and prefixed with a
// single quote when it begins with '=', '+', '-', '@', a tab or a carriage
// return, so that a spreadsheet shows it as text instead of running it as a
// formula. s itself when it needs neither. A lone "-" (the file name of
// standard input) is no formula and stays as it is. Numbers the tool writes
// itself (frames, counts, latencies) do not go through it.
func CSV(s string) string {
	s = Escape(s)
	if s != "" && s != "-" && csvRisky(s[0]) {
		return "'" + s
	}
	return s
}
