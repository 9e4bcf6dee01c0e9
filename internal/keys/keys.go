package keys

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/nspicap/nspicap/ntlmssp"
)

// etypeRC4HMAC is the Kerberos RC4-HMAC encryption type (RFC 4757), whose key
// is the NT hash.
const etypeRC4HMAC = 23

// Store holds NTLM keys by identity and Kerberos keytabs.
type Store struct {
	ntlm    []ntlmEntry
	keytabs []*keytab.Keytab
	nKrb    int
}

type ntlmEntry struct {
	domain, user string
	nt           ntlmssp.NTHash
}

// String describes the store without its keys.
func (s *Store) String() string {
	if s == nil {
		return "no keys"
	}
	return fmt.Sprintf("%d NTLM keys, %d Kerberos keys", len(s.ntlm), s.nKrb)
}

// GoString hides the keys from %#v.
func (s *Store) GoString() string { return s.String() }

// Empty reports whether the store holds no key at all.
func (s *Store) Empty() bool { return s == nil || len(s.ntlm) == 0 && s.nKrb == 0 }

// syntaxHelp is the documented form of a keys-file line.
const syntaxHelp = `want DOMAIN\user:password or DOMAIN\user:nt:<32 hex digits>`

// Limits of the key files. A keys file or keytab is read up to its limit and
// no further, so a device or a pipe that never ends (/dev/zero) stops at
// once. The limits are far above any real file (a keys file holds a few
// identities, a keytab a few entries per service account) and keep the
// heap that a file at its limits costs under 64 MiB.
const (
	// MaxKeysFileSize is the most a keys file may hold, in bytes as stored
	// (UTF-16 counts its two bytes per character).
	MaxKeysFileSize = 16 << 20
	// MaxKeysLine is the longest line of a keys file, in bytes of UTF-8.
	MaxKeysLine = 64 << 10
	// MaxKeysEntries is the most keys a keys file may hold (each costs an
	// MD4 of its password and some 64 bytes of memory).
	MaxKeysEntries = 100000
	// MaxKeytabSize is the most a keytab may hold, in bytes.
	MaxKeytabSize = 16 << 20
	// MaxKeytabEntries is the most entries a keytab may hold.
	MaxKeytabEntries = 65536
	// maxPrincipalComponents bounds the name components of a keytab
	// principal (service/host has two).
	maxPrincipalComponents = 16
	// maxLineWarnings bounds the warnings about bad lines of one keys file;
	// the rest are counted in one more warning.
	maxLineWarnings = 20
)

// LoadKeysFile adds the entries of a keys file. Bad lines are skipped, each
// with a warning naming the file and the line (never its content); an
// unreadable file, or one beyond the limits (MaxKeysFileSize, MaxKeysLine,
// MaxKeysEntries), is an error. A file that others may read gives a warning.
func (s *Store) LoadKeysFile(path string) (warnings []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %v", printableName(path), readError(err))
	}
	defer f.Close()
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	if kind := captureKind(head[:n]); kind != "" {
		return nil, fmt.Errorf("keys file %s looks like a packet capture (%s), not a keys file: give captures as FILE arguments, and --keys a text file of keys", printableName(path), kind)
	}
	if w := permWarning(f, path); w != "" {
		warnings = append(warnings, w)
	}
	// The head read above, then the rest (a FIFO cannot seek back).
	ws, err := s.ReadKeys(io.MultiReader(bytes.NewReader(head[:n]), f), path)
	return append(warnings, ws...), err
}

// captureKind names the capture format whose magic number head starts with
// (pcap, pcapng, netmon, gzip-compressed: what nspicap reads as FILE), or "".
func captureKind(head []byte) string {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return "gzip-compressed"
	}
	if len(head) < 4 {
		return ""
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1:
		return "pcap"
	case 0x0a0d0d0a:
		return "pcapng"
	}
	if s := string(head[:4]); s == "GMBU" || s == "RTSS" {
		return "netmon"
	}
	return ""
}

