package synth

import (
	"fmt"
	"net/netip"
	"time"
)

// RPC over HTTP (ncacn_http) scenarios: an Exchange RPC proxy in front of
// the domain controller's NSPI on port 6004.

// proxyAddr is the RPC proxy (the inside leg's client); outsideAddr the
// Outlook machine behind it.
var (
	proxyAddr   = client(80)
	outsideAddr = netip.MustParseAddr("203.0.113.45")
)

var rpchTshark = []string{"--disable-protocol", "x11", "-d", "tcp.port==6004,dcerpc"}

// LimitScenario is the service account that binds past the NSPI limit
// next to a user on plain TCP: through an RPC proxy (overHTTP) or straight
// over TCP, the same calls at the same times.
func LimitScenario(overHTTP bool) Scenario {
	if !overHTTP {
		return Scenario{Name: "rpch-limit-tcp", File: "rpch-limit-tcp.pcap", Format: FormatPcap,
			Description: "The calls of rpch-limit over TCP 6004 without the proxy.",
			Expected:    "The findings of rpch-limit.", TsharkArgs: rpchTshark,
			build: func(e *env) { buildRPCHLimit(e, false) }}
	}
	return Scenario{Name: "rpch-limit", File: "rpch-limit.pcap", Format: FormatPcap,
		Description: "Inside leg of RPC over HTTP v2 (RPC proxy 192.0.2.80 to the DC's port 6004): CONTOSO\\svc-crm, behind the proxy at 203.0.113.45, calls NspiBind 60 times on 6 virtual connections (IN and OUT channels each open with the ncacn_http/1.0 banner, CONN/A2, CONN/B2 with the client address, CONN/C1, CONN/B3; NTLM at the DCE/RPC layer; flow control RTS PDUs in front of every third PDU), never unbinding: binds 51-60 return 0x80040111. The first virtual connection recycles its OUT channel (OUT_R1/A4) and then its IN channel (IN_R1/A2). CONTOSO\\alice binds and unbinds on plain TCP 6004 meanwhile.",
		Expected:    "CONTOSO\\svc-crm at the limit: 50 sessions open at the end, 10 authenticated LOGON_FAILED, every call over ncacn_http with client address 203.0.113.45; alice clean over TCP; no anomaly.",
		TsharkArgs:  rpchTshark,
		build:       func(e *env) { buildRPCHLimit(e, true) }}
}

func rpchScenarios() []Scenario {
	return []Scenario{
		LimitScenario(true),
		OutsideScenario(false),
		OutsideScenario(true),
		{Name: "rpch-out-reset", File: "rpch-out-reset.pcap", Format: FormatPcap,
			Description: "Inside leg of RPC over HTTP v2: CONTOSO\\alice binds NSPI (NTLM) on a virtual connection and queries; the OUT channel is reset mid-way (RST from the proxy), the IN channel closes with FIN later. CONTOSO\\dave then binds and unbinds on a new virtual connection.",
			Expected:    "alice's session never unbound, its virtual connection reset (the server runs it down); dave clean; no anomaly.",
			TsharkArgs:  rpchTshark,
			build:       buildRPCHOutReset},
		{Name: "rpch-rfr", File: "rpch-rfr.pcap", Format: FormatPcap,
			Description: "RFR behind an RPC proxy: the inside leg of RPC over HTTP v2 from the proxy 192.0.2.80 to the Exchange server's port 6002 carries the RfrGetNewDSA calls of two Outlook machines behind the proxy, each on its own virtual connection (CONN/B2 names it): 203.0.113.45 (CONTOSO\\alice, twice) and 203.0.113.46 (CONTOSO\\alice). 192.0.2.21 (CONTOSO\\alice) asks the same over plain TCP 6002.",
			Expected:    "Three referral rows to dc01.contoso.example: the proxy 192.0.2.80 with client_address 203.0.113.45 (2 times), the proxy with client_address 203.0.113.46 (once), and 192.0.2.21 without client_address; no anomaly.",
			TsharkArgs:  []string{"--disable-protocol", "x11", "-d", "tcp.port==6002,dcerpc"},
			build:       buildRPCHRFR},
		{Name: "rpch-v1", File: "rpch-v1.pcap", Format: FormatPcap,
			Description: "RPC over HTTP v1 as impacket's ncacn_http binding speaks it: one TCP connection to port 6004, the server's ncacn_http/1.0 banner, then plain DCE/RPC: NTLM bind as CONTOSO\\erin, NspiBind, NspiQueryRows, NspiUnbind, FIN.",
			Expected:    "One clean NSPI session for CONTOSO\\erin over ncacn_http; no anomaly.",
			TsharkArgs:  rpchTshark,
			build:       buildRPCHV1},
	}
}

