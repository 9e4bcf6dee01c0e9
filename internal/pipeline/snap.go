package pipeline

import (
	"fmt"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/smb"
)

// The capture's snap length: the capture layer hands the bytes it cut to
// conn.Cut (capture.Cutter), the DCE/RPC layer marks what they cut
// (dcerpc.Message.Cut, dcerpc.Security.Cut), and the pipeline counts the
// calls they touched per input and says so in one warning per input,
// instead of gap anomalies: nothing was lost in transit or misread, and a
// user whose name was cut is unknown, never anonymous.

// Cut is capture.Cutter: the snap length cut the end of the segment just
// delivered.
func (k *conn) Cut(dir capture.Dir, pos capture.Pos, n int) {
	k.cut = true
	if k.mode == modeSMB {
		if !k.smb.Cut(smb.Dir(dir), smb.Pos(pos), n) {
			return
		}
		if pos.File >= 0 && pos.File < len(k.r.cutSMB) {
			k.r.cutSMB[pos.File]++
		}
		// The message dropped belonged to one of the pipes, open or to
		// come: each is told that this direction was cut.
		k.cutDirs[dir] = true
		k.smb.EachPipe(func(p *smb.Pipe) {
			if pk, _ := p.Ctx.(*conn); pk != nil {
				pk.markCut(k.cutDirs)
			}
		})
		return
	}
	if k.mode == modeHTTP {
		k.httpGap(dir, pos, n, (*dcerpc.Conn).Cut)
		return
	}
	if k.mid != nil {
		k.midMissing(dir, pos, n, true)
	}
	k.missing(dir, pos, n, (*dcerpc.Conn).Cut)
}

// callCut reports whether the snap length cut something of the call: its
// stubs or status, or a token of its handshake that would name its user or
// give the keys to its sealed stubs.
func callCut(c *dcerpc.Call) bool {
	return c.Sec.Cut && (c.Sec.User == "" || c.Sealed()) || c.Request != nil && c.Request.Cut || c.Response != nil && c.Response.Cut
}

// countCut counts a call the snap length cut, in the input of its first
// frame.
func (r *runner) countCut(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) {
	if !callCut(c) {
		return
	}
	f := reqPos.File
	if c.Request == nil {
		f = replyPos.File
	}
	if f >= 0 && f < len(r.cutCalls) {
		r.cutCalls[f]++
	}
}

// snapWarnings adds to each input whose records were cut one warning that
// names the snap length and the calls it touched.
func snapWarnings(inputs []capture.InputInfo, cutCalls, cutSMB []int64) {
	for i := range inputs {
		in := &inputs[i]
		if in.Cut == 0 {
			continue
		}
		var n int64
		if i < len(cutCalls) {
			n = cutCalls[i]
		}
		calls := "no DCE/RPC call was seen cut"
		if n > 0 {
			calls = fmt.Sprintf("it cut %s (their user, stub or status may be unknown)", plural(int(n), "DCE/RPC call", "DCE/RPC calls"))
		}
		if i < len(cutSMB) && cutSMB[i] > 0 {
			calls += fmt.Sprintf("; it cut %s of named pipes, dropped with the calls they carried", plural(int(cutSMB[i]), "SMB message", "SMB messages"))
		}
		in.Warnings = append(in.Warnings, fmt.Sprintf("the capture's snap length cut %s to %d bytes: %s; capture whole packets (tcpdump -s 0; netsh trace without packettruncatebytes)",
			plural(int(in.Cut), "record", "records"), in.SnapLen, calls))
	}
}

// markCut tells a pipe's DCE/RPC connection which directions of its SMB
// connection the snap length cut.
func (k *conn) markCut(dirs [2]bool) {
	for d, cut := range dirs {
		if cut {
			k.cut = true
			k.c.MarkCut(dcerpc.Dir(d))
		}
	}
}