// ReadKeys adds the entries read from r; name labels the messages. The text
// is UTF-8, with or without a byte-order mark, or UTF-16 with one (as
// Notepad and PowerShell 5 save it). At most MaxKeysFileSize bytes are
// read; a longer input, a line longer than MaxKeysLine or a NUL byte (a
// binary file, or UTF-16 without its mark) is an error and adds nothing.
func (s *Store) ReadKeys(r io.Reader, name string) (warnings []string, err error) {
	name = printableName(name)
	cr := &capReader{r: r, left: MaxKeysFileSize}
	br := bufio.NewReader(cr)
	var text io.Reader = br
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		br.Discard(2)
		text = &utf16Reader{r: br, order: binary.LittleEndian}
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		br.Discard(2)
		text = &utf16Reader{r: br, order: binary.BigEndian}
	}
	sc := bufio.NewScanner(text)
	// A line, its CR and its LF fill the buffer at most.
	sc.Buffer(make([]byte, 0, 4096), MaxKeysLine+2)
	// What a file that fails adds is taken back.
	start := len(s.ntlm)
	defer func() {
		if err != nil {
			clear(s.ntlm[start:])
			s.ntlm = s.ntlm[:start]
		}
	}()
	n, bad := 0, 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		line = bytes.TrimRight(line, "\r")
		// Files joined by copy or type keep their byte-order marks.
		line = bytes.TrimPrefix(line, []byte("\ufeff"))
		if len(line) > MaxKeysLine {
			return warnings, fmt.Errorf("keys file %s line %d: longer than %s, the longest line a keys file may have", name, n, size(MaxKeysLine))
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return warnings, fmt.Errorf("keys file %s line %d: a NUL byte; a keys file is text: UTF-8, or UTF-16 with a byte-order mark", name, n)
		}
		w := ""
		if !utf8.Valid(line) {
			w = "not UTF-8 text (save the file as UTF-8)"
		} else {
			w = s.addLine(string(line))
		}
		if len(s.ntlm)-start > MaxKeysEntries {
			return warnings, fmt.Errorf("keys file %s line %d: more than %d keys, the most a keys file may hold", name, n, MaxKeysEntries)
		}
		if w == "" {
			continue
		}
		if bad++; bad <= maxLineWarnings {
			warnings = append(warnings, fmt.Sprintf("keys file %s line %d: %s; line skipped", name, n, w))
		}
	}
	switch err := sc.Err(); {
	case err == nil:
	case errors.Is(err, errTooBig):
		return warnings, fmt.Errorf("keys file %s: larger than %s, the most a keys file may hold", name, size(MaxKeysFileSize))
	case errors.Is(err, bufio.ErrTooLong):
		return warnings, fmt.Errorf("keys file %s line %d: longer than %s, the longest line a keys file may have", name, n+1, size(MaxKeysLine))
	case errors.Is(err, errOddUTF16):
		return warnings, fmt.Errorf("keys file %s: %v", name, err)
	default:
		return warnings, fmt.Errorf("keys file %s: read error after line %d: %v", name, n, readError(err))
	}
	if bad > maxLineWarnings {
		warnings = append(warnings, fmt.Sprintf("keys file %s: %d more bad lines skipped", name, bad-maxLineWarnings))
	}
	return warnings, nil
}

// addLine parses one line; it returns a problem (without quoting the line).
func (s *Store) addLine(line string) string {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return ""
	}
	// The identity ends at the first colon; a password may contain colons.
	line = strings.TrimLeft(line, " \t")
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return "no colon after the identity; " + syntaxHelp
	}
	id, secret := line[:i], line[i+1:]
	j := strings.IndexByte(id, '\\')
	if j <= 0 || j == len(id)-1 || strings.ContainsAny(id, " \t") {
		return `the identity is not DOMAIN\user; ` + syntaxHelp
	}
	// Copies: the names must not keep the line, password and all.
	e := ntlmEntry{domain: strings.Clone(id[:j]), user: strings.Clone(id[j+1:])}
	if strings.HasPrefix(secret, "nt:") {
		h := strings.TrimSpace(secret[3:])
		if len(h) != 32 {
			return "an nt: key must have 32 hex digits"
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return "an nt: key must have 32 hex digits"
		}
		copy(e.nt[:], b)
	} else {
		if secret == "" {
			return "empty password; " + syntaxHelp
		}
		e.nt = ntlmssp.NTOWFv1(secret)
	}
	s.ntlm = append(s.ntlm, e)
	return ""
}

// LoadKeytab adds an MIT keytab (format 0x502 as ktpass and ktutil write).
// At most MaxKeytabSize bytes are read: a longer file is an error.
func (s *Store) LoadKeytab(path string) error {
	name := printableName(path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("keytab %s: %v", name, readError(err))
	}
	defer f.Close()
	// The version first: a file that is no keytab (/dev/zero) ends here.
	var head [2]byte
	if _, err := io.ReadFull(f, head[:]); err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("keytab %s: read error: %v", name, readError(err))
	}
	if head != [2]byte{5, 2} {
		var more [2]byte
		n, _ := io.ReadFull(f, more[:])
		if kind := captureKind(append(head[:], more[:n]...)); kind != "" {
			return fmt.Errorf("keytab %s looks like a packet capture (%s), not a keytab: give captures as FILE arguments", name, kind)
		}
		return fmt.Errorf("keytab %s: not an MIT keytab (version 0x502)", name)
	}
	rest, err := readAll(f, MaxKeytabSize-2)
	switch {
	case errors.Is(err, errTooBig):
		return fmt.Errorf("keytab %s: larger than %s, the most a keytab may hold", name, size(MaxKeytabSize))
	case err != nil:
		return fmt.Errorf("keytab %s: read error: %v", name, readError(err))
	}
	return s.AddKeytabBytes(append(head[:], rest...), path)
}

