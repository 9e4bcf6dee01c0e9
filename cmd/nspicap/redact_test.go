package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
)

// sensitive collects, from unredacted outputs, the names and addresses a
// redacted output must not hold: users (whole, account and domain or realm
// apart), host names, the non-structural values of DNs, addresses.
type sensitive struct {
	names map[string]bool
	addrs map[netip.Addr]bool
}

func (s *sensitive) user(u string) {
	if u == "" {
		return
	}
	if strings.Contains(u, "=") {
		s.dn(u)
		return
	}
	s.names[u] = true
	if d, a, ok := strings.Cut(u, `\`); ok {
		s.names[d], s.names[a] = true, true
	} else if i := strings.LastIndexByte(u, '@'); i >= 0 {
		s.names[u[:i]], s.names[u[i+1:]] = true, true
	}
}

var structural = regexp.MustCompile(`(?i)^(configuration|servers|recipients|exchange administrative group \(fydibohf23spdlt\))$`)

func (s *sensitive) dn(d string) {
	for _, p := range strings.FieldsFunc(d, func(r rune) bool { return r == '/' || r == ',' }) {
		if _, v, ok := strings.Cut(p, "="); ok && v != "" && !structural.MatchString(v) {
			s.names[v] = true
		}
	}
}

func (s *sensitive) addr(a string) {
	if a == "" {
		return
	}
	if ap, err := netip.ParseAddrPort(a); err == nil {
		s.addrs[ap.Addr()] = true
	} else if x, err := netip.ParseAddr(a); err == nil {
		s.addrs[x] = true
	}
}

// ticket notes the host and domain of a ticket label's service principal
// (service/host.domain#digest).
func (s *sensitive) ticket(l string) {
	spn, _, _ := strings.Cut(l, "#")
	if _, host, ok := strings.Cut(spn, "/"); ok && host != "" {
		s.names[host] = true
		if h, d, ok := strings.Cut(host, "."); ok {
			s.names[h], s.names[d] = true, true
		}
	}
}

// principals notes the user@REALM written in a sentence (the KDC's errors).
func (s *sensitive) principals(text string) {
	for _, w := range strings.Fields(text) {
		w = strings.Trim(w, ".,;:()")
		if i := strings.IndexByte(w, '@'); i > 0 && strings.Contains(w[i:], ".") {
			s.user(w)
		}
	}
}

func (s *sensitive) report(r *analyze.Report) {
	for _, x := range r.Users {
		s.addr(x.Server)
		s.user(string(x.User))
		s.user(string(x.UPN))
		s.ticket(x.Ticket)
	}
	for _, x := range r.Clients {
		s.addr(x.Server)
		s.addr(x.Client)
		s.addr(x.ClientAddress)
	}
	for _, x := range r.Sessions {
		s.addr(x.Server)
		s.addr(x.Client)
		s.addr(x.ClientAddress)
		s.user(string(x.User))
	}
	for _, x := range r.Refusals {
		s.addr(x.Client)
		s.addr(x.ClientAddress)
		s.user(string(x.User))
	}
	for _, x := range r.Timeline {
		s.addr(x.ClientAddress)
		s.ticket(x.Ticket)
	}
	for _, x := range r.Anomalies {
		s.principals(x.Message)
	}
	for _, x := range r.EMSMDBSessions {
		s.addr(x.Server)
		s.addr(x.Client)
		s.user(string(x.User))
		s.dn(x.UserDN)
	}
	for _, x := range r.Referrals {
		s.addr(x.Server)
		s.addr(x.Client)
		s.addr(x.ClientAddress)
		s.user(string(x.User))
		s.dn(x.DN)
		s.names[x.ReferredTo] = true
	}
	for _, x := range r.Findings {
		s.addr(string(x.Server))
		s.addr(string(x.Client))
		s.addr(x.ClientAddress)
		s.user(string(x.User))
		s.user(string(x.UPN))
		s.ticket(x.Ticket)
	}
}

// leaks lists the sensitive names and addresses out holds, as whole words
// (a name in any case; an address not inside a longer number).
func (s *sensitive) leaks(out string) []string {
	var found []string
	word := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	has := func(hay, needle string, isAddr bool) bool {
		for i := 0; ; {
			j := strings.Index(hay[i:], needle)
			if j < 0 {
				return false
			}
			j += i
			end := j + len(needle)
			before := j > 0 && (word(hay[j-1]) || isAddr && (hay[j-1] == '.' || hay[j-1] == ':'))
			after := end < len(hay) && (word(hay[end]) || isAddr && hay[end] == '.' && end+1 < len(hay) && hay[end+1] >= '0' && hay[end+1] <= '9')
			if !before && !after {
				return true
			}
			i = j + 1
		}
	}
	low := strings.ToLower(out)
	for n := range s.names {
		if n != "" && has(low, strings.ToLower(n), false) {
			found = append(found, n)
		}
	}
	for a := range s.addrs {
		if has(out, a.String(), true) {
			found = append(found, a.String())
		}
	}
	slices.Sort(found)
	return found
}

// TestRedact runs every command and format on every sample capture with
// --redact and checks that no user, domain, realm, host name or address of
// the unredacted output is left, and that the findings (kinds, severities,
// counts, frames), the totals and the counters are the same; that the same
// key gives the same output and another key other pseudonyms.
func TestRedact(t *testing.T) {
	files := captures(t)
	t.Chdir(testdataDir)
	type run struct{ cmd, format string }
	runs := []run{{"analyze", "table"}, {"analyze", "json"}, {"analyze", "html"}, {"sessions", "table"}, {"sessions", "csv"}, {"sessions", "jsonl"},
		{"calls", "table"}, {"calls", "csv"}, {"calls", "jsonl"}, {"endpoints", "table"}, {"endpoints", "csv"}, {"endpoints", "jsonl"}}
	checked := 0
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			plain, _, _ := nspicap(t, "analyze", "--format", "json", f)
			var r analyze.Report
			if err := json.Unmarshal([]byte(plain), &r); err != nil {
				t.Fatal(err)
			}
			s := &sensitive{names: map[string]bool{}, addrs: map[netip.Addr]bool{}}
			s.report(&r)
			reportNames := len(s.addrs) > 0
			calls, _, _ := nspicap(t, "calls", "--format", "jsonl", f)
			sc := bufio.NewScanner(strings.NewReader(calls))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var row struct {
					Client, Server string
					User           *string
				}
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
					t.Fatal(err)
				}
				s.addr(row.Client)
				s.addr(row.Server)
				if row.User != nil {
					s.user(*row.User)
				}
			}
			eps, _, _ := nspicap(t, "endpoints", "--format", "jsonl", f)
			for _, l := range strings.Split(strings.TrimSpace(eps), "\n") {
				var row struct{ Mapper, Host string }
				if l != "" && json.Unmarshal([]byte(l), &row) == nil {
					s.addr(row.Mapper)
					if _, err := netip.ParseAddr(row.Host); err == nil {
						s.addr(row.Host)
					} else if row.Host != "" {
						s.names[row.Host] = true
					}
				}
			}
			if len(s.addrs) == 0 {
				return // nothing to hide
			}
			checked++
			for _, rn := range runs {
				out, errOut, code := nspicap(t, rn.cmd, "--redact-key", "k1", "--format", rn.format, f)
				if code != exitOK && code != exitFindings {
					t.Fatalf("%s %s: exit %d: %s", rn.cmd, rn.format, code, errOut)
				}
				if l := s.leaks(out); len(l) > 0 {
					t.Errorf("%s --format %s --redact: still names %q", rn.cmd, rn.format, l)
				}
				if l := s.leaks(errOut); len(l) > 0 {
					t.Errorf("%s --format %s --redact: standard error names %q", rn.cmd, rn.format, l)
				}
				again, _, _ := nspicap(t, rn.cmd, "--redact-key", "k1", "--format", rn.format, f)
				if again != out {
					t.Errorf("%s --format %s: two runs with one key differ", rn.cmd, rn.format)
				}
			}
			red, _, _ := nspicap(t, "analyze", "--format", "json", "--redact", "--redact-key", "k1", f)
			var rr analyze.Report
			if err := json.Unmarshal([]byte(red), &rr); err != nil {
				t.Fatal(err)
			}
			if len(rr.Findings) != len(r.Findings) || rr.Totals != r.Totals || len(rr.Verdict) != len(r.Verdict) ||
				len(rr.Users) != len(r.Users) || len(rr.Sessions) != len(r.Sessions) || len(rr.Anomalies) != len(r.Anomalies) {
				t.Fatalf("redaction changed the report's shape")
			}
			for i, x := range r.Findings {
				y := rr.Findings[i]
				if x.Kind != y.Kind || x.Severity != y.Severity || x.Count != y.Count || !slices.Equal(x.Frames, y.Frames) ||
					x.Cause != y.Cause || (x.User == "") != (y.User == "") {
					t.Errorf("finding %d: %s/%s/%d/%v became %s/%s/%d/%v", i, x.Kind, x.Severity, x.Count, x.Frames, y.Kind, y.Severity, y.Count, y.Frames)
				}
			}
			for i, x := range r.Users {
				if x.Counters != rr.Users[i].Counters {
					t.Errorf("user row %d: counters changed", i)
				}
			}
			for i, x := range r.Sessions {
				y := rr.Sessions[i]
				if x.BindFrame != y.BindFrame || x.End != y.End || x.Handle != y.Handle || x.ServerPort != y.ServerPort {
					t.Errorf("session %d changed beyond its names", i)
				}
				if ax, err := netip.ParseAddrPort(x.Client); err == nil {
					ay, err := netip.ParseAddrPort(y.Client)
					if err != nil || ax.Port() != ay.Port() || !inDocRange(ay.Addr()) {
						t.Errorf("session %d: client %s became %s", i, x.Client, y.Client)
					}
				}
			}
			other, _, _ := nspicap(t, "analyze", "--format", "json", "--redact-key", "k2", f)
			if reportNames && other == red {
				t.Errorf("keys k1 and k2 give the same output")
			}
		})
	}
	if checked < 10 {
		t.Fatalf("only %d sample captures checked", checked)
	}
}

func inDocRange(a netip.Addr) bool {
	return netip.MustParsePrefix("198.51.100.0/24").Contains(a) || netip.MustParsePrefix("2001:db8::/32").Contains(a) ||
		netip.MustParsePrefix("203.0.113.0/24").Contains(a) || netip.MustParsePrefix("192.0.2.0/24").Contains(a)
}
