package keys

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

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

// LoadKeysFile adds the entries of a keys file. Bad lines are skipped, each
// with a warning naming the file and the line (never its content); an
// unreadable file is an error. A file that others may read gives a warning.
func (s *Store) LoadKeysFile(path string) (warnings []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	defer f.Close()
	if w := permWarning(f, path); w != "" {
		warnings = append(warnings, w)
	}
	ws, err := s.ReadKeys(f, path)
	return append(warnings, ws...), err
}

// ReadKeys adds the entries read from r; name labels the messages.
func (s *Store) ReadKeys(r io.Reader, name string) (warnings []string, err error) {
	br := bufio.NewReader(r)
	n := 0
	for {
		line, rerr := br.ReadString('\n')
		if line == "" && rerr != nil {
			if rerr != io.EOF {
				return warnings, fmt.Errorf("keys file %s: read error after line %d", name, n)
			}
			break
		}
		n++
		line = strings.TrimRight(line, "\r\n")
		if w := s.addLine(line); w != "" {
			warnings = append(warnings, fmt.Sprintf("keys file %s line %d: %s; line skipped", name, n, w))
		}
		if rerr != nil {
			break
		}
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
	e := ntlmEntry{domain: id[:j], user: id[j+1:]}
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
func (s *Store) LoadKeytab(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("keytab: %w", err)
	}
	return s.AddKeytabBytes(b, path)
}

// AddKeytabBytes adds a keytab held in memory; name labels the messages.
func (s *Store) AddKeytabBytes(b []byte, name string) error {
	if len(b) < 2 || b[0] != 5 || b[1] != 2 {
		return fmt.Errorf("keytab %s: not an MIT keytab (version 0x502)", name)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		// The library's message describes the structure only; it is
		// not repeated in full, to be sure no key byte is quoted.
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
	return fmt.Sprintf("keys file %s can be read by other users (mode %04o); chmod 600 it", path, st.Mode().Perm())
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
