package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Classes of names, each with its own pseudonyms.
const (
	classUser   = "user"
	classDomain = "domain"
	classHost   = "host"
)

// maxNumber bounds the numbers of name pseudonyms per class (user-1 to
// user-99999): wide, so that two names rarely want the same number, and
// narrower for the classes that have few names (domains).
var maxNumber = map[string]int{classUser: 99999, classDomain: 999, classHost: 9999}

// Redactor maps names and addresses to pseudonyms derived from a keyed
// HMAC-SHA-256 of the name: the same key gives the same pseudonym for the
// same name in every report, whatever the order the names come in. Two
// names that want the same pseudonym are told apart in the order they are
// registered (Report registers them sorted), the later one taking the next
// free number. A Redactor is not safe for concurrent use.
type Redactor struct {
	key   []byte
	names map[string]string // class + "\x00" + canonical name -> pseudonym
	taken map[string]bool   // pseudonyms given
	addrs map[netip.Addr]netip.Addr
	used  map[netip.Addr]bool // addresses given as pseudonyms
	// avoid are addresses of the input: never given as pseudonyms.
	avoid map[netip.Addr]bool
	// text: the originals to replace in free text, longest first;
	// dirty when a name was added since it was sorted.
	text    []textRule
	byFirst map[byte][]textRule // text by the first byte, lower case
	dirty   bool
}

type textRule struct {
	from, to string
	fold     bool // names: case-insensitive
}

// New returns a Redactor keyed with key; an empty key draws a random one
// (pseudonyms then differ from run to run).
func New(key string) *Redactor {
	k := []byte(key)
	if key == "" {
		k = make([]byte, 32)
		rand.Read(k)
	}
	return &Redactor{key: k, names: map[string]string{}, taken: map[string]bool{},
		addrs: map[netip.Addr]netip.Addr{}, used: map[netip.Addr]bool{}, avoid: map[netip.Addr]bool{}}
}

func (r *Redactor) mac(class, s string) uint64 {
	h := hmac.New(sha256.New, r.key)
	h.Write([]byte(class))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// Avoid says that a is an address of the input: it is never given as a
// pseudonym (the pseudonym ranges may hold addresses of the input, as in
// test captures).
func (r *Redactor) Avoid(a netip.Addr) { r.avoid[a.Unmap()] = true }

// name returns the pseudonym of s in class ("user-12").
func (r *Redactor) name(class, s string) string {
	if s == "" {
		return s
	}
	canon := strings.TrimSuffix(strings.ToLower(s), ".")
	k := class + "\x00" + canon
	if p, ok := r.names[k]; ok {
		return p
	}
	size := maxNumber[class]
	n := int(r.mac(class, canon)%uint64(size)) + 1
	p := class + "-" + strconv.Itoa(n)
	for i := 0; r.taken[p]; i++ {
		n = n%size + 1
		if i >= size { // every number given: count on beyond them
			n = size + i
		}
		p = class + "-" + strconv.Itoa(n)
	}
	r.taken[p] = true
	r.names[k] = p
	r.addText(s, p, true)
	return p
}

func (r *Redactor) addText(from, to string, fold bool) {
	if from == "" || from == to {
		return
	}
	r.text = append(r.text, textRule{from, to, fold})
	r.dirty = true
}

// Pools of pseudonym addresses, the documentation ranges first (RFC 5737,
// RFC 3849), then the benchmarking range (RFC 2544) when those are full.
var v4Pools = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
}

var v6Prefix = netip.MustParsePrefix("2001:db8::/32")

// Addr returns the pseudonym of a.
func (r *Redactor) Addr(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return a
	}
	a = a.Unmap()
	if p, ok := r.addrs[a]; ok {
		return p
	}
	h := r.mac("addr", a.String())
	var p netip.Addr
	if a.Is4() {
		p = r.pick4(h)
	} else {
		p = r.pick6(h)
	}
	r.addrs[a] = p
	r.used[p] = true
	r.addText(a.String(), p.String(), false)
	return p
}

func (r *Redactor) free(p netip.Addr) bool { return !r.used[p] && !r.avoid[p] }

