package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/emsmdb"
	"github.com/nspicap/nspicap/epm"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/nspi"
)

// A code's name lives in the table of the protocol that defines it; these
// are the tables every output must ask.
var nameTables = []struct {
	name  string
	codes []dcerpc.Code
}{
	{"nspi", nspi.Statuses},
	{"dcerpc faults", dcerpc.Faults},
	{"emsmdb", emsmdb.Statuses},
	{"epm", epm.Statuses},
}

// otherNames are the names that tables other than own give to v: a row that
// names v must not use one of them.
func otherNames(own string, v uint32) []string {
	var out []string
	for _, tab := range nameTables {
		if tab.name == own {
			continue
		}
		for _, c := range tab.codes {
			if c.Value == v {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

var (
	namesServer = netip.MustParseAddr("198.51.100.10")
	namesBob    = synth.Creds{Domain: "CONTOSO", User: "bob", Workstation: "WS01"}
)

// namesConn opens a connection from client n to port and binds iface on it.
func namesConn(c *synth.Capture, n byte, port uint16, iface synth.SyntaxID, auth string) *synth.RPC {
	cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, n}), 50000+uint16(n)), netip.AddrPortFrom(namesServer, port))
	cn.Open()
	r := c.NewRPC(cn, 1)
	spec := synth.BindSpec{Contexts: synth.WindowsContexts(iface, 0), NewAssoc: 0x1000 + uint32(n), SecAddr: fmt.Sprint(port)}
	if auth != "" {
		spec.Auth, spec.Creds, spec.Target = auth, namesBob, synth.DC01
	}
	r.Bind(spec)
	return r
}

// namesRun writes the capture and returns what each command prints.
func namesRun(t *testing.T, c *synth.Capture) map[string]string {
	t.Helper()
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "names.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, args := range [][]string{
		{"analyze", "--format", "json"}, {"analyze"}, {"calls"}, {"calls", "--format", "jsonl"},
		{"sessions"}, {"sessions", "--format", "jsonl"}, {"endpoints", "--format", "jsonl"},
	} {
		o, e, code := nspicap(t, append(args, path)...)
		if code != exitOK && code != exitFindings {
			t.Fatalf("nspicap %v: exit %d: %s", args, code, e)
		}
		out[strings.Join(args, " ")] = o
	}
	return out
}

// callNames returns the status_name and fault_name of every call row of op.
func callNames(t *testing.T, jsonl, op string) (status, fault []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var r struct {
			Op, StatusName, FaultName string
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("calls line %q: %v", line, err)
		}
		r.Op, _ = raw["op"].(string)
		r.StatusName, _ = raw["status_name"].(string)
		r.FaultName, _ = raw["fault_name"].(string)
		if r.Op == op {
			status, fault = append(status, r.StatusName), append(fault, r.FaultName)
		}
	}
	if len(status) == 0 {
		t.Fatalf("no %s row in calls", op)
	}
	return status, fault
}

// TestNamesAgree walks every code of every name table, puts it in a
// generated capture where each output path meets it, and checks that every
// path names it as its table does: findings (analyze, text and JSON), the
// calls table and JSON lines, sessions and endpoints; and that no row uses
// the name another table gives the same value.
func TestNamesAgree(t *testing.T) {
	type check struct{ out, want string }
	for _, tab := range nameTables {
		for _, code := range tab.codes {
			v, name := code.Value, code.Name
			t.Run(fmt.Sprintf("%s/0x%08x", tab.name, v), func(t *testing.T) {
				c := synth.NewCapture("names")
				var mustHave []check // outputs that must show the name
				op := ""
				switch tab.name {
				case "nspi":
					// NspiBind answered v, and NspiUnbind answered v.
					r := namesConn(c, 1, synth.NSPIPort, synth.SyntaxNSPI, synth.AuthNTLM)
					r.NspiBind(synth.BindResult{Status: v, ClientGUID: &synth.UUID{}})
					r = namesConn(c, 2, synth.NSPIPort, synth.SyntaxNSPI, synth.AuthNTLM)
					h := r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
					r.NspiUnbind(h, v)
					op = "NspiUnbind"
					if v != nspi.UnbindSuccess {
						// A failed unbind is a finding that names the status.
						mustHave = append(mustHave, check{"analyze --format json", fmt.Sprintf("0x%08x %s", v, name)},
							check{"analyze", fmt.Sprintf("0x%08x %s", v, name)})
					}
				case "dcerpc faults":
					r := namesConn(c, 1, synth.NSPIPort, synth.SyntaxNSPI, synth.AuthNTLM)
					r.Call(synth.CallSpec{Ctx: 0, Opnum: 0, Op: "NspiBind", Fault: v,
						Req: synth.NspiBindReq(false, 0, synth.DefaultSTAT, &synth.UUID{})})
					op = "NspiBind"
					mustHave = append(mustHave, check{"analyze --format json", fmt.Sprintf("fault 0x%08x %s", v, name)},
						check{"analyze", fmt.Sprintf("fault 0x%08x %s", v, name)},
						check{"calls", fmt.Sprintf("fault 0x%08x %s", v, name)})
				case "emsmdb":
					r := namesConn(c, 1, synth.EMSMDBPort, synth.SyntaxEMSMDB, synth.AuthNTLM)
					r.EcDoConnect(0, "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bob", "Bob", v)
					op = "EcDoConnect"
					if v != 0 {
						mustHave = append(mustHave, check{"analyze --format json", fmt.Sprintf("%s (0x%08x", name, v)})
					}
				case "epm":
					r := namesConn(c, 1, 135, synth.SyntaxEPM, "")
					r.EptMapStatus(synth.SyntaxNSPI, v)
					op = "ept_map"
					if v != epm.StatusOK {
						// endpoints prints the state without the ept_s_ prefix.
						mustHave = append(mustHave, check{"endpoints --format jsonl", `"status":"` + strings.TrimPrefix(name, "ept_s_") + `"`})
					}
					if v == epm.StatusNotRegistered {
						mustHave = append(mustHave, check{"analyze --format json", name})
					}
				}
				out := namesRun(t, c)
				status, fault := callNames(t, out["calls --format jsonl"], op)
				got := status
				if tab.name == "dcerpc faults" {
					got = fault
				}
				for _, g := range got {
					if g != name {
						t.Errorf("calls --format jsonl names %s 0x%08x %q, its table %q", op, v, g, name)
					}
				}
				if !strings.Contains(out["calls"], name) {
					t.Errorf("the calls table does not name 0x%08x %q:\n%s", v, name, out["calls"])
				}
				for _, m := range mustHave {
					if !strings.Contains(out[m.out], m.want) {
						t.Errorf("nspicap %s does not name 0x%08x as %q:\n%s", m.out, v, m.want, out[m.out])
					}
				}
				// Rows name a code once: the name of another table for the
				// same value would be a second name.
				for _, other := range otherNames(tab.name, v) {
					if other == name {
						continue
					}
					for _, k := range []string{"calls", "calls --format jsonl", "sessions", "sessions --format jsonl", "endpoints --format jsonl"} {
						if strings.Contains(out[k], other) {
							t.Errorf("nspicap %s names 0x%08x %q, not %q", k, v, other, name)
						}
					}
				}
			})
		}
	}
}
