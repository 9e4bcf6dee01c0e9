package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/report"
)

// TestModernRPCEndpoints: the endpoint mapper answered in NDR64 on one
// presentation context and in NDR20 on another of the same connection;
// every tower is listed with its protocol, host and endpoint apart.
func TestModernRPCEndpoints(t *testing.T) {
	out, errOut, code := nspicap(t, "endpoints", "--format", "jsonl", filepath.Join(testdataDir, "modern-rpc.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r report.EndpointRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Status != "registered" {
			t.Errorf("row %s: status %s", l, r.Status)
		}
		got[r.Interface+" "+r.Protocol+":"+r.Host+"["+r.Endpoint()+"]"] = true
	}
	want := []string{
		"drsuapi ncacn_ip_tcp:198.51.100.10[49668]",
		"spoolss ncacn_ip_tcp:198.51.100.10[49677]",
		"lsarpc ncacn_ip_tcp:198.51.100.10[49665]",
		`lsarpc ncacn_np:\\DC01[\PIPE\lsass]`,
		"lsarpc ncalrpc:[audit]",
		"drsuapi ncacn_http:198.51.100.10[593]",
		`1ff70682-0a51-30e8-076d-740be8cee98b ncacn_np:\\DC01[\PIPE\atsvc]`,
		"nspi ncacn_ip_tcp:198.51.100.10[4997]",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %s in %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(got), len(want), got)
	}
	if strings.Contains(errOut, "ndr64_not_decoded") {
		t.Errorf("EPM in NDR64 reported undecoded: %s", errOut)
	}
}

// TestModernRPCTshark: tshark agrees on the transfer syntaxes negotiated
// and on what it decodes of the NDR64 conversation: the interfaces the
// ept_map requests ask for, the NDR64 array counts and referent IDs of
// the answers, and the NDR20 answer's port. (tshark 4.0 does not follow
// the deferred towers of NDR64 answers: it reads the tower's conformance
// as the return code, 0x4b = 75, the tower's length.)
func TestModernRPCTshark(t *testing.T) {
	acks := tsharkFields(t, "modern-rpc.pcap", "dcerpc.pkt_type == 12", "dcerpc.cn_ack_trans_id")
	if len(acks) != 2 || !strings.Contains(acks[0][0], "71710533-beba-4937-8319-b5dbef9ccc36") || !strings.Contains(acks[0][0], "8a885d04-1ceb-11c9-9fe8-08002b104860") {
		t.Errorf("tshark bind_acks: %v", acks)
	}
	reqs := tsharkFields(t, "modern-rpc.pcap", "epm && dcerpc.pkt_type == 0 && epm.opnum == 3", "frame.number", "epm.uuid", "epm.max_towers")
	want := map[string]string{"6": "e3514235-4b06-11d1-ab04-00c04fc2dcd2", "9": "12345678-1234-abcd-ef00-0123456789ab", "15": "f5cc5a18-4264-101a-8c59-08002b2f8426"}
	if len(reqs) != len(want) {
		t.Fatalf("tshark ept_map requests: %v", reqs)
	}
	for _, r := range reqs {
		if !strings.Contains(r[1], want[r[0]]) || r[2] != "4" {
			t.Errorf("tshark ept_map request %v, want interface %s", r, want[r[0]])
		}
	}
	ndr20 := tsharkFields(t, "modern-rpc.pcap", "epm && dcerpc.pkt_type == 2 && frame.number == 16", "epm.proto.tcp_port", "epm.rc")
	if len(ndr20) != 1 || ndr20[0][0] != "4997" || ndr20[0][1] != "0x00000000" {
		t.Errorf("tshark NDR20 ept_map answer: %v", ndr20)
	}
	out, _, _ := nspicap(t, "endpoints", "--format", "jsonl", filepath.Join(testdataDir, "modern-rpc.pcap"))
	if !strings.Contains(out, `"port":4997`) {
		t.Errorf("nspicap misses the NDR20 tower tshark reads")
	}
}

// TestUnknownInterfaceStatus: a call to an interface outside the table
// gets its return value (the last 4 bytes of the stub) without a name.
func TestUnknownInterfaceStatus(t *testing.T) {
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", filepath.Join(testdataDir, "modern-rpc.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var found bool
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Interface  string  `json:"interface"`
			Status     *string `json:"status"`
			StatusName string  `json:"status_name"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Interface == "3919286a-b10c-11d0-9ba8-00c04fd92ef5" {
			found = true
			if r.Status == nil || *r.Status != "0x00000005" || r.StatusName != "" {
				t.Errorf("MS-DSSP call: status %v name %q", str(r.Status), r.StatusName)
			}
		}
	}
	if !found {
		t.Error("no MS-DSSP call")
	}
	// tshark names the interface (MS-DSSP) and reads the same WERROR.
	rows := tsharkFields(t, "modern-rpc.pcap", "dcerpc.pkt_type == 2 && tcp.srcport == 49670", "dssetup.werror")
	if len(rows) != 1 || rows[0][0] != "0x00000005" {
		t.Errorf("tshark status: %v", rows)
	}
}

// TestSealedAnonymous: an anonymous NTLM session at privacy level is
// decrypted without any keys file (its keys need no password), and no
// warning calls it unauthenticated.
func TestSealedAnonymous(t *testing.T) {
	path := filepath.Join(testdataDir, "sealed-ntlm-anon.pcap")
	m := loadManifest(t, "sealed-ntlm-anon.pcap")
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := sealedCallLines(t, out)
	if len(m.NSPI) != 5 {
		t.Fatalf("manifest: %d NSPI calls", len(m.NSPI))
	}
	for _, w := range m.NSPI {
		c := got[int64(w.RequestFrame)]
		if c.Sealed || c.Status == nil || *c.Status != w.StatusHex {
			t.Errorf("frame %d %s: sealed %v status %v, want decrypted %s", w.RequestFrame, w.Op, c.Sealed, str(c.Status), w.StatusHex)
		}
	}
	if strings.Contains(errOut, "stay sealed") || strings.Contains(errOut, "not in the capture") {
		t.Errorf("warning: %s", errOut)
	}
	// tshark agrees on the anonymous AUTHENTICATE and on every call.
	auth := tsharkFields(t, "sealed-ntlm-anon.pcap", "ntlmssp.messagetype == 3", "ntlmssp.auth.username", "ntlmssp.auth.domain", "ntlmssp.negotiateflags")
	if len(auth) != 1 || auth[0][0] != "NULL" || auth[0][1] != "NULL" {
		t.Errorf("tshark AUTHENTICATE: %v", auth)
	}
	calls := tsharkFields(t, "sealed-ntlm-anon.pcap", "nspi && dcerpc.pkt_type == 0", "frame.number", "nspi.opnum")
	if len(calls) != len(m.NSPI) {
		t.Errorf("tshark: %d NSPI requests, manifest %d", len(calls), len(m.NSPI))
	}
}