// pick4 takes the host h chooses in the first pool, or the next free one,
// then the next pools.
func (r *Redactor) pick4(h uint64) netip.Addr {
	for _, pool := range v4Pools {
		base := pool.Addr().As4()
		b := binary.BigEndian.Uint32(base[:])
		size := uint64(1) << (32 - pool.Bits())
		hosts := size - 2 // neither the network nor the broadcast address
		start := h % hosts
		for i := uint64(0); i < hosts; i++ {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], b+uint32(1+(start+i)%hosts))
			if p := netip.AddrFrom4(a); r.free(p) {
				return p
			}
		}
	}
	return netip.AddrFrom4([4]byte{198, 19, 255, 255}) // 2^17 addresses given: unreachable in practice
}

// pick6 takes 2001:db8::/32 with the low 48 bits from h, or the next free.
func (r *Redactor) pick6(h uint64) netip.Addr {
	a := v6Prefix.Addr().As16()
	for {
		v := h & (1<<48 - 1)
		for i := 0; i < 6; i++ {
			a[15-i] = byte(v >> (8 * i))
		}
		if p := netip.AddrFrom16(a); r.free(p) && v != 0 {
			return p
		}
		h++
	}
}

// AddrString redacts an address written as ip or ip:port (the port kept);
// anything else goes through Text.
func (r *Redactor) AddrString(s string) string {
	if s == "" {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return r.Addr(a).String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(r.Addr(ap.Addr()), ap.Port()).String()
	}
	return r.Text(s)
}

