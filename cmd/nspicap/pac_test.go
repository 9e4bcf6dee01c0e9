package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
)

// kerberos-pac.pcap: ivan binds over NTLM to a server whose CHALLENGE
// pairs nothing, then over Kerberos with a ticket whose PAC pairs CONTOSO
// with CONTOSO.EXAMPLE; judy's ticket carries a malformed PAC.
const pacPcap = testdataDir + "/kerberos-pac.pcap"

func analyzeReport(t *testing.T, args ...string) analyze.Report {
	t.Helper()
	out, errOut, code := nspicap(t, append([]string{"analyze", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("analyze %v: exit %d: %s", args, code, errOut)
	}
	var r analyze.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// userRows gives each row's user and upn, as "user|upn", sorted.
func userRows(r analyze.Report) []string {
	var out []string
	for _, u := range r.Users {
		out = append(out, string(u.User)+"|"+string(u.UPN))
	}
	sort.Strings(out)
	return out
}

// TestPACOneAccount: only the PAC of the ticket the keytab decrypts says
// that CONTOSO is CONTOSO.EXAMPLE: with the keytab, ivan's NTLM and
// Kerberos sessions are one row (and judy is shown as CONTOSO\judy); without
// it, two rows. Judy's malformed PAC is a notice naming the field and its
// offset, at the frame of her bind, whose calls are named and decoded as
// usual.
func TestPACOneAccount(t *testing.T) {
	kt := keytabOf(t, pacPcap)
	nokey := analyzeReport(t, pacPcap)
	if got := userRows(nokey); strings.Join(got, " ") != `CONTOSO\ivan| ivan@CONTOSO.EXAMPLE|ivan@CONTOSO.EXAMPLE judy@CONTOSO.EXAMPLE|judy@CONTOSO.EXAMPLE` {
		t.Errorf("without the keytab: %q", got)
	}
	withKey := analyzeReport(t, "--keytab", kt, pacPcap)
	if got := userRows(withKey); strings.Join(got, " ") != `CONTOSO\ivan|ivan@CONTOSO.EXAMPLE CONTOSO\judy|judy@CONTOSO.EXAMPLE` {
		t.Errorf("with the keytab: %q", got)
	}
	for _, u := range withKey.Users {
		if u.User == `CONTOSO\ivan` && (u.Binds != 2 || u.Unbinds != 2) {
			t.Errorf("ivan's row: %+v", u.Counters)
		}
	}
	if nokey.Totals.Binds != 3 || withKey.Totals != nokey.Totals {
		t.Errorf("totals without the keytab %+v, with it %+v", nokey.Totals, withKey.Totals)
	}
	for _, a := range nokey.Anomalies {
		t.Errorf("without the keytab, anomaly %s: %s", a.Kind, a.Message)
	}

	var judyFrame int64
	for _, r := range callsJSON(t, "--keytab", kt, pacPcap) {
		if r["user"] == "judy@CONTOSO.EXAMPLE" {
			if r["identity_from"] != "keytab" || r["status"] == nil {
				t.Errorf("judy's call: %v", r)
			}
			judyFrame = int64(r["identity_frame"].(float64))
		}
	}
	if len(withKey.Anomalies) != 1 {
		t.Fatalf("anomalies with the keytab: %+v", withKey.Anomalies)
	}
	a := withKey.Anomalies[0]
	if a.Kind != "malformed_pac" || !a.Notice || a.Count != 1 || a.Frame == nil || *a.Frame != judyFrame || judyFrame == 0 ||
		!strings.Contains(a.Message, "UPN_DNS_INFO DnsDomainNameOffset at offset ") {
		t.Errorf("anomaly %+v (judy's bind at frame %d)", a, judyFrame)
	}
	for _, v := range withKey.Verdict {
		if strings.Contains(v, "anomal") {
			t.Errorf("verdict: %q (a malformed PAC loses no call)", v)
		}
	}
}

// TestPACTshark cross-checks the PACs with tshark's decoding of them (with
// the keytab): the logon domain (netlogon.domain) and DNS domain
// (kerberos.pac.upn.dns_name) of each bind's ticket are those nspicap
// pairs for its client, and the ticket whose UPN_DNS_INFO tshark cannot
// read is the one nspicap reports malformed.
func TestPACTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	m := loadManifest(t, "kerberos-pac.pcap")
	var args []string
	for _, a := range m.TsharkKeytabArgs {
		if k, v, ok := strings.Cut(a, "kerberos.file:"); ok && k == "" {
			a = "kerberos.file:" + filepath.Join(absTestdata, v)
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		t.Fatal("no tshark_keytab_args in the manifest")
	}
	out, err := exec.Command("tshark", append(append([]string{"-r", pacPcap}, args...), "-Y", "dcerpc.pkt_type == 11 && kerberos.pac_logon_info",
		"-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "netlogon.domain", "-e", "kerberos.pac.upn.dns_name", "-e", "kerberos.CNameString")...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	rows := map[string]string{} // client IP -> user|upn of its Kerberos calls
	for _, r := range callsJSON(t, "--keytab", keytabOf(t, pacPcap), pacPcap) {
		if r["auth"] == "kerberos" {
			rows[strings.Split(r["client"].(string), ":")[0]] = r["user"].(string)
		}
	}
	report := analyzeReport(t, "--keytab", keytabOf(t, pacPcap), pacPcap)
	upn := map[string]string{}
	for _, u := range report.Users {
		upn[string(u.UPN)] = string(u.User)
	}
	checked, malformed := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 4 {
			t.Fatalf("tshark line %q", l)
		}
		client, nb, dns, cname := f[0], f[1], f[2], strings.Split(f[3], ",")[0]
		user := rows[client]
		if user != cname+"@CONTOSO.EXAMPLE" {
			t.Errorf("%s: tshark's client %s, nspicap's %q", client, cname, user)
		}
		if dns == "" {
			// tshark could not read UPN_DNS_INFO's DNS name: the PAC
			// nspicap reports malformed (judy's).
			malformed++
			if len(report.Anomalies) != 1 || cname != "judy" {
				t.Errorf("%s: tshark reads no DNS domain, nspicap's anomalies %+v", cname, report.Anomalies)
			}
			continue
		}
		// The row of the account shows the PAC's NetBIOS domain, and its
		// upn the PAC's DNS domain.
		want := cname + "@" + strings.ToUpper(dns)
		if upn[want] != nb+`\`+cname {
			t.Errorf("%s: tshark's PAC says %s and %s; nspicap's row for %s is %q", cname, nb, dns, want, upn[want])
		}
		checked++
	}
	if checked != 1 || malformed != 1 {
		t.Errorf("%d PACs checked, %d malformed: want 1 and 1", checked, malformed)
	}
}

// TestDomainFlagCalls: --domain changes the user column of calls as it
// changes the rows of analyze and sessions: on kerberos-pac.pcap without
// the keytab (nothing pairs CONTOSO with contoso.example), the users calls
// shows are the rows analyze gives, DOMAIN\user with upn user@REALM; the
// same bad value is refused with the same error by every command.
func TestDomainFlagCalls(t *testing.T) {
	const dom = "CONTOSO=contoso.example"
	distinct := func(rows []map[string]any) []string {
		seen := map[string]bool{}
		var out []string
		for _, r := range rows {
			u, _ := r["user"].(string)
			p, _ := r["upn"].(string)
			if k := u + "|" + p; u != "" && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	plain := distinct(callsJSON(t, pacPcap))
	if strings.Join(plain, " ") != `CONTOSO\ivan| ivan@CONTOSO.EXAMPLE| judy@CONTOSO.EXAMPLE|` {
		t.Errorf("calls without --domain: %q", plain)
	}
	renamed := distinct(callsJSON(t, "--domain", dom, pacPcap))
	rows := userRows(analyzeReport(t, "--domain", dom, pacPcap))
	if strings.Join(renamed, " ") != `CONTOSO\ivan|ivan@CONTOSO.EXAMPLE CONTOSO\judy|judy@CONTOSO.EXAMPLE` || strings.Join(renamed, " ") != strings.Join(rows, " ") {
		t.Errorf("calls --domain: %q; analyze --domain rows: %q", renamed, rows)
	}
	// The table shows the renamed users too.
	table, _, _ := nspicap(t, "calls", "--domain", "contoso=CONTOSO.EXAMPLE.", pacPcap)
	if strings.Contains(table, "@CONTOSO") || strings.Count(table, `contoso\judy`) != 5 {
		t.Errorf("calls table:\n%s", table)
	}
	// sessions --domain lists the same users.
	out, _, code := nspicap(t, "sessions", "--format", "jsonl", "--domain", dom, pacPcap)
	var sess []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) == nil {
			sess = append(sess, r)
		}
	}
	var users []string
	for _, s := range distinct(sess) {
		users = append(users, strings.Split(s, "|")[0])
	}
	if code != 0 || strings.Join(users, " ") != `CONTOSO\ivan CONTOSO\judy` {
		t.Errorf("sessions --domain: exit %d, users %q", code, users)
	}
	// --redact hides the upn as it hides the user.
	red, _, _ := nspicap(t, "calls", "--format", "jsonl", "--redact", "--domain", dom, pacPcap)
	if strings.Contains(strings.ToLower(red), "ivan") || strings.Contains(strings.ToLower(red), "judy") || !strings.Contains(red, `"upn":`) {
		t.Errorf("calls --redact --domain:\n%s", red)
	}
	for _, cmd := range []string{"analyze", "sessions", "calls"} {
		for _, bad := range []string{"CONTOSO", "=contoso.example", "CON.TOSO=contoso.example", "CONTOSO=user@contoso.example"} {
			_, errOut, code := nspicap(t, cmd, "--domain", bad, pacPcap)
			want := "nspicap " + cmd + ": --domain \"" + bad + "\": want NETBIOS=dns.realm, e.g. CONTOSO=contoso.local\n"
			if code != exitUsage || errOut != want {
				t.Errorf("%s --domain %q: exit %d, %q", cmd, bad, code, errOut)
			}
		}
	}
}
