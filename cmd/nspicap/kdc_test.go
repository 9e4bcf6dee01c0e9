package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/pipeline"
)

// Kerberos without keys (docs/kerberos.md): the KDC exchanges of
// kerberos-kdc.pcap and kerberos-svc-limit.pcap name the callers.

const (
	kdcPcap      = testdataDir + "/kerberos-kdc.pcap"
	kdcLimitPcap = testdataDir + "/kerberos-svc-limit.pcap"
)

// callsJSON runs `calls --format jsonl` and decodes the rows.
func callsJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, errOut, code := nspicap(t, append([]string{"calls", "--format", "jsonl"}, args...)...)
	if code != 0 {
		t.Fatalf("calls %v: exit %d: %s", args, code, errOut)
	}
	var rows []map[string]any
	if strings.TrimSpace(out) == "" {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestKDCNoKeyTwin is the "done when": without any key, every
// Kerberos-authenticated NSPI bind whose ticket the capture saw issued is
// counted under its account with the same numbers as with the keytab.
func TestKDCNoKeyTwin(t *testing.T) {
	kt := keytabOf(t, kdcLimitPcap)
	nokey := twinAnalyze(t, kdcLimitPcap)
	withKey := twinAnalyze(t, "--keytab", kt, kdcLimitPcap)
	if len(nokey.Users) != 1 || nokey.Users[0]["user"] != "svc-app@CONTOSO.EXAMPLE" || len(nokey.Findings) < 2 {
		t.Fatalf("without a key: users %v, findings %v", nokey.Users, nokey.Findings)
	}
	// What named the user differs on purpose (tgs_rep, keytab): the
	// counts, rows and findings must not.
	sameAnalysis(t, "kerberos-svc-limit without a key", "with the keytab", withoutOrigin(nokey), withoutOrigin(withKey))
	if nokey.Users[0]["identity_from"] != "tgs_rep" || withKey.Users[0]["identity_from"] != "keytab" {
		t.Errorf("identity_from: without a key %v, with the keytab %v", nokey.Users[0]["identity_from"], withKey.Users[0]["identity_from"])
	}
	for _, v := range nokey.Verdict {
		if strings.Contains(v, "anonymous") || strings.Contains(v, "unidentified") {
			t.Errorf("verdict: %q", v)
		}
	}

	// kerberos-kdc: the same rows, but for carol, whose ticket was issued
	// before the capture: only the keytab names her.
	nokey = twinAnalyze(t, kdcPcap)
	withKey = twinAnalyze(t, "--keytab", kt, kdcPcap)
	strip := func(us []map[string]any) (named []map[string]any, unnamed int) {
		for _, u := range us {
			switch u["user"] {
			case nil:
				unnamed++
			case "carol@CONTOSO.EXAMPLE", `CONTOSO\carol`:
			default:
				named = append(named, u)
			}
		}
		return named, unnamed
	}
	n1, u1 := strip(withoutOrigin(nokey).Users)
	n2, u2 := strip(withoutOrigin(withKey).Users)
	// alice, bob, dave (one account over NTLM and Kerberos), erin, heidi.
	if !reflect.DeepEqual(n1, n2) || u1 != 1 || u2 != 0 || len(n1) != 5 {
		t.Errorf("users without a key %v (%d unnamed), with the keytab %v (%d unnamed)", n1, u1, n2, u2)
	}
	if !reflect.DeepEqual(nokey.Totals, withKey.Totals) {
		t.Errorf("totals differ: %v, %v", nokey.Totals, withKey.Totals)
	}
}

// TestKDCCalls: who named each Kerberos call, its frame, the label of an
// unnamed ticket, the delegation, and the KRB-ERRORs.
func TestKDCCalls(t *testing.T) {
	m := loadManifest(t, "kerberos-kdc.pcap")
	kdcFrames := map[float64]string{}
	for _, k := range m.KDC {
		if k.Type == "TGS-REP" {
			kdcFrames[float64(k.Frame)] = k.CName + "@" + k.CRealm
		}
	}
	seen := map[string]bool{}
	for _, r := range callsJSON(t, kdcPcap) {
		if r["auth"] != "kerberos" {
			continue
		}
		u, _ := r["user"].(string)
		switch r["identity_from"] {
		case "tgs_rep":
			if kdcFrames[r["identity_frame"].(float64)] != u {
				t.Errorf("frame %v: %s named by frame %v, which issued a ticket to %q", r["frame"], u, r["identity_frame"], kdcFrames[r["identity_frame"].(float64)])
			}
			seen[u] = true
		case nil:
			if u != "" || !strings.HasPrefix(r["ticket"].(string), "exchangeAB/dc01.contoso.example#") {
				t.Errorf("frame %v: unnamed Kerberos call %v", r["frame"], r)
			}
			seen["ticket"] = true
		default:
			t.Errorf("frame %v: identity_from %v", r["frame"], r["identity_from"])
		}
		if u == "erin@CONTOSO.EXAMPLE" && r["via"] != "HTTP/ex01.contoso.example" {
			t.Errorf("erin's call via %v", r["via"])
		}
	}
	if len(seen) != 6 {
		t.Errorf("named: %v", seen)
	}
	res := pipeline.Run([]string{kdcPcap}, pipeline.Options{}, &collect{})
	var codes []int32
	for _, e := range res.KDCErrors {
		codes = append(codes, e.Code)
	}
	if !reflect.DeepEqual(codes, []int32{18, 24, 37}) || res.KDCErrors[0].Client != "mallory@CONTOSO.EXAMPLE" || res.Kerberos.Named != 6 || res.Kerberos.Unnamed != 1 {
		t.Errorf("KRB-ERRORs %+v, stats %+v", res.KDCErrors, res.Kerberos)
	}
	for _, e := range res.KDCErrors {
		found := false
		for _, k := range m.KDC {
			found = found || k.Frame == int(e.Frame.Frame) && k.ErrorCode == e.Code
		}
		if !found {
			t.Errorf("KRB-ERROR %d at frame %d is not in the manifest", e.Code, e.Frame.Frame)
		}
	}
}

// splitPcap writes the records of a little-endian pcap before frame n to
// one file and the others to a second, as a ring buffer would.
func splitPcapFile(t *testing.T, src string, n int) (a, b string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	hdr, rest := raw[:24], raw[24:]
	var parts [2]bytes.Buffer
	parts[0].Write(hdr)
	parts[1].Write(hdr)
	for i := 1; len(rest) >= 16; i++ {
		l := 16 + int(binary.LittleEndian.Uint32(rest[8:12]))
		p := 0
		if i >= n {
			p = 1
		}
		parts[p].Write(rest[:l])
		rest = rest[l:]
	}
	dir := t.TempDir()
	a, b = filepath.Join(dir, "ring_00001.pcap"), filepath.Join(dir, "ring_00002.pcap")
	if os.WriteFile(a, parts[0].Bytes(), 0o644) != nil || os.WriteFile(b, parts[1].Bytes(), 0o644) != nil {
		t.Fatal("writing the ring")
	}
	return a, b
}

// TestKDCRing: the TGS-REPs in the first file of a ring, the binds in the
// second: the names cross the files (identity_file); the second file
// alone names nobody (no guessing).
func TestKDCRing(t *testing.T) {
	m := loadManifest(t, "kerberos-kdc.pcap")
	cut := 0
	for _, k := range m.KDC {
		if k.Type == "TGS-REP" && k.CName == "alice" {
			cut = k.Frame + 1
		}
	}
	a, b := splitPcapFile(t, kdcPcap, cut)
	alice := 0
	for _, r := range callsJSON(t, a, b) {
		if r["user"] == "alice@CONTOSO.EXAMPLE" {
			alice++
			if r["identity_file"] != a || r["file"] != b || r["identity_from"] != "tgs_rep" {
				t.Errorf("alice's call: %v", r)
			}
		}
	}
	if alice != 5 {
		t.Errorf("%d calls of alice named across the ring, want 5", alice)
	}
	for _, r := range callsJSON(t, b) {
		if r["user"] == "alice@CONTOSO.EXAMPLE" {
			t.Fatalf("alice named without her TGS-REP: %v", r)
		}
	}
}

// TestKDCTshark: every name nspicap gives from a KDC reply is the cname and
// crealm tshark decodes in that frame (for a reply in IP fragments, the
// frame where tshark reassembles it), and a ticket cipher tshark shows there
// is the one of a bind's AP-REQ from the same client.
func TestKDCTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	for _, c := range []struct {
		name  string
		users int // distinct users named
	}{{"kerberos-kdc.pcap", 5}, {"kerberos-udp-frag.pcap", 3}, {"kerberos-fast.pcap", 2}} {
		t.Run(c.name, func(t *testing.T) { checkKDCTshark(t, c.name, c.users) })
	}
}

