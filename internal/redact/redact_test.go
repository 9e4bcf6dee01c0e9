package redact

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
)

// TestStableAcrossOrder: the pseudonym of a name depends on the key and the
// name, not on the other names or their order.
func TestStableAcrossOrder(t *testing.T) {
	a, b := New("k"), New("k")
	a.Identity(`CONTOSO\alice`)
	a.Identity(`CONTOSO\bob`)
	b.Identity(`FABRIKAM\carol`)
	b.Identity(`contoso\BOB`)
	if x, y := a.Identity(`CONTOSO\bob`), b.Identity(`CONTOSO\bob`); x != y {
		t.Fatalf("same key, same name: %s and %s", x, y)
	}
	if x, y := a.AddrString("10.1.2.3:135"), b.AddrString("10.1.2.3:135"); x != y || !strings.HasSuffix(x, ":135") {
		t.Fatalf("same key, same address: %s and %s", x, y)
	}
	c := New("other")
	if a.Identity(`CONTOSO\bob`) == c.Identity(`CONTOSO\bob`) {
		t.Fatal("another key gives the same pseudonym")
	}
	if !regexp.MustCompile(`^domain-\d+\\user-\d+$`).MatchString(a.Identity(`CONTOSO\bob`)) {
		t.Fatalf("pseudonym %q", a.Identity(`CONTOSO\bob`))
	}
	// The account is the same whatever names it: NTLM, Kerberos, the DN.
	u := strings.Split(a.Identity(`CONTOSO\bob`), `\`)[1]
	if k := a.Identity("bob@CONTOSO.EXAMPLE"); !strings.HasPrefix(k, u+"@domain-") {
		t.Fatalf("Kerberos name %s, NTLM account %s", k, u)
	}
	if d := a.DN("/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bob"); !strings.HasSuffix(d, "/cn=Recipients/cn="+u) || strings.Contains(strings.ToLower(d), "contoso") {
		t.Fatalf("DN %s", d)
	}
	if h, n := a.Host("mbx01.contoso.example"), a.DN("/o=Contoso/cn=Servers/cn=MBX01"); !strings.HasSuffix(n, "cn="+strings.Split(h, ".")[0]) {
		t.Fatalf("host %s, DN %s", h, n)
	}
}

// TestCollisions: names that want one number get distinct ones, and every
// pseudonym address is distinct and none is an address to avoid.
func TestCollisions(t *testing.T) {
	r := New("k")
	seen := map[string]string{}
	for i := 0; i < 1500; i++ { // 999 numbers: collisions certain, then a full class
		n := fmt.Sprintf("name%d", i)
		p := r.name(classDomain, n)
		if o, dup := seen[p]; dup && o != n {
			t.Fatalf("%s given to %s and %s", p, o, n)
		}
		seen[p] = n
	}
	r = New("k")
	avoid := netip.MustParseAddr("198.51.100.10")
	r.Avoid(avoid)
	given := map[netip.Addr]bool{}
	for i := 0; i < 600; i++ {
		p := r.Addr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		if p == avoid || given[p] || !p.Is4() {
			t.Fatalf("address %d: pseudonym %s (avoided or given twice)", i, p)
		}
		given[p] = true
	}
}

// TestText: free text loses the known names (any case) and every address
// literal, and keeps the rest, names inside longer words included.
func TestText(t *testing.T) {
	r := New("k")
	id := r.Identity(`CONTOSO\bob`)
	got := r.Text(`contoso\BOB bound on 10.0.0.1:4997 and [2001:db8:1::5]:135; bobby and 10.0.0.10 are others; HKLM\System`)
	for _, bad := range []string{"contoso", "BOB ", "10.0.0.1:", "2001:db8:1::5"} {
		if strings.Contains(got, bad) {
			t.Fatalf("%q left in %q", bad, got)
		}
	}
	if !strings.HasPrefix(got, id+" bound") || !strings.Contains(got, "bobby") || !strings.Contains(got, `HKLM\System`) || !strings.Contains(got, ":4997") {
		t.Fatalf("text %q", got)
	}
	if strings.Contains(got, "10.0.0.10") {
		t.Fatalf("10.0.0.10 left: %q", got)
	}
}

// TestReportKeepsCounts: the report's numbers, frames and kinds stay.
func TestReportKeepsCounts(t *testing.T) {
	rep := &analyze.Report{
		Verdict:  []string{`CONTOSO\bob leaks NSPI sessions on 198.51.100.10.`},
		Users:    []analyze.UserRow{{Server: "198.51.100.10", User: `CONTOSO\bob`, Counters: analyze.Counters{Binds: 7}}},
		Findings: []analyze.Finding{{Kind: "leak", Severity: "error", Server: "198.51.100.10", User: `CONTOSO\bob`, Client: "192.0.2.5", Count: 7, Frames: []analyze.FrameRef{{File: "a.pcap", Frame: 3}}, Message: `CONTOSO\bob bound 7 sessions on 198.51.100.10.`}},
	}
	New("k").Report(rep)
	f := rep.Findings[0]
	if f.Kind != "leak" || f.Count != 7 || f.Frames[0].Frame != 3 || f.Frames[0].File != "a.pcap" || rep.Users[0].Binds != 7 {
		t.Fatalf("counts changed: %+v", f)
	}
	if f.Server == "198.51.100.10" || rep.Users[0].Server != string(f.Server) || !strings.Contains(f.Message, string(f.User)) || !strings.Contains(rep.Verdict[0], string(f.Server)) {
		t.Fatalf("not redacted alike: %+v %+v %q", f, rep.Users[0], rep.Verdict)
	}
}

// FuzzRedact: any identity, DN, host or text neither panics nor redacts
// differently under one key.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{`CONTOSO\bob`, "bob@CONTOSO.EXAMPLE", "/o=Contoso/cn=Recipients/cn=bob", "CN=x,DC=a,DC=b",
		"mbx01.contoso.example", "10.0.0.1:135 and [2001:db8::1]:135", "exchangeMDB/mbx01@X", "::", "a\\", "@", "=/"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, text string) {
		var outs [2][4]string
		for i := range outs {
			r := New("k")
			outs[i] = [4]string{r.Identity(name), r.DN(name), r.Host(name), r.Text(text)}
		}
		if outs[0] != outs[1] {
			t.Fatalf("two runs differ: %q %q", outs[0], outs[1])
		}
	})
}