func buildRPCHLimit(e *env, overHTTP bool) {
	var r *RPC
	var first *HTTPVC
	var alice *RPC
	var ha Handle
	for i := 1; i <= 60; i++ {
		at := time.Duration(i-1) * 2 * time.Minute
		switch i {
		case 6:
			e.at(at - time.Minute)
			cn := e.conn(client(21), NSPIPort6004)
			alice = e.c.NewRPC(cn, 1)
			alice.Bind(e.bindSpec(AuthNTLM, Alice))
			ha = alice.NspiBind(BindResult{ClientGUID: &UUID{}})
			alice.NspiQueryRows(ha, 0, 0)
		case 9:
			e.at(at - 30*time.Second)
			alice.NspiUnbind(ha, StatusUnbindSuccess)
			alice.C.CloseFIN(C2S)
		case 4:
			if overHTTP {
				e.at(at - 20*time.Second)
				e.RecycleOut(first, proxyAddr, NSPIPort6004)
			}
		case 8:
			if overHTTP {
				e.at(at - 20*time.Second)
				e.RecycleIn(first, proxyAddr, NSPIPort6004)
			}
		}
		e.at(at)
		if (i-1)%10 == 0 {
			if overHTTP {
				v := e.NewHTTPVC(proxyAddr, NSPIPort6004, outsideAddr, false, i%20 == 11, false, SvcCRM)
				v.FlowEvery = 3
				if first == nil {
					first = v
				}
				r = e.c.NewRPCOverHTTP(v, 1)
			} else {
				r = e.c.NewRPC(e.conn(proxyAddr, NSPIPort6004), 1)
			}
			r.Bind(e.bindSpec(AuthNTLM, SvcCRM))
		}
		if i <= 50 {
			h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
			r.NspiQueryRows(h, 0, 0)
		} else {
			r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
		}
	}
}

// OutsideScenario is rpch-outside (chunked false: Content-Length bodies)
// or its twin rpch-chunked, whose proxy answers RPC_OUT_DATA with chunked
// transfer coding, and whose second client sends its RPC_IN_DATA body
// chunked too: the same calls and draws, framed otherwise.
func OutsideScenario(chunked bool) Scenario {
	if !chunked {
		return Scenario{Name: "rpch-outside", File: "rpch-outside.pcap", Format: FormatPcap,
			Description: "Outside leg of RPC over HTTP v2 (Outlook at 192.0.2.81 to the RPC proxy on port 80): RPC_IN_DATA with NTLM HTTP authentication as CONTOSO\\bob (401 then AUTHENTICATE, Content-Length 1073741824, CONN/B1), RPC_OUT_DATA (Content-Length 76, CONN/A1; the 200 response carries CONN/A3 and CONN/C2); an unauthenticated DCE/RPC bind, NspiBind, NspiQueryRows, NspiUnbind, flow control RTS PDUs interleaved. A second virtual connection opens its OUT channel first, with Basic HTTP authentication as FABRIKAM\\carol, and binds without unbinding.",
			Expected:    "CONTOSO\\bob's session (user from HTTP NTLM) bound and unbound; FABRIKAM\\carol's session (user from HTTP Basic, no password kept) open at the end; calls over ncacn_http; no anomaly.",
			TsharkNone:  "tshark 4.0 does not hand the bodies of RPC_IN_DATA and RPC_OUT_DATA to its DCE/RPC dissector",
			build:       func(e *env) { buildRPCHOutside(e, false) }}
	}
	return Scenario{Name: "rpch-chunked", File: "rpch-chunked.pcap", Format: FormatPcap, Seed: "rpch-outside",
		Description: "The calls of rpch-outside, with chunked transfer coding (RFC 9112 7.1): the proxy answers both RPC_OUT_DATA requests with Transfer-Encoding: chunked, the second client sends its RPC_IN_DATA body chunked too; chunks of 1 to 250 bytes cut the PDUs anywhere, some carry chunk extensions, and TCP segments end inside chunk-size lines and between the CR and LF after chunk data. Every chunked body ends with the last chunk, a chunk extension and a trailer field: the first OUT channel's before its FIN, the second virtual connection's two bodies at the end of the capture, their connections left open.",
		Expected:    "The same calls, statuses, users and sessions as rpch-outside; no anomaly.",
		TsharkNone:  "tshark 4.0 de-chunks the HTTP bodies but does not hand the bodies of RPC_IN_DATA and RPC_OUT_DATA to its DCE/RPC dissector; TestTsharkChunked compares the HTTP requests and responses it frames",
		build:       func(e *env) { buildRPCHOutside(e, true) }}
}