func checkKDCTshark(t *testing.T, name string, users int) {
	path := filepath.Join(testdataDir, name)
	out, err := exec.Command("tshark", "-r", path, "-Y", "kerberos", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src", "-e", "kerberos.msg_type", "-e", "kerberos.CNameString",
		"-e", "kerberos.crealm", "-e", "kerberos.cipher", "-e", "udp.port", "-e", "tcp.port").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type krb struct {
		src, typ, cname, crealm string
		ciphers                 []string
	}
	frames := map[string]krb{}
	apCiphers := map[string]string{} // first cipher of an AP-REQ (its ticket's) -> client IP
	kdcMsgs := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) < 9 {
			continue
		}
		k := krb{src: f[1] + f[2], typ: f[3], cname: strings.Split(f[4], ",")[0], crealm: f[5], ciphers: strings.Split(f[6], ",")}
		frames[f[0]] = k
		if strings.Contains(f[7]+","+f[8], "88") {
			kdcMsgs++
		}
		if strings.HasPrefix(k.typ, "14") {
			apCiphers[k.ciphers[0]] = k.src
		}
	}
	if kdcMsgs < len(loadManifest(t, name).KDC) {
		t.Errorf("tshark decodes %d messages on port 88", kdcMsgs)
	}
	named := map[string]bool{}
	for _, r := range callsJSON(t, path) {
		if r["identity_from"] != "tgs_rep" {
			continue
		}
		fr := strings.TrimSuffix(jsonNum(r["identity_frame"]), ".0")
		k, ok := frames[fr]
		user := r["user"].(string)
		if !ok || !strings.HasPrefix(k.typ, "13") || k.cname+"@"+k.crealm != user {
			t.Errorf("%s named by frame %s: tshark %+v", user, fr, k)
			continue
		}
		client := netip.MustParseAddrPort(r["client"].(string)).Addr().String()
		found := false
		for _, ci := range k.ciphers {
			found = found || apCiphers[ci] == client
		}
		if !found {
			t.Errorf("%s: no ticket of frame %s is in an AP-REQ from %s", user, fr, client)
		}
		named[user] = true
	}
	if len(named) != users {
		t.Errorf("users named and checked: %v, want %d", named, users)
	}
	t.Logf("%d named users agree with the TGS-REP tshark decodes", len(named))
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestKDCSharedCaptures: the real Kerberos captures beside the project hold
// no port-88 traffic (checked with tshark when installed): their Kerberos
// calls stay unnamed, each with the label of its ticket.
func TestKDCSharedCaptures(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../../shared/captures", "/work/shared/captures"} {
		if files, _ = filepath.Glob(filepath.Join(dir, "kerberos*.pcapng")); len(files) > 0 {
			break
		}
	}
	if len(files) == 0 {
		t.Skip("no shared Kerberos captures")
	}
	for _, f := range files {
		res := pipeline.Run([]string{f}, pipeline.Options{Rows: true}, &collect{})
		if res.Kerberos.Messages != 0 || res.Kerberos.Named != 0 || res.Kerberos.Unnamed == 0 {
			t.Errorf("%s: %+v", f, res.Kerberos)
		}
		if _, err := exec.LookPath("tshark"); err == nil {
			out, _ := exec.Command("tshark", "-r", f, "-Y", "udp.port==88 || tcp.port==88").Output()
			if len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("%s: tshark sees port-88 traffic: the test's premise changed", f)
			}
		}
		for _, r := range callsJSON(t, f) {
			if r["auth"] == "kerberos" && (r["user"] != nil || !strings.Contains(r["ticket"].(string), "#")) {
				t.Errorf("%s frame %v: %v", f, r["frame"], r)
			}
		}
	}
}

