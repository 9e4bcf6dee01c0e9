package main

import (
	"bytes"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/report"
	"github.com/nspicap/nspicap/internal/synth"
)

// leakCapture writes a capture in which CONTOSO\alice binds NSPI four
// times without unbinding, is refused twice (MAPI_E_LOGON_FAILED), makes a
// call, and closes: over an SMB2 named pipe (\PIPE\lsass) when pipe, over
// TCP otherwise. The behaviour is the same; only the transport differs.
func leakCapture(t *testing.T, pipe bool) string {
	t.Helper()
	c := synth.NewCapture("transport")
	dc := netip.AddrFrom4([4]byte{198, 51, 100, 10})
	alice := netip.AddrFrom4([4]byte{192, 0, 2, 80})
	var r *synth.RPC
	var cn *synth.Conn
	var q *synth.SMBPipe
	if pipe {
		cn = c.NewConn(netip.AddrPortFrom(alice, 49800), netip.AddrPortFrom(dc, 445))
		cn.Open()
		s := c.NewSMB(cn, 2)
		s.Logon(synth.Alice, synth.DC01)
		c.Advance(10 * time.Millisecond)
		q = s.OpenPipe("lsass", synth.PipeWriteRead)
		r = c.NewRPC(cn, 1)
		r.Pipe = q
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), NewAssoc: 0x3000, SecAddr: `\PIPE\lsass`, PadByte: 0x5c})
		r.User, r.Auth = synth.Alice.Name(), synth.AuthNTLM
	} else {
		cn = c.NewConn(netip.AddrPortFrom(alice, 49800), netip.AddrPortFrom(dc, synth.NSPIPort))
		cn.Open()
		r = c.NewRPC(cn, 1)
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), NewAssoc: 0x3000, SecAddr: "4997",
			Auth: synth.AuthNTLM, Creds: synth.Alice, Target: synth.DC01})
	}
	var h [20]byte
	for range 4 {
		h = r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
		c.Advance(time.Minute)
	}
	for range 2 {
		r.NspiBind(synth.BindResult{Status: analyze.StatusLogonFailed, ClientGUID: &synth.UUID{}})
		c.Advance(time.Minute)
	}
	r.NspiQueryRows(h, 0, 0)
	if q != nil {
		q.Close()
	}
	cn.CloseFIN(synth.C2S)
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	name := "tcp.pcap"
	if pipe {
		name = "pipe.pcap"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTransportNamedPipe: calls over an SMB named pipe carry transport
// ncacn_np in `calls`, in the sessions and refusals, and in the findings
// (transports); the verdict, the counters and the findings' kinds,
// severities, counts and messages are those of the same behaviour over
// TCP, which says ncacn_ip_tcp.
func TestTransportNamedPipe(t *testing.T) {
	reports := map[bool]*analyze.Report{}
	for _, pipe := range []bool{false, true} {
		path := leakCapture(t, pipe)
		want := "ncacn_ip_tcp"
		if pipe {
			want = "ncacn_np"
		}
		got, _ := runPipeline(t, path)
		nspi := 0
		for _, c := range got.calls {
			if c.Row.Transport != want {
				t.Errorf("%s frame %d: calls transport %q, want %q", want, c.Row.Frame, c.Row.Transport, want)
			}
			if c.Row.Interface == "nspi" {
				nspi++
			}
		}
		if nspi != 7 {
			t.Errorf("%s: %d NSPI calls, want 7", want, nspi)
		}
		var stderr bytes.Buffer
		r, bad := analysis([]string{path}, 4, defaultLimitFlags(), false, nil, &stderr)
		if bad {
			t.Fatalf("%s: %s", path, stderr.String())
		}
		reports[pipe] = r
		if len(r.Sessions) != 4 || len(r.Refusals) != 2 {
			t.Fatalf("%s: %d sessions, %d refusals; want 4 and 2", want, len(r.Sessions), len(r.Refusals))
		}
		for _, s := range r.Sessions {
			if s.Transport != want || s.ClientAddress != "" {
				t.Errorf("%s: session transport %q client_address %q", want, s.Transport, s.ClientAddress)
			}
		}
		for _, x := range r.Refusals {
			if x.Transport != want {
				t.Errorf("%s: refusal transport %q", want, x.Transport)
			}
		}
		for _, k := range []string{analyze.KindLeak, analyze.KindSessionLimit} {
			fs := findings(r, k)
			if len(fs) != 1 || !slices.Equal(fs[0].Transports, []string{want}) {
				t.Errorf("%s: %s findings %+v, want one over %s", want, k, fs, want)
			}
		}
		var sess bytes.Buffer
		if err := report.WriteSessions(&sess, "table", r.Sessions); err != nil {
			t.Fatal(err)
		}
		if pipe != strings.Contains(sess.String(), "OVER") {
			t.Errorf("%s: sessions table:\n%s", want, sess.String())
		}
	}
	tcp, np := reports[false], reports[true]
	if !slices.Equal(tcp.Verdict, np.Verdict) {
		t.Errorf("verdicts differ:\ntcp  %q\npipe %q", tcp.Verdict, np.Verdict)
	}
	if !strings.Contains(strings.Join(np.Verdict, " "), `CONTOSO\alice leaks NSPI sessions: 6 binds, 0 unbinds; binds were refused from the 5th on (limit 4).`) {
		t.Errorf("verdict %q", np.Verdict)
	}
	if tcp.Totals != np.Totals || len(tcp.Users) != 1 || len(np.Users) != 1 || tcp.Users[0].Counters != np.Users[0].Counters {
		t.Errorf("counters differ: tcp %+v %+v, pipe %+v %+v", tcp.Totals, tcp.Users, np.Totals, np.Users)
	}
	if len(tcp.Findings) != len(np.Findings) {
		t.Fatalf("%d findings over TCP, %d over the pipe", len(tcp.Findings), len(np.Findings))
	}
	for i := range tcp.Findings {
		a, b := tcp.Findings[i], np.Findings[i]
		if a.Kind != b.Kind || a.Severity != b.Severity || a.Count != b.Count || a.User != b.User || a.Client != b.Client ||
			a.Message != b.Message || math.Abs(a.RatePerHour-b.RatePerHour) > 0.01 { // SMB adds milliseconds
			t.Errorf("finding %d differs:\ntcp  %+v\npipe %+v", i, a, b)
		}
	}
}
