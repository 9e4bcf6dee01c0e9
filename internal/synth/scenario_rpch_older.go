package synth

import (
	"net/netip"
	"time"
)

// RPC over HTTP channels opened before the capture: the inside leg of
// virtual connections whose banner, CONN/A2, CONN/B2 and bind are not in
// the capture.

func rpchOlderScenarios() []Scenario {
	return []Scenario{
		{Name: "rpch-older", File: "rpch-older.pcap", Format: FormatPcap,
			Description: "Inside leg of RPC over HTTP v2 (RPC proxy 192.0.2.80 to the DC's port 6004) captured mid-stream: two virtual connections were opened and bound (NTLM, an NspiBind each) before the capture, so none of their four channels starts with the banner or CONN/A2, CONN/B2. Their calls interleave, with the same call_ids on both (NspiQueryRows, NspiGetPropList, NspiUnbind and a new NspiBind); each channel's first captured PDU is a request (IN) or an answer (OUT), and flow control runs on every hop: the client's acknowledgments of the OUT channel (FlowControlAckWithDestination) go up the IN channel and the server passes them down the OUT channel, the server acknowledges the IN channel to the inbound proxy, the outbound proxy the OUT channel to the server. The first virtual connection closes its channels with FIN; the second stays open. CONTOSO\\alice meanwhile binds and unbinds on a virtual connection opened in the capture.",
			Expected:    "The four channels recognised as RPC over HTTP by their RTS PDUs and paired by the channel cookies of the flow control acknowledgments: every call of the old virtual connections answered, over ncacn_http, its interface inferred from alice's bind (bind_elsewhere); no request without an answer, no orphan answer, no anomaly.",
			TsharkArgs:  rpchTshark,
			build:       func(e *env) { buildRPCHOlder(e, true) }},
		{Name: "rpch-older-unpaired", File: "rpch-older-unpaired.pcap", Format: FormatPcap,
			Description: "The calls of rpch-older, but the RTS PDUs of the old virtual connections are Pings, which name no channel: nothing in the capture ties an IN channel to an OUT channel. A third virtual connection opened before the capture has only its IN channel in the capture (its OUT channel passed elsewhere): its flow control acknowledgments name an OUT channel cookie that no captured connection carries.",
			Expected:    "Five channels recognised as RPC over HTTP and reported unpaired (http_channel_older, a notice, once per channel); the IN channels' requests listed without answers (answer_elsewhere) and never counted unanswered; the OUT channels' answers not listed; no orphan answer; alice's session clean.",
			TsharkArgs:  rpchTshark,
			build:       func(e *env) { buildRPCHOlder(e, false) }},
	}
}

func buildRPCHOlder(e *env, paired bool) {
	// Before the capture: the virtual connections are opened and bound.
	e.c.Recording = false
	e.c.now = Start.Add(-20 * time.Minute)
	open := func(behind string, outFirst bool, cr Creds) (*HTTPVC, *RPC, Handle) {
		v := e.NewHTTPVC(proxyAddr, NSPIPort6004, netip.MustParseAddr(behind), false, outFirst, false, cr)
		r := e.c.NewRPCOverHTTP(v, 1)
		r.Bind(e.bindSpec(AuthNTLM, cr))
		h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
		r.Inferred = FromBindElsewhere
		return v, r, h
	}
	v1, r1, h1 := open("203.0.113.45", false, SvcCRM)
	v2, r2, h2 := open("203.0.113.46", true, Bob)
	var v3 *HTTPVC
	var r3 *RPC
	var h3 Handle
	if !paired {
		v3, r3, h3 = open("203.0.113.47", false, Dave)
		v3.Out.Unrecorded = true // its OUT channel passes elsewhere
		v3.FlowEvery = 1
	}
	for _, v := range []*HTTPVC{v1, v2} {
		v.FullFlow, v.PingOnly = paired, !paired
	}
	v1.FlowEvery, v2.FlowEvery = 3, 2
	if !paired {
		v2.FlowEvery = 3 // Pings on both of its channels
	}

	e.c.Recording = true
	e.c.now = Start
	r1.NspiQueryRows(h1, 0, 0)
	r2.NspiQueryRows(h2, 0, 0)
	e.c.Advance(500 * time.Millisecond)
	r2.NspiGetPropList(h2, 0x1a2, 0)
	r1.NspiGetPropList(h1, 0x1a2, 0)
	if r3 != nil {
		r3.NspiQueryRows(h3, 0, 0)
		r3.NspiGetPropList(h3, 0x1a2, 0)
	}
	e.c.Advance(time.Second)

	// alice binds NSPI on 6004 on a virtual connection of the capture.
	va := e.NewHTTPVC(proxyAddr, NSPIPort6004, outsideAddr, false, false, false, Alice)
	ra := e.c.NewRPCOverHTTP(va, 1)
	ra.Bind(e.bindSpec(AuthNTLM, Alice))
	ha := ra.NspiBind(BindResult{ClientGUID: &UUID{}})
	e.c.Advance(time.Second)

	r2.NspiUnbind(h2, StatusUnbindSuccess)
	h2 = r2.NspiBind(BindResult{ClientGUID: &UUID{}})
	r1.NspiUpdateStat(h1, 0)
	r2.NspiQueryRows(h2, 0, 0)
	r1.NspiUnbind(h1, StatusUnbindSuccess)
	ra.NspiUnbind(ha, StatusUnbindSuccess)
	e.c.Advance(time.Second)
	v1.Out.CloseFIN(C2S)
	v1.In.CloseFIN(C2S)
	va.Out.CloseFIN(C2S)
	va.In.CloseFIN(C2S)
	if r3 != nil {
		r3.NspiUnbind(h3, StatusUnbindSuccess)
	}
	// The answers that passed on the unrecorded OUT channel are not in
	// the capture.
	for i := range e.c.Manifest.NSPI {
		if c := &e.c.Manifest.NSPI[i]; c.Reply != "none" && c.ReplyFrame == 0 {
			c.Reply, c.Status, c.StatusHex, c.TsharkStatus = "none", 0, statusHex(0), false
			c.Note = "answered on an OUT channel the capture does not hold"
		}
	}
}