// AddKeytabBytes adds a keytab held in memory; name labels the messages.
// The keytab is checked against the limits (MaxKeytabSize,
// MaxKeytabEntries, 16 name components a principal) before gokrb5 parses
// it, so that what the parse allocates is bounded by the input's size.
func (s *Store) AddKeytabBytes(b []byte, name string) error {
	name = printableName(name)
	if len(b) < 2 || b[0] != 5 || b[1] != 2 {
		return fmt.Errorf("keytab %s: not an MIT keytab (version 0x502)", name)
	}
	if len(b) > MaxKeytabSize {
		return fmt.Errorf("keytab %s: larger than %s, the most a keytab may hold", name, size(MaxKeytabSize))
	}
	if problem := checkKeytab(b); problem != "" {
		return fmt.Errorf("keytab %s: %s", name, problem)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		// The library's message quotes the whole file, keys included:
		// never repeat it.
		return fmt.Errorf("keytab %s: malformed keytab", name)
	}
	s.keytabs = append(s.keytabs, kt)
	for _, e := range kt.Entries {
		s.nKrb++
		if e.Key.KeyType == etypeRC4HMAC && len(e.Key.KeyValue) == 16 && len(e.Principal.Components) == 1 {
			ne := ntlmEntry{domain: e.Principal.Realm, user: e.Principal.Components[0]}
			copy(ne.nt[:], e.Key.KeyValue)
			s.ntlm = append(s.ntlm, ne)
		}
	}
	return nil
}

// Keytabs returns the keytabs loaded, for Kerberos decryption. Never format
// them: their String method prints the keys.
func (s *Store) Keytabs() []*keytab.Keytab {
	if s == nil {
		return nil
	}
	return s.keytabs
}

// NTHashes returns the NT hashes that may belong to DOMAIN\user, best match
// first: the same domain (case-insensitive), then a domain equal to the first
// label of the other (CONTOSO and contoso.example). Several candidates are
// normal (a password and a keytab entry); the NT response tells which is
// right.
func (s *Store) NTHashes(domain, user string) []ntlmssp.NTHash {
	if s == nil || user == "" {
		return nil
	}
	var exact, near []ntlmssp.NTHash
	for _, e := range s.ntlm {
		if !strings.EqualFold(e.user, user) {
			continue
		}
		switch {
		case strings.EqualFold(e.domain, domain):
			exact = append(exact, e.nt)
		case sameDomain(e.domain, domain):
			near = append(near, e.nt)
		}
	}
	return append(exact, near...)
}

// HasNTLM reports whether some key names DOMAIN\user.
func (s *Store) HasNTLM(domain, user string) bool { return len(s.NTHashes(domain, user)) > 0 }

func sameDomain(a, b string) bool {
	la, _, _ := strings.Cut(a, ".")
	lb, _, _ := strings.Cut(b, ".")
	return la != "" && strings.EqualFold(la, lb)
}

// permWarning warns when a keys file is readable by other users (Unix).
func permWarning(f *os.File, path string) string {
	if runtime.GOOS == "windows" {
		return ""
	}
	st, err := f.Stat()
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("keys file %s can be read by other users (mode %04o); chmod 600 it", printableName(path), st.Mode().Perm())
}

// Contains reports whether out contains any key of the store in a printable
// form (hex of an NT hash or a Kerberos key). Tests use it to prove that
// nothing leaks.
func (s *Store) Contains(out []byte) bool {
	if s == nil {
		return false
	}
	low := bytes.ToLower(out)
	for _, e := range s.ntlm {
		if bytes.Contains(low, []byte(hex.EncodeToString(e.nt[:]))) || bytes.Contains(out, e.nt[:]) {
			return true
		}
	}
	for _, kt := range s.keytabs {
		for _, e := range kt.Entries {
			if bytes.Contains(low, []byte(hex.EncodeToString(e.Key.KeyValue))) || len(e.Key.KeyValue) >= 8 && bytes.Contains(out, e.Key.KeyValue) {
				return true
			}
		}
	}
	return false
}