// withoutOrigin drops what says which evidence named a user (the TGS-REP
// or the keytab) from the rows and findings of r, which are otherwise
// the same either way.
func withoutOrigin(r twinReport) twinReport {
	strip := func(ms []map[string]any) []map[string]any {
		out := make([]map[string]any, len(ms))
		for i, m := range ms {
			c := map[string]any{}
			for k, v := range m {
				if k != "identity_from" && k != "identity_frame" {
					c[k] = v
				}
			}
			out[i] = c
		}
		return out
	}
	r.Users = strip(r.Users)
	return r
}

// TestKDCUDPFragments: TGS-REPs over UDP in IP fragments (IPv4 in order,
// shuffled with a duplicate, IPv6) name the binds that use their tickets,
// at the frame of the fragment that completed the reply; a reply that lost
// a fragment names nobody and is an ip_fragments_incomplete anomaly at its
// first fragment; a fragmented datagram of another port is not read.
func TestKDCUDPFragments(t *testing.T) {
	const name = "kerberos-udp-frag.pcap"
	path := filepath.Join(testdataDir, name)
	m := loadManifest(t, name)
	reps := map[string]int{} // user@REALM -> the frame completing its TGS-REP
	for _, k := range m.KDC {
		if k.Type == "TGS-REP" {
			if k.IPFragments < 2 {
				t.Fatalf("frame %d: the reply is not in fragments", k.Frame)
			}
			reps[k.CName+"@"+k.CRealm] = k.Frame
		}
	}
	named := map[string]bool{}
	unnamed := 0
	for _, r := range callsJSON(t, path) {
		u, _ := r["user"].(string)
		switch {
		case u == "":
			unnamed++
			if !strings.HasPrefix(r["ticket"].(string), "exchangeAB/dc01.contoso.example#") {
				t.Errorf("frame %v: %v", r["frame"], r)
			}
		case r["identity_from"] != "tgs_rep" || int(r["identity_frame"].(float64)) != reps[u]:
			t.Errorf("frame %v: %s named by %v frame %v, want tgs_rep frame %d", r["frame"], u, r["identity_from"], r["identity_frame"], reps[u])
		default:
			named[u] = true
		}
	}
	if len(named) != 3 || unnamed != 5 {
		t.Errorf("named %v, %d unnamed calls", named, unnamed)
	}
	res := pipeline.Run([]string{path}, pipeline.Options{}, &collect{})
	if res.Kerberos.Messages != int64(len(m.KDC)) || res.Kerberos.Malformed != 0 || res.Stats.IPFragDropped != 1 || res.Stats.IPFragUnknown != 0 {
		t.Errorf("kerberos %+v, capture %+v", res.Kerberos, res.Stats)
	}
	var lost *pipeline.Anomaly
	for i, a := range res.Anomalies {
		if a.Kind == pipeline.AnomalyIPFragmentsIncomplete {
			lost = &res.Anomalies[i]
		}
	}
	// dave's reply: the fragment after his TGS-REQ is its first.
	if lost == nil || lost.Count != 1 || int(lost.First.Frame) != m.KDC[len(m.KDC)-1].Frame+1 || len(res.Anomalies) != 1 {
		t.Errorf("anomalies %+v", res.Anomalies)
	}
	// With the keytab every user is named, dave too, with the same counts.
	kt := keytabOf(t, path)
	nokey, withKey := twinAnalyze(t, path), twinAnalyze(t, "--keytab", kt, path)
	if len(withKey.Users) != 4 || !reflect.DeepEqual(nokey.Totals, withKey.Totals) {
		t.Errorf("with the keytab: users %v, totals %v and %v", withKey.Users, nokey.Totals, withKey.Totals)
	}
}

