package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestChunkedTwin: rpch-chunked.pcap is rpch-outside.pcap with chunked
// transfer coding on the OUT channels' responses and on one IN channel's
// body (chunks cut inside PDUs, TCP segments cut inside chunk-size lines):
// the same calls, statuses, users and sessions, and no anomaly. Only the
// frame numbers and times differ.
func TestChunkedTwin(t *testing.T) {
	type call struct {
		Op, Status, User, Transport, Client string
		CallID                              uint32
		Answered                            bool
	}
	calls := map[string][]call{}
	for _, f := range []string{"rpch-outside.pcap", "rpch-chunked.pcap"} {
		got, res := runPipeline(t, filepath.Join(testdataDir, f))
		if len(res.Anomalies) != 0 {
			t.Errorf("%s: anomalies %+v", f, res.Anomalies)
		}
		for _, c := range got.calls {
			if c.Event == nil {
				continue
			}
			calls[f] = append(calls[f], call{c.Row.Op, str(c.Row.Status), str(c.Row.User), c.Row.Transport, c.Row.Client, c.Row.CallID, c.Row.ReplyFrame != nil})
		}
	}
	if w, g := calls["rpch-outside.pcap"], calls["rpch-chunked.pcap"]; len(w) != 5 || !reflect.DeepEqual(w, g) {
		t.Errorf("calls differ:\ncontent-length %+v\nchunked        %+v", w, g)
	}
	// The report and the sessions, frames and inputs aside.
	for _, args := range [][]string{{"analyze", "--format", "json"}, {"sessions", "--format", "jsonl"}} {
		var outs []any
		for _, f := range []string{"rpch-outside.pcap", "rpch-chunked.pcap"} {
			out, errOut, code := nspicap(t, append(args, filepath.Join(testdataDir, f))...)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", args[0], f, code, errOut)
			}
			var v []any
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if args[0] == "analyze" {
					line = out
				}
				var x any
				if err := json.Unmarshal([]byte(line), &x); err != nil {
					t.Fatalf("%s %s: %v", args[0], f, err)
				}
				v = append(v, dropFrames(x))
				if args[0] == "analyze" {
					break
				}
			}
			outs = append(outs, v)
		}
		if !reflect.DeepEqual(outs[0], outs[1]) {
			t.Errorf("nspicap %s differs beyond frames:\ncontent-length %v\nchunked        %v", args[0], outs[0], outs[1])
		}
	}
}

// dropFrames removes from a decoded JSON value what names frames, files,
// times (the chunked twin's packets are more, so its times drift by
// microseconds and its capture lasts a second longer: the timeline too) and
// inputs.
func dropFrames(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			if strings.Contains(k, "frame") || strings.Contains(k, "file") || strings.Contains(k, "time") || k == "inputs" {
				delete(x, k)
				continue
			}
			x[k] = dropFrames(x[k])
		}
	case []any:
		for i := range x {
			x[i] = dropFrames(x[i])
		}
	}
	return v
}

// TestTsharkChunked: tshark de-chunks the HTTP bodies of rpch-chunked.pcap
// that end (the last chunk is in the capture) and dissects the DCE/RPC PDUs
// of the de-chunked body in the frame that completes it. Every NSPI request
// and answer nspicap reads there must be one tshark reads in that body
// (same call_id, opnum, status), and the frames nspicap reports for the
// request and the answer must be segments of that body (tshark's
// tcp.reassembled_in names the body's frame).
func TestTsharkChunked(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	path := filepath.Join(testdataDir, "rpch-chunked.pcap")
	out, err := exec.Command("tshark", "-2", "-n", "-r", path, "-T", "fields", "-E", "separator=/t",
		"-e", "frame.number", "-e", "tcp.reassembled_in", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_call_id",
		"-e", "dcerpc.opnum", "-e", "dcerpc.cn_alloc_hint", "-e", "dcerpc.stub_data").Output()
	if err != nil {
		t.Fatal(err)
	}
	reasm := map[int]int{} // segment -> frame of the body it belongs to
	type pdu struct {
		ptype, callID, opnum, status string
	}
	bodies := map[int][]pdu{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 7 {
			continue
		}
		frame, _ := strconv.Atoi(f[0])
		if r, err := strconv.Atoi(f[1]); err == nil {
			reasm[frame] = r
		}
		if f[2] == "" {
			continue
		}
		types, ids := strings.Split(f[2], ","), strings.Split(f[3], ",")
		opnums, hints, stubs := strings.Split(f[4], ","), strings.Split(f[5], ","), strings.Split(f[6], ",")
		// alloc_hint is in every request and response; opnum in requests;
		// the stub in those that have one (here, every response and
		// request).
		nReq, nHint := 0, 0
		for i, ty := range types {
			p := pdu{ptype: ty, callID: ids[i]}
			switch ty {
			case "0":
				p.opnum = opnums[nReq]
				nReq++
				nHint++
			case "2":
				stub, _ := hex.DecodeString(stubs[nHint])
				if n, _ := strconv.Atoi(hints[nHint]); n >= 4 && n <= len(stub) {
					p.status = fmt.Sprintf("0x%08x", binary.LittleEndian.Uint32(stub[n-4:n]))
				}
				nHint++
			}
			bodies[frame] = append(bodies[frame], p)
		}
	}
	body := func(frame int) int {
		if r, ok := reasm[frame]; ok {
			return r
		}
		return frame
	}
	has := func(frame int, want pdu) bool {
		for _, p := range bodies[frame] {
			if p == want {
				return true
			}
		}
		return false
	}
	got, _ := runPipeline(t, path)
	nReq, nResp := 0, 0
	for _, c := range got.calls {
		if c.Event == nil {
			continue
		}
		id := strconv.Itoa(int(c.Row.CallID))
		if rq := c.Raw.Request; rq != nil {
			if b := body(int(rq.LastPos.Frame)); len(bodies[b]) > 0 {
				nReq++
				if body(int(c.Row.Frame)) != b || !has(b, pdu{ptype: "0", callID: id, opnum: strconv.Itoa(int(c.Row.Opnum))}) {
					t.Errorf("request frame %d (completed in %d, body %d): tshark has no request call_id %s opnum %d there: %+v", c.Row.Frame, rq.LastPos.Frame, b, id, c.Row.Opnum, bodies[b])
				}
			}
		}
		if rs := c.Raw.Response; rs != nil && c.Row.Status != nil {
			b := body(int(rs.LastPos.Frame))
			nResp++
			if body(int(*c.Row.ReplyFrame)) != b || !has(b, pdu{ptype: "2", callID: id, status: *c.Row.Status}) {
				t.Errorf("answer frame %d (completed in %d, body %d): tshark has no response call_id %s status %s there: %+v", *c.Row.ReplyFrame, rs.LastPos.Frame, b, id, *c.Row.Status, bodies[b])
			}
		}
	}
	// bob's three answers and carol's two, carol's two requests (bob's
	// IN channel has a Content-Length body that never ends: tshark does
	// not dissect it).
	if nReq != 2 || nResp != 5 {
		t.Errorf("checked %d requests and %d answers against tshark, want 2 and 5", nReq, nResp)
	}
}
