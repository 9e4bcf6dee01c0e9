package keys

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/nspicap/nspicap/ntlmssp"

	"github.com/nspicap/nspicap/internal/safetext"
)

// testdataDir holds the sample key files of the sealed captures.
const testdataDir = "../../testdata"

// oneLine fails the test unless msg is a single line naming the file.
func oneLine(t *testing.T, msg, name string) {
	t.Helper()
	if strings.ContainsAny(msg, "\n\r") || !strings.Contains(msg, name) {
		t.Errorf("message %q is not one line naming %s", msg, name)
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeysFileLimits: a keys file beyond its size, a line beyond its length,
// a binary file and a file of too many keys are each a one-line error that
// names the file (and the line), quotes nothing of it and adds no key; files
// at the limits load.
func TestKeysFileLimits(t *testing.T) {
	const secret = "S3cret-pw"
	pad := func(n int, first, line string) []byte { // n bytes: first, lines and a tail
		b := append([]byte(first), bytes.Repeat([]byte(line), (n-len(first))/len(line))...)
		return append(b, bytes.Repeat([]byte("#"), n-len(b))...)
	}
	comments := "#" + strings.Repeat(" ", 200) + "\n"
	long := strings.Repeat("x", 128<<10)
	for _, tc := range []struct {
		name    string
		content []byte
		want    string // the error after "keys file PATH"; "" loads
		keys    int
	}{
		{"at-size", pad(MaxKeysFileSize, "CONTOSO\\bob:"+secret+"\n", comments), "", 1},
		{"beyond-size", pad(MaxKeysFileSize+1, "CONTOSO\\bob:"+secret+"\n", comments), ": larger than 16 MiB, the most a keys file may hold", 0},
		{"zeros", make([]byte, MaxKeysFileSize+1), " line 1: longer than 64 KiB, the longest line a keys file may have", 0},
		{"long-line", []byte("# keys\nCONTOSO\\bob:" + secret + "\nCONTOSO\\eve:" + long + "\nCONTOSO\\carol:pw\n"), " line 3: longer than 64 KiB, the longest line a keys file may have", 0},
		{"long-comment", []byte("#" + long + "\n"), " line 1: longer than 64 KiB, the longest line a keys file may have", 0},
		{"line-at-limit", []byte("CONTOSO\\bob:" + strings.Repeat("p", MaxKeysLine-len("CONTOSO\\bob:")) + "\r\nCONTOSO\\carol:pw"), "", 2},
		{"nul", []byte("CONTOSO\\bob:" + secret + "\nCONTOSO\\carol:p\x00w\n"), " line 2: a NUL byte; a keys file is text: UTF-8, or UTF-16 with a byte-order mark", 0},
		{"utf16-without-bom", utf16le("CONTOSO\\bob:" + secret + "\r\n"), " line 1: a NUL byte; a keys file is text: UTF-8, or UTF-16 with a byte-order mark", 0},
		{"odd-utf16", append([]byte{0xFF, 0xFE}, append(utf16le("CONTOSO\\bob:"+secret+"\r\n"), 'x')...), ": UTF-16 text that ends in the middle of a character (an odd number of bytes)", 0},
		{"max-keys", pad(MaxKeysEntries*len("D\\u:p\n"), "", "D\\u:p\n"), "", MaxKeysEntries},
		{"too-many-keys", pad((MaxKeysEntries+1)*len("D\\u:p\n"), "", "D\\u:p\n"), " line 100001: more than 100000 keys, the most a keys file may hold", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.name, tc.content)
			s := &Store{}
			s.ntlm = append(s.ntlm, ntlmEntry{domain: "X", user: "kept"})
			ws, err := s.LoadKeysFile(p)
			for _, w := range ws {
				oneLine(t, w, p)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.ntlm) != tc.keys+1 {
					t.Errorf("%d keys, want %d", len(s.ntlm)-1, tc.keys)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded (%s), want an error", s)
			}
			if err.Error() != "keys file "+p+tc.want {
				t.Errorf("error %q\nwant %q", err, "keys file "+p+tc.want)
			}
			oneLine(t, err.Error(), p)
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "xxxxxxxx") {
				t.Errorf("error quotes the file: %q", err)
			}
			if len(s.ntlm) != 1 || s.ntlm[0].user != "kept" {
				t.Errorf("a file in error changed the store: %s", s)
			}
		})
	}
}