// Identity redacts a user as the reports write it: DOMAIN\user,
// user@REALM, a service principal (service/host), or a bare name. The
// domain or realm becomes domain-N, the account user-N, the host host-N.
func (r *Redactor) Identity(s string) string {
	if s == "" {
		return s
	}
	if strings.HasPrefix(s, "/") || strings.Contains(s, "=") {
		return r.DN(s) // an EMSMDB user known by its szUserDN
	}
	var out string
	if d, u, ok := strings.Cut(s, `\`); ok {
		out = r.name(classDomain, d) + `\` + r.account(u)
	} else if i := strings.LastIndexByte(s, '@'); i >= 0 {
		out = r.account(s[:i]) + "@" + r.name(classDomain, s[i+1:])
	} else {
		out = r.account(s)
	}
	r.addText(s, out, true)
	return out
}

// Ticket redacts the label of a Kerberos ticket, "<service principal>#<8
// hex digits>": the principal as Identity does; the digest of the
// ticket's encrypted part names no one and is kept.
func (r *Redactor) Ticket(s string) string {
	if s == "" {
		return s
	}
	spn, digest, ok := strings.Cut(s, "#")
	out := r.Identity(spn)
	if ok {
		out += "#" + digest
	}
	return out
}

// principals registers, as identities, the Kerberos principals written
// user@REALM in free text that no field named (the KDC's errors name the
// accounts they refused only in their sentence).
func (r *Redactor) principals(s string) {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		a := i
		for a > 0 && principalByte(s[a-1]) {
			a--
		}
		b := i + 1
		for b < len(s) && principalByte(s[b]) {
			b++
		}
		for b > i+1 && s[b-1] == '.' {
			b-- // the end of a sentence
		}
		if a < i && b > i+1 && strings.Contains(s[i+1:b], ".") {
			r.Identity(s[a:b])
		}
	}
}

func principalByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '$' || c == '.'
}

// account is an account name, or a service principal's service/host.
func (r *Redactor) account(s string) string {
	if svc, host, ok := strings.Cut(s, "/"); ok && svc != "" && host != "" {
		return svc + "/" + r.Host(host)
	}
	return r.name(classUser, s)
}

// Host redacts a host name or an address. A DNS name becomes host-N for its
// first label and domain-N for the rest (mbx01.contoso.example:
// host-12.domain-3), so that it matches the NetBIOS name (MBX01) and the
// realm (CONTOSO.EXAMPLE) of the same host and domain.
func (r *Redactor) Host(s string) string {
	if s == "" {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return r.Addr(a).String()
	}
	if h, d, ok := strings.Cut(strings.TrimSuffix(s, "."), "."); ok && h != "" && d != "" {
		out := r.name(classHost, h) + "." + r.name(classDomain, d)
		r.addText(s, out, true)
		return out
	}
	return r.name(classHost, s)
}

// Structural names of Exchange's legacyExchangeDN that name no one.
var keepRDN = map[string]bool{
	"configuration": true, "servers": true, "recipients": true,
	"microsoft private mdb": true, "microsoft public mdb": true,
	"exchange administrative group (fydibohf23spdlt)": true, "first administrative group": true,
	"administrative groups": true, "microsoft exchange": true, "users": true, "computers": true,
}

// DN redacts a distinguished name, Exchange's /o=org/ou=group/cn=.../cn=name
// or LDAP's CN=name,OU=unit,DC=example,DC=com: o, ou and dc values become
// domain-N, a cn after cn=Recipients user-N, any other cn host-N; the
// structural names of Exchange (Servers, Recipients, Configuration, the
// default administrative group) are kept.
func (r *Redactor) DN(s string) string {
	if s == "" {
		return s
	}
	sep := ","
	if strings.HasPrefix(s, "/") {
		sep = "/"
	}
	parts := strings.Split(s, sep)
	prevRecipients := false
	for i, p := range parts {
		attr, val, ok := strings.Cut(p, "=")
		if !ok || val == "" {
			continue
		}
		a := strings.ToLower(strings.TrimSpace(attr))
		v := strings.TrimSpace(val)
		recip := prevRecipients
		prevRecipients = a == "cn" && strings.EqualFold(v, "recipients")
		if keepRDN[strings.ToLower(v)] {
			continue
		}
		switch a {
		case "o", "ou", "dc":
			parts[i] = attr + "=" + r.name(classDomain, v)
		case "cn":
			if recip {
				parts[i] = attr + "=" + r.name(classUser, v)
			} else {
				parts[i] = attr + "=" + r.name(classHost, v)
			}
		default:
			parts[i] = attr + "=" + r.name(classHost, v)
		}
	}
	out := strings.Join(parts, sep)
	r.addText(s, out, true)
	return out
}

// Text replaces, in free text, every name and address given so far (the
// longest first; names in any case) and every IPv4 or IPv6 address literal.
func (r *Redactor) Text(s string) string {
	if s == "" {
		return s
	}
	r.literals(s, func(a netip.Addr) { r.Addr(a) })
	if strings.IndexByte(s, '@') >= 0 {
		r.principals(s)
	}
	if r.dirty {
		sort.SliceStable(r.text, func(i, j int) bool { return len(r.text[i].from) > len(r.text[j].from) })
		r.byFirst = map[byte][]textRule{}
		for _, t := range r.text {
			c := lower(t.from[0])
			r.byFirst[c] = append(r.byFirst[c], t)
		}
		r.dirty = false
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i == 0 || !wordByte(s[i-1]) {
			if t, ok := r.match(s, i); ok {
				b.WriteString(t.to)
				i += len(t.from)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// lower is the bucket of a first byte: ASCII in lower case; every
// non-ASCII byte in one bucket (their case folds across bytes).
func lower(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c >= 0x80:
		return 0x80
	}
	return c
}

func (r *Redactor) match(s string, i int) (textRule, bool) {
	for _, t := range r.byFirst[lower(s[i])] {
		n := len(t.from)
		if i+n > len(s) {
			continue
		}
		seg := s[i : i+n]
		if seg != t.from && !(t.fold && strings.EqualFold(seg, t.from)) {
			continue
		}
		if i+n < len(s) && wordByte(s[i+n]) && !(n > 0 && !wordByte(t.from[n-1])) {
			continue
		}
		return t, true
	}
	return textRule{}, false
}

// wordByte: bytes that continue a name or an address (so that a name is
// not replaced inside a longer one).
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

// literals calls f with each address literal of s.
func (r *Redactor) literals(s string, f func(netip.Addr)) {
	for i := 0; i < len(s); {
		if i > 0 && (isHex(s[i-1]) || s[i-1] == '.' || s[i-1] == ':') || !(isHex(s[i]) || s[i] == ':') {
			i++
			continue
		}
		j := i
		for j < len(s) && (isHex(s[j]) || s[j] == '.' || s[j] == ':') {
			j++
		}
		tok := strings.TrimRight(s[i:j], ".:")
		if strings.Count(tok, ".") == 3 {
			tok, _, _ = strings.Cut(tok, ":") // ip:port
		}
		if a, err := netip.ParseAddr(tok); err == nil && (a.Is4() && strings.Count(tok, ".") == 3 || strings.Count(tok, ":") >= 2) {
			f(a)
		}
		i = j
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
