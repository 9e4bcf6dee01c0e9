package pipeline

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/internal/testutil"
)

// What one connection open at once may cost on the heap, outside the byte
// budgets: in the pipeline (capture, DCE/RPC, this runner), and in the
// analyzer for the connection and for a session with its client row
// (bounded apart, by --max-open-sessions and --max-rows: the analyzer's
// share, analyze.TestMemoryWorstCase). The README's sum counts --max-conns
// times maxConnCost.
const (
	maxConnCost         = 2688
	maxConnAnalyzerCost = 1024
	maxSessionCost      = 1024
)

// costSink feeds the analyzer, and measures the heap once the last of the
// connections has bound its NSPI session: every connection is then open.
type costSink struct {
	a     *analyze.Analyzer
	binds int
	want  int
	heap  uint64
}

func (s *costSink) Call(c *Call) {
	if c.Event != nil {
		if s.a != nil {
			s.a.Add(c.Event)
		}
		if c.Event.Op == analyze.OpOpen {
			if s.binds++; s.binds == s.want {
				s.heap = testutil.HeapAfterGC()
			}
		}
	}
}

func (s *costSink) ConnEnd(ev *analyze.ConnEnd) {
	if s.a != nil {
		s.a.Add(ev)
	}
}

// TestConnCost measures what a DCE/RPC connection costs while it is open:
// each connection binds NSPI with NTLM, makes a successful NspiBind and stays
// open, so that every layer keeps its state for it.
func TestConnCost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 16000
	c := synth.NewCapture("conncost")
	for i := range n {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 50000)
		cn := c.NewConn(client, netip.MustParseAddrPort("10.0.0.1:4997"))
		cn.Open()
		r := c.NewRPC(cn, 1)
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), Auth: synth.AuthNTLM,
			Creds: synth.Creds{Domain: "CONTOSO", User: "user" + string(rune('a'+i%26)), Workstation: "WS"}, Target: synth.DC01,
			NewAssoc: uint32(i + 1), SecAddr: "4997"})
		r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	}
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "conns.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	data, c = nil, nil
	// The pipeline alone (capture, DCE/RPC, runner), then with the
	// analyzer, which adds per connection its session and client row
	// (bounded apart, by --max-open-sessions and --max-rows) and what it
	// keeps per connection.
	for _, tc := range []struct {
		name string
		a    *analyze.Analyzer
		max  int
	}{{"pipeline", nil, maxConnCost}, {"pipeline and analyzer", analyze.New(analyze.Options{}), maxConnCost + maxConnAnalyzerCost + maxSessionCost}} {
		s := &costSink{a: tc.a, want: n}
		base := testutil.HeapAfterGC()
		Run([]string{path}, Options{}, s)
		if s.binds != n {
			t.Fatalf("%d binds seen, want %d", s.binds, n)
		}
		per := (int(s.heap) - int(base)) / n
		t.Logf("%s: %d bytes per open connection", tc.name, per)
		if per > tc.max {
			t.Errorf("%s: an open connection costs %d bytes, more than the %d the README counts", tc.name, per, tc.max)
		}
	}
}