// TestKDCFAST: FAST-armored exchanges (RFC 6113). The outer reply of an
// armored TGS exchange (implicit armor, or a compound identity request
// armored with the computer's TGT) names its client, and the binds with its
// ticket are named from it; a reply that hides its client (the anonymous
// principal, or no name) names nobody, and the anonymous principal of an
// anonymous PKINIT armor ticket never becomes a user anywhere. tshark sees
// PA-FX-FAST with its armored data in every armored message, and the
// anonymous principal where nspicap names nobody.
func TestKDCFAST(t *testing.T) {
	const name = "kerberos-fast.pcap"
	path := filepath.Join(testdataDir, name)
	m := loadManifest(t, name)
	reps := map[string]int{}
	var hidden []int // frames of the TGS-REPs that hide their client
	for _, k := range m.KDC {
		if k.Type == "TGS-REP" {
			if k.CName == "" || strings.HasPrefix(k.CName, "WELLKNOWN") {
				hidden = append(hidden, k.Frame)
			} else {
				reps[k.CName+"@"+k.CRealm] = k.Frame
			}
		}
	}
	if len(reps) != 2 || len(hidden) != 2 {
		t.Fatalf("manifest: replies %v, hidden %v", reps, hidden)
	}
	named, labels := map[string]bool{}, map[string]bool{}
	for _, r := range callsJSON(t, path) {
		u, _ := r["user"].(string)
		if u == "" {
			labels[r["ticket"].(string)] = true
			continue
		}
		if r["identity_from"] != "tgs_rep" || int(r["identity_frame"].(float64)) != reps[u] {
			t.Errorf("frame %v: %s named by %v frame %v, want tgs_rep frame %d", r["frame"], u, r["identity_from"], r["identity_frame"], reps[u])
		}
		named[u] = true
	}
	if len(named) != 2 || len(labels) != 2 {
		t.Errorf("named %v, unnamed tickets %v", named, labels)
	}
	for _, args := range [][]string{{"calls", "--format", "jsonl"}, {"analyze", "--format", "json"}, {"analyze"}, {"sessions"}} {
		out, errOut, code := nspicap(t, append(args, path)...)
		if code != 0 || strings.Contains(strings.ToUpper(out+errOut), "WELLKNOWN") {
			t.Errorf("nspicap %v: exit %d, the anonymous principal in the output: %.300s", args, code, out)
		}
	}
	res := pipeline.Run([]string{path}, pipeline.Options{}, &collect{})
	// Armored replies: frank's AS-REP and the 4 TGS-REPs; hidden: the
	// anonymous AS-REP, carol's and dave's TGS-REPs.
	if k := res.Kerberos; k.Messages != int64(len(m.KDC)) || k.Malformed != 0 || k.Armored != 5 || k.Hidden != 3 || k.Issued != 3 || k.Named != 2 || k.Unnamed != 2 {
		t.Errorf("kerberos %+v", k)
	}
	kt := keytabOf(t, path)
	nokey, withKey := twinAnalyze(t, path), twinAnalyze(t, "--keytab", kt, path)
	if len(withKey.Users) != 4 || !reflect.DeepEqual(nokey.Totals, withKey.Totals) {
		t.Errorf("with the keytab: users %v, totals %v and %v", withKey.Users, nokey.Totals, withKey.Totals)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	out, err := exec.Command("tshark", "-r", path, "-Y", "kerberos.padata_type == 136", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "kerberos.msg_type", "-e", "kerberos.armored_data_element", "-e", "kerberos.enc_fast_rep_element",
		"-e", "kerberos.CNameString", "-e", "kerberos.name_type").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	armored := 0
	ts := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 6 || f[2] == "" {
			t.Errorf("tshark: PA-FX-FAST without armored data: %q", l)
			continue
		}
		armored++
		ts[f[0]] = f
	}
	// frank's AS exchange, and the 4 TGS exchanges: 10 armored messages.
	if armored != 10 {
		t.Errorf("tshark sees %d armored messages, want 10", armored)
	}
	// carol's reply names the anonymous principal (KRB_NT_WELLKNOWN),
	// dave's no one; both are armored TGS-REPs.
	carol, dave := ts[strconv.Itoa(hidden[0])], ts[strconv.Itoa(hidden[1])]
	if carol == nil || carol[1] != "13" || carol[3] == "" || carol[4] != "WELLKNOWN,ANONYMOUS" || !strings.HasPrefix(carol[5], "11,") {
		t.Errorf("frame %d: tshark %q", hidden[0], carol)
	}
	if dave == nil || dave[1] != "13" || dave[3] == "" || dave[4] != "" {
		t.Errorf("frame %d: tshark %q", hidden[1], dave)
	}
}