func buildRPCHOutside(e *env, chunked bool) {
	a := client(81)
	var v *HTTPVC
	if chunked {
		v = e.NewChunkedHTTPVC(a, 80, false, false, false, true, Bob)
	} else {
		v = e.NewHTTPVC(a, 80, netip.Addr{}, true, false, false, Bob)
	}
	v.FlowEvery = 2
	r := e.c.NewRPCOverHTTP(v, 1)
	r.Bind(BindSpec{Contexts: WindowsContexts(SyntaxNSPI, 0), NewAssoc: e.assoc(), SecAddr: "6004", PadByte: 0x5c})
	r.User = Bob.Name()
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	if chunked {
		v.EndChunked(S2C)
	}
	v.Out.CloseFIN(C2S)
	v.In.CloseFIN(C2S)
	e.c.Advance(10 * time.Second)

	var w *HTTPVC
	if chunked {
		w = e.NewChunkedHTTPVC(a, 80, true, true, true, true, Carol)
	} else {
		w = e.NewHTTPVC(a, 80, netip.Addr{}, true, true, true, Carol)
	}
	r = e.c.NewRPCOverHTTP(w, 1)
	r.Bind(BindSpec{Contexts: WindowsContexts(SyntaxNSPI, 0), NewAssoc: e.assoc(), SecAddr: "6004", PadByte: 0x5c})
	r.User = Carol.Name()
	h = r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiGetSpecialTable(h)
	if chunked {
		e.c.Advance(time.Second)
		w.EndChunked(C2S)
		w.EndChunked(S2C)
	}
}

func buildRPCHOutReset(e *env) {
	v := e.NewHTTPVC(proxyAddr, NSPIPort6004, outsideAddr, false, false, false, Alice)
	v.FlowEvery = 4
	r := e.c.NewRPCOverHTTP(v, 1)
	r.Bind(e.bindSpec(AuthNTLM, Alice))
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(2 * time.Second)
	v.Out.CloseRST(C2S)
	v.In.End = "rst" // the virtual connection ends with its first channel
	e.c.Advance(time.Second)
	in := v.In
	in.CloseFIN(C2S)
	in.End = "rst"
	e.c.Advance(5 * time.Second)

	w := e.NewHTTPVC(proxyAddr, NSPIPort6004, outsideAddr, false, true, false, Dave)
	r = e.c.NewRPCOverHTTP(w, 1)
	r.Bind(e.bindSpec(AuthNTLM, Dave))
	h = r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiUnbind(h, StatusUnbindSuccess)
	w.Out.CloseFIN(C2S)
	w.In.CloseFIN(C2S)
}

func buildRPCHV1(e *env) {
	cn := e.conn(client(23), NSPIPort6004)
	cn.Send(S2C, []byte(RTSBanner))
	e.c.Advance(time.Millisecond)
	r := e.c.NewRPC(cn, 1)
	r.Bind(e.bindSpec(AuthNTLM, Erin))
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	cn.CloseFIN(C2S)
}

// RFRPort6002 is Exchange's RFR port behind an RPC proxy.
const RFRPort6002 = 6002

func buildRPCHRFR(e *env) {
	e.server = MailboxV4
	bind := func(r *RPC) {
		r.Bind(BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxRFR, Transfer: []SyntaxID{SyntaxNDR}}},
			Auth: AuthNTLM, Creds: Alice, Target: EXCH01, NewAssoc: e.assoc(), SecAddr: fmt.Sprint(RFRPort6002)})
	}
	for i, behind := range []netip.Addr{outsideAddr, netip.MustParseAddr("203.0.113.46")} {
		v := e.NewHTTPVC(proxyAddr, RFRPort6002, behind, false, false, false, Alice)
		v.FlowEvery = 2
		r := e.c.NewRPCOverHTTP(v, 1)
		bind(r)
		for range 2 - i {
			r.RfrGetNewDSA(0, dnOf(Alice), "dc01.contoso.example")
			e.c.Advance(time.Second)
		}
		v.Out.CloseFIN(C2S)
		v.In.CloseFIN(C2S)
		e.c.Advance(2 * time.Second)
	}
	r := e.c.NewRPC(e.conn(client(21), RFRPort6002), 1)
	bind(r)
	r.RfrGetNewDSA(0, dnOf(Alice), "dc01.contoso.example")
	r.C.CloseFIN(C2S)
}