// endless is a reader that never ends (a device or a pipe): it repeats
// pattern, or returns pseudo-random bytes, and counts what was read. Beyond
// limit it fails, so that a reader without bound ends too.
type endless struct {
	pattern []byte
	random  bool
	x       uint64
	read    int64
	limit   int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.limit {
		return 0, fmt.Errorf("read %d bytes of an endless input", e.read)
	}
	for i := range p {
		if e.random {
			e.x ^= e.x << 13
			e.x ^= e.x >> 7
			e.x ^= e.x << 17
			p[i] = byte(e.x >> 32)
		} else {
			p[i] = e.pattern[(e.read+int64(i))%int64(len(e.pattern))]
		}
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestReadKeysEndless: an input that never ends stops at the first limit it
// reaches, having read no more than that limit and a buffer.
func TestReadKeysEndless(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *endless
		want string
	}{
		{"zeros", &endless{pattern: []byte{0}}, "keys file in line 1: longer than 64 KiB, the longest line a keys file may have"},
		{"comments", &endless{pattern: []byte("# a comment\n")}, "keys file in: larger than 16 MiB, the most a keys file may hold"},
		{"utf16-comments", &endless{pattern: utf16le("\ufeff# a comment\r\n")}, "keys file in: larger than 16 MiB, the most a keys file may hold"},
		{"keys", &endless{pattern: []byte("CONTOSO\\bob:Pass-word\n")}, "keys file in line 100001: more than 100000 keys, the most a keys file may hold"},
		{"random", &endless{random: true, x: 88172645463325252}, "keys file in line "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.limit = 4 * MaxKeysFileSize
			s := &Store{}
			ws, err := s.ReadKeys(tc.in, "in")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			oneLine(t, err.Error(), "in")
			if len(ws) > maxLineWarnings+1 {
				t.Errorf("%d warnings", len(ws))
			}
			if tc.in.read > MaxKeysFileSize+64<<10 {
				t.Errorf("read %d bytes", tc.in.read)
			}
			if !s.Empty() {
				t.Errorf("an input in error added keys: %s", s)
			}
		})
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func utf16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

// encodings are the forms Windows editors save a keys file in: UTF-8 with
// a byte-order mark (Notepad), UTF-16 LE with one (PowerShell 5's > and
// Out-File), UTF-16 BE with one; each with CRLF line ends.
func encodings(plain string) map[string][]byte {
	crlf := strings.ReplaceAll(plain, "\n", "\r\n")
	return map[string][]byte{
		"utf8-bom":    append([]byte{0xEF, 0xBB, 0xBF}, crlf...),
		"utf16le-bom": append([]byte{0xFF, 0xFE}, utf16le(crlf)...),
		"utf16be-bom": append([]byte{0xFE, 0xFF}, utf16be(crlf)...),
	}
}

// TestKeysFileEncodings: a keys file with a byte-order mark, in UTF-8 or
// UTF-16, gives the keys of the same file in plain UTF-8, passwords beyond
// ASCII and the BMP included.
func TestKeysFileEncodings(t *testing.T) {
	all, err := os.ReadFile(filepath.Join(testdataDir, "sealed-ntlm-all.keys"))
	if err != nil {
		t.Fatal(err)
	}
	plain := string(all) + "\ufeff# joined by copy a+b\n" + "CONTOSO\\zoë:Pässwörd-日本-\U0001F600\nCONTOSO\\nt:nt:8846f7eaee8fb117ad06bdd830b7586c\nbad line\n"
	want := &Store{}
	wantWarns, err := want.ReadKeys(strings.NewReader(plain), "k")
	if err != nil || len(wantWarns) != 1 || want.String() != "4 NTLM keys, 0 Kerberos keys" {
		t.Fatalf("plain: %v %q %s", err, wantWarns, want)
	}
	if h := want.NTHashes("CONTOSO", "zoë"); len(h) != 1 || h[0] != ntlmssp.NTOWFv1("Pässwörd-日本-\U0001F600") {
		t.Fatal("zoë's key")
	}
	for name, b := range encodings(plain) {
		s := &Store{}
		warns, err := s.ReadKeys(bytes.NewReader(b), "k")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Join(warns, "\n") != strings.Join(wantWarns, "\n") {
			t.Errorf("%s: warnings %q, want %q", name, warns, wantWarns)
		}
		if fmt.Sprint(s.ntlm) != fmt.Sprint(want.ntlm) {
			t.Errorf("%s: other keys than the plain file's", name)
		}
	}
	// A file of a byte-order mark only, and UTF-16 with an unpaired
	// surrogate (the password cannot match; the line still loads).
	for _, b := range [][]byte{{0xEF, 0xBB, 0xBF}, {0xFF, 0xFE}, {0xFE, 0xFF}} {
		if _, err := (&Store{}).ReadKeys(bytes.NewReader(b), "k"); err != nil {
			t.Errorf("% x: %v", b, err)
		}
	}
	lone := append([]byte{0xFF, 0xFE}, utf16le("CONTOSO\\bob:a")...)
	lone = append(lone, 0x00, 0xD8, 'b', 0, '\n', 0)
	if s := (&Store{}); s.readOK(t, lone) != "1 NTLM keys, 0 Kerberos keys" {
		t.Errorf("unpaired surrogate: %s", s)
	}
}

func (s *Store) readOK(t *testing.T, b []byte) string {
	t.Helper()
	if _, err := s.ReadKeys(bytes.NewReader(b), "k"); err != nil {
		t.Fatal(err)
	}
	return s.String()
}

// TestKeysFileWarningsBounded: a file of many bad lines gives 20 warnings
// and a count of the rest.
func TestKeysFileWarningsBounded(t *testing.T) {
	s := &Store{}
	ws, err := s.ReadKeys(strings.NewReader(strings.Repeat("bad\n", 1000)+"CONTOSO\\bob:pw\n"), "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != maxLineWarnings+1 || ws[len(ws)-1] != "keys file k: 980 more bad lines skipped" || !s.HasNTLM("CONTOSO", "bob") {
		t.Errorf("%d warnings, last %q; %s", len(ws), ws[len(ws)-1], s)
	}
	// Invalid UTF-8 (a file saved in a Windows code page) is named.
	ws, _ = s.ReadKeys(strings.NewReader("CONTOSO\\bob:P\xe4sswort\n"), "k")
	if len(ws) != 1 || ws[0] != "keys file k line 1: not UTF-8 text (save the file as UTF-8); line skipped" {
		t.Errorf("%q", ws)
	}
}

// keytabEntry encodes one version-2 keytab entry with its length.
func keytabEntry(realm string, comps []string, etype int16, key []byte) []byte {
	var e []byte
	e = binary.BigEndian.AppendUint16(e, uint16(len(comps)))
	e = binary.BigEndian.AppendUint16(e, uint16(len(realm)))
	e = append(e, realm...)
	for _, c := range comps {
		e = binary.BigEndian.AppendUint16(e, uint16(len(c)))
		e = append(e, c...)
	}
	e = binary.BigEndian.AppendUint32(e, 1) // name type
	e = binary.BigEndian.AppendUint32(e, 0) // timestamp
	e = append(e, 5)                        // kvno
	e = binary.BigEndian.AppendUint16(e, uint16(etype))
	e = binary.BigEndian.AppendUint16(e, uint16(len(key)))
	e = append(e, key...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(e))), e...)
}

