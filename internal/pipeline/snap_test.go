package pipeline

import (
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
)

// TestSnapWarnings: one warning per input whose records were cut, with the
// snap length, the calls cut and the SMB messages cut; none for a whole
// input.
func TestSnapWarnings(t *testing.T) {
	ins := []capture.InputInfo{{Path: "a"}, {Path: "b", Cut: 5, SnapLen: 200, Warnings: []string{"earlier"}}, {Path: "c", Cut: 1, SnapLen: 96}}
	snapWarnings(ins, []int64{0, 3, 0}, []int64{0, 0, 4})
	want := [][]string{nil,
		{"earlier", "the capture's snap length cut 5 records to 200 bytes: it cut 3 DCE/RPC calls (their user, stub or status may be unknown); capture whole packets (tcpdump -s 0; netsh trace without packettruncatebytes)"},
		{"the capture's snap length cut 1 record to 96 bytes: no DCE/RPC call was seen cut; it cut 4 SMB messages of named pipes, dropped with the calls they carried; capture whole packets (tcpdump -s 0; netsh trace without packettruncatebytes)"}}
	for i, in := range ins {
		if len(in.Warnings) != len(want[i]) {
			t.Fatalf("%s: warnings %q", in.Path, in.Warnings)
		}
		for j := range want[i] {
			if in.Warnings[j] != want[i][j] {
				t.Errorf("%s: %q\nwant %q", in.Path, in.Warnings[j], want[i][j])
			}
		}
	}
}

// TestCallCut: what makes a call cut.
func TestCallCut(t *testing.T) {
	whole := &dcerpc.Message{Complete: true}
	cut := &dcerpc.Message{Complete: true, Damaged: true, Cut: true}
	lost := &dcerpc.Message{Complete: true, Damaged: true}
	for _, c := range []struct {
		call dcerpc.Call
		want bool
	}{
		{dcerpc.Call{Request: whole, Response: whole, Sec: dcerpc.Security{Authenticated: true, User: `C\a`}}, false},
		{dcerpc.Call{Request: lost, Response: whole}, false},
		{dcerpc.Call{Request: cut, Response: whole}, true},
		{dcerpc.Call{Request: whole, Response: cut}, true},
		{dcerpc.Call{Request: whole, Sec: dcerpc.Security{Authenticated: true, Cut: true}}, true},
		// A named user whose handshake was cut: cut only if its calls
		// stay sealed (the keys may have been cut).
		{dcerpc.Call{Request: whole, Sec: dcerpc.Security{Authenticated: true, User: `C\a`, Cut: true}}, false},
		{dcerpc.Call{Request: &dcerpc.Message{Complete: true, Sealed: true}, Sec: dcerpc.Security{Authenticated: true, User: `C\a`, Cut: true}}, true},
	} {
		if got := callCut(&c.call); got != c.want {
			t.Errorf("%+v: cut %v, want %v", c.call, got, c.want)
		}
	}
}
