package keys

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// allocated runs f and returns the bytes it allocated (the whole process's,
// so a bound on it is a bound on f).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// seedFiles adds the key files of testdata with the given extension.
func seedFiles(f *testing.F, ext string) [][]byte {
	names, _ := filepath.Glob(filepath.Join(testdataDir, "*"+ext))
	if len(names) == 0 {
		f.Fatalf("no %s files in %s", ext, testdataDir)
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// keysMessage is every message a keys file may give: the file, perhaps a
// line number, and one of the fixed texts, never anything of the file.
var keysMessage = regexp.MustCompile(`^keys file fuzz\.keys(?: line [0-9]+)?: (?:` + strings.Join([]string{
	regexp.QuoteMeta("no colon after the identity; " + syntaxHelp + "; line skipped"),
	regexp.QuoteMeta(`the identity is not DOMAIN\user; ` + syntaxHelp + "; line skipped"),
	regexp.QuoteMeta("an nt: key must have 32 hex digits; line skipped"),
	regexp.QuoteMeta("empty password; " + syntaxHelp + "; line skipped"),
	regexp.QuoteMeta("not UTF-8 text (save the file as UTF-8); line skipped"),
	`[0-9]+ more bad lines skipped`,
	regexp.QuoteMeta("longer than 64 KiB, the longest line a keys file may have"),
	regexp.QuoteMeta("a NUL byte; a keys file is text: UTF-8, or UTF-16 with a byte-order mark"),
	regexp.QuoteMeta("larger than 16 MiB, the most a keys file may hold"),
	regexp.QuoteMeta(fmt.Sprintf("more than %d keys, the most a keys file may hold", MaxKeysEntries)),
	regexp.QuoteMeta(errOddUTF16.Error()),
}, "|") + `)$`)

// FuzzKeysFile reads arbitrary keys files: no panic; every message is one
// of the fixed ones (so none quotes the file); a few warnings at most; the
// bytes allocated are bounded by the input's size; and a UTF-8 file gives
// the same keys and messages in UTF-16 with a byte-order mark.
func FuzzKeysFile(f *testing.F) {
	for _, b := range seedFiles(f, ".keys") {
		f.Add(b)
		for _, e := range encodings(string(b)) {
			f.Add(e)
		}
	}
	f.Add([]byte("CONTOSO\\bob:nt:8846F7EAEE8FB117AD06BDD830B7586C\r\n\xef\xbb\xbfCONTOSO\\x:y\n\x00"))
	f.Add([]byte{0xFF, 0xFE, 0x00, 0xD8, 0x00, 0xDC, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &Store{}
		var ws []string
		var err error
		if n := allocated(func() { ws, err = s.ReadKeys(bytes.NewReader(b), "fuzz.keys") }); n > 64*uint64(len(b))+256<<10 {
			t.Errorf("%d bytes allocated for a keys file of %d", n, len(b))
		}
		msgs := ws
		if err != nil {
			msgs = append(msgs, err.Error())
			if !s.Empty() {
				t.Error("a file in error added keys")
			}
		}
		for _, m := range msgs {
			if !keysMessage.MatchString(m) {
				t.Errorf("message %q", m)
			}
		}
		if len(ws) > maxLineWarnings+1 {
			t.Errorf("%d warnings", len(ws))
		}
		// The same text in UTF-16 LE with a byte-order mark.
		if err != nil || !utf8.Valid(b) || bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) {
			return
		}
		u := &Store{}
		uws, uerr := u.ReadKeys(bytes.NewReader(append([]byte{0xFF, 0xFE}, utf16le(string(b))...)), "fuzz.keys")
		if uerr != nil || strings.Join(uws, "\n") != strings.Join(ws, "\n") || fmt.Sprint(u.ntlm) != fmt.Sprint(s.ntlm) {
			t.Errorf("in UTF-16: %v %q, want %q and the same keys", uerr, uws, ws)
		}
	})
}

// keytabMessage is every message a keytab may give.
var keytabMessage = regexp.MustCompile(`^keytab fuzz\.keytab: (?:` + strings.Join([]string{
	regexp.QuoteMeta("not an MIT keytab (version 0x502)"),
	regexp.QuoteMeta("malformed keytab"),
	regexp.QuoteMeta("larger than 16 MiB, the most a keytab may hold"),
	regexp.QuoteMeta(fmt.Sprintf("more than %d entries, the most a keytab may hold", MaxKeytabEntries)),
	fmt.Sprintf(`entry [0-9]+: a principal of [0-9]+ name components \(at most %d are read\)`, maxPrincipalComponents),
}, "|") + `)$`)

// FuzzKeytab parses arbitrary keytabs: no panic; every error is one of the
// fixed messages (gokrb5's, which quote the file, never pass); the bytes
// allocated (gokrb5's garbage included) are bounded by the input's size;
// what is accepted holds no more entries than the limit.
func FuzzKeytab(f *testing.F) {
	for _, b := range seedFiles(f, ".keytab") {
		f.Add(b)
	}
	kt := keytab.New()
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	kt.AddEntry("exchangeAB/dc01.contoso.example", "CONTOSO.EXAMPLE", "svc-secret", ts, 5, 18)
	kt.AddEntry("bob", "CONTOSO.EXAMPLE", "Bob-Pass", ts, 2, 23)
	if b, err := kt.Marshal(); err == nil {
		f.Add(b)
		f.Add(append(append([]byte{5, 2, 0xff, 0xff, 0xff, 0xf8}, make([]byte, 8)...), b[2:]...)) // a hole first
	}
	f.Add([]byte{5, 2, 0, 0, 0, 4, 0x7f, 0xff, 0, 0})
	f.Add([]byte{5, 2, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &Store{}
		var err error
		if n := allocated(func() { err = s.AddKeytabBytes(b, "fuzz.keytab") }); n > 128*uint64(len(b))+1<<20 {
			t.Errorf("%d bytes allocated for a keytab of %d", n, len(b))
		}
		if err != nil {
			if !keytabMessage.MatchString(err.Error()) {
				t.Errorf("message %q", err)
			}
			if !s.Empty() || len(s.Keytabs()) != 0 {
				t.Error("a keytab in error added keys")
			}
			return
		}
		if s.nKrb > MaxKeytabEntries || len(s.Keytabs()) != 1 || s.nKrb != len(s.Keytabs()[0].Entries) {
			t.Errorf("store %s", s)
		}
		for _, e := range s.Keytabs()[0].Entries {
			if len(e.Principal.Components) > maxPrincipalComponents {
				t.Errorf("a principal of %d components", len(e.Principal.Components))
			}
		}
	})
}