// TestKeytabLimits: a keytab beyond its size, its entries or its name
// components is refused with a one-line error, before gokrb5 parses it;
// keytabs at the limits load, and what they keep is bounded.
func TestKeytabLimits(t *testing.T) {
	key := bytes.Repeat([]byte{0xA5}, 16)
	many := func(n int, comps int) []byte {
		b := []byte{5, 2}
		e := keytabEntry("R", make([]string, comps), 23, key)
		for range n {
			b = append(b, e...)
		}
		return b
	}
	atSize := append([]byte{5, 2}, keytabEntry("CONTOSO.EXAMPLE", []string{"bob"}, 23, key)...)
	atSize = append(atSize, make([]byte, MaxKeytabSize-len(atSize))...)
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
		keys    int
	}{
		{"at-size", atSize, "", 1},
		{"beyond-size", append(atSize, 0), ": larger than 16 MiB, the most a keytab may hold", 0},
		{"zeros", make([]byte, MaxKeytabSize+1), ": not an MIT keytab (version 0x502)", 0},
		{"max-entries", many(MaxKeytabEntries, 2), "", MaxKeytabEntries},
		{"too-many-entries", many(MaxKeytabEntries+1, 1), ": more than 65536 entries, the most a keytab may hold", 0},
		{"max-components", many(1, maxPrincipalComponents), "", 1},
		{"too-many-components", append(many(1, 1), keytabEntry("R", make([]string, 1000), 23, key)...), ": entry 2: a principal of 1000 name components (at most 16 are read)", 0},
		{"holes", append(append([]byte{5, 2}, bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xff, 0}, 1000)...), keytabEntry("R", []string{"a"}, 23, key)...), "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.name, tc.content)
			s := &Store{}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := s.LoadKeytab(p)
			runtime.GC()
			runtime.ReadMemStats(&after)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.nKrb != tc.keys {
					t.Errorf("%d entries, want %d", s.nKrb, tc.keys)
				}
				// What a keytab at the limits keeps is bounded by its
				// size and entries (gokrb5 keeps some 150 bytes an entry
				// and 16 a component).
				if kept := int64(after.HeapAlloc) - int64(before.HeapAlloc); kept > 2*int64(len(tc.content))+int64(tc.keys)*400+1<<20 {
					t.Errorf("keeps %d bytes for a keytab of %d", kept, len(tc.content))
				}
				runtime.KeepAlive(s)
				return
			}
			if err == nil || err.Error() != "keytab "+p+tc.want {
				t.Fatalf("error %v\nwant %q", err, "keytab "+p+tc.want)
			}
			oneLine(t, err.Error(), p)
			if !s.Empty() {
				t.Errorf("a keytab in error added keys")
			}
		})
	}
	// AddKeytabBytes holds the same limits.
	if err := (&Store{}).AddKeytabBytes(append(atSize, 0), "m"); err == nil || err.Error() != "keytab m: larger than 16 MiB, the most a keytab may hold" {
		t.Errorf("in memory: %v", err)
	}
}

// TestKeytabEndless: a keytab that never ends stops at its limit.
func TestKeytabEndless(t *testing.T) {
	in := &endless{pattern: append([]byte{5, 2}, bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xf0}, 1<<10)...), limit: 4 * MaxKeytabSize}
	b, err := readAll(in, MaxKeytabSize)
	if err != errTooBig || len(b) != MaxKeytabSize || in.read > MaxKeytabSize+64<<10 {
		t.Errorf("%v after %d bytes, kept %d", err, in.read, len(b))
	}
	if _, err := readAll(io.LimitReader(in, 10), MaxKeytabSize); err != nil {
		t.Error(err)
	}
}

// TestKeyFileNameQuoted: a file name with a control character is quoted in
// the messages, which stay one line.
func TestKeyFileNameQuoted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a\nFAKE VERDICT\x1b]0;x\a")
	_, err := (&Store{}).LoadKeysFile(p)
	if err == nil || !strings.HasPrefix(err.Error(), "keys file "+safetext.Escape(p)+": ") {
		t.Errorf("%v", err)
	} else {
		oneLine(t, err.Error(), safetext.Escape(p))
	}
	err = (&Store{}).LoadKeytab(p)
	if err == nil || !strings.HasPrefix(err.Error(), "keytab "+safetext.Escape(p)+": ") {
		t.Errorf("%v", err)
	} else {
		oneLine(t, err.Error(), safetext.Escape(p))
	}
	if err := os.WriteFile(p, []byte("x\x00"), 0o644); err != nil {
		t.Skip(err) // a file system that refuses the name
	}
	ws, err := (&Store{}).LoadKeysFile(p)
	for _, m := range append(ws, fmt.Sprint(err)) {
		oneLine(t, m, safetext.Escape(p))
	}
}
