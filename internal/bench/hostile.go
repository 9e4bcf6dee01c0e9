package main

// Crafted "hostile" captures: they try as hard as they can to make nspicap
// hold a lot of memory at once, to check the promise that with the default
// limits its peak RSS stays under 256 MiB on any input. Nothing in them is
// ever closed or answered that would let nspicap free what it holds.

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net/netip"
	"time"

	"github.com/nspicap/nspicap/internal/synth"
)

// hostileSeg is the most PDU bytes packed into one TCP segment (an IPv4
// packet holds at most 65495 bytes of TCP payload).
const hostileSeg = 60000

// ctxPerPDU is the most presentation contexts one bind or alter_context
// can offer: n_context_elem is a u8.
const ctxPerPDU = 255

// segment writes data as one TCP segment, however large, from the client or
// from the server; with ack, the peer acknowledges it.
func (t *tcpConn) segment(fromClient bool, data []byte, ack bool) {
	if fromClient {
		t.w.tcp(t.c, t.s, t.cseq, t.sseq, flACK|flPSH, data)
		t.cseq += uint32(len(data))
		if ack {
			t.w.tcp(t.s, t.c, t.sseq, t.cseq, flACK, nil)
		}
	} else {
		t.w.tcp(t.s, t.c, t.sseq, t.cseq, flACK|flPSH, data)
		t.sseq += uint32(len(data))
		if ack {
			t.w.tcp(t.c, t.s, t.cseq, t.sseq, flACK, nil)
		}
	}
	t.w.now = t.w.now.Add(20 * time.Microsecond)
}

// packer packs whole PDUs of one direction into segments of up to
// hostileSeg bytes, each acknowledged by the peer.
type packer struct {
	t          *tcpConn
	fromClient bool
	buf        []byte
	segs, pdus int
}

func (p *packer) add(pdu []byte) {
	if len(p.buf)+len(pdu) > hostileSeg && len(p.buf) > 0 {
		p.flush()
	}
	p.buf = append(p.buf, pdu...)
	p.pdus++
}

func (p *packer) flush() {
	if len(p.buf) == 0 {
		return
	}
	p.t.segment(p.fromClient, p.buf, true)
	p.buf = p.buf[:0]
	p.segs++
}

// appendRequest appends a request PDU without auth trailer (little-endian).
func appendRequest(b []byte, callID uint32, ctx, opnum uint16, flags byte, allocHint uint32, fragLen int, stub []byte) []byte {
	b = append(b, 5, 0, synth.PTRequest, flags, synth.DrepLE, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(fragLen))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, callID)
	b = binary.LittleEndian.AppendUint32(b, allocHint)
	b = binary.LittleEndian.AppendUint16(b, ctx)
	b = binary.LittleEndian.AppendUint16(b, opnum)
	return append(b, stub...)
}

// hostileSpec is what each connection of a hostile capture holds.
type hostileSpec struct {
	ctxPDUs    int  // bind, then alter_contexts, of ctxPerPDU contexts each, all accepted
	secCtx     int  // alter_contexts that each open a security context (never answered)
	calls      int  // requests never answered, the one in reassembly included
	reassembly bool // the last call is the first fragment of a 4000-byte stub
	partial    bool // the connection ends inside a 4000-byte PDU (1000 bytes sent)
	ooo        int  // bytes of the out-of-order segment beyond a 100-byte hole
}

// hostileCounts tallies what a hostile generator wrote.
type hostileCounts struct {
	conns, binds, alters, acks, altResps, secAlters, requests, frags, partials, ooo int
}

var (
	contosoTarget = synth.Target{NbDomain: "CONTOSO", NbHost: "DC01", DNSDomain: "contoso.example", DNSHost: "dc01.contoso.example", SPN: "exchangeAB/dc01.contoso.example"}
	ntlmNegotiate = synth.NTLMNegotiate(synth.NTLMNegotiateFlags)
)

// hostileConn writes connection i: every byte it holds stays unanswered
// until the end of the capture.
func hostileConn(w *pcapWriter, rng *rand.Rand, i int, sp hostileSpec, n *hostileCounts) {
	// Ephemeral client ports: a low one can be a port Wireshark gives
	// another protocol (1080 is SOCKS).
	c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 100 + byte(i>>16&3), byte(i >> 8), byte(i)}), uint16(49152+i%16384))
	s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 10}), 135)
	t := w.newConn(c, s, rng.Uint32())
	t.handshake()
	n.conns++
	cli := &packer{t: t, fromClient: true, buf: make([]byte, 0, hostileSeg+8192)}
	srv := &packer{t: t, fromClient: false, buf: make([]byte, 0, hostileSeg+8192)}
	callID := uint32(1)
	assoc := uint32(0x00010000 + i)

	// a. bind and alter_contexts of 255 contexts each (1275 distinct
	// context ids with five PDUs: one more than the limit of 1024), then
	// the server's answers, all acceptances.
	res := make([]synth.Result, ctxPerPDU)
	for k := range res {
		res[k] = synth.Result{Result: 0, Transfer: synth.SyntaxNDR}
	}
	ctxs := make([]synth.ContextElem, ctxPerPDU)
	tr := []synth.SyntaxID{synth.SyntaxNDR}
	for k := 0; k < sp.ctxPDUs; k++ {
		for j := range ctxs {
			ctxs[j] = synth.ContextElem{ID: uint16(k*ctxPerPDU + j), Abstract: synth.SyntaxNSPI, Transfer: tr}
		}
		pt := uint8(synth.PTAlterContext)
		if k == 0 {
			pt = synth.PTBind
			n.binds++
		} else {
			n.alters++
		}
		cli.add(synth.EncodePDU(synth.DrepLE, pt, synth.FlagFirst|synth.FlagLast, callID+uint32(k),
			synth.BindBody(synth.DrepLE, 5840, 5840, 0, ctxs), nil))
	}
	cli.flush()
	for k := 0; k < sp.ctxPDUs; k++ {
		pt, addr := uint8(synth.PTAlterResp), ""
		if k == 0 {
			pt, addr = synth.PTBindAck, "135"
			n.acks++
		} else {
			n.altResps++
		}
		srv.add(synth.EncodePDU(synth.DrepLE, pt, synth.FlagFirst|synth.FlagLast, callID+uint32(k),
			synth.BindAckBody(synth.DrepLE, 5840, 5840, assoc, addr, 0, res), nil))
	}
	srv.flush()
	callID += uint32(sp.ctxPDUs)

	// b. alter_contexts without contexts whose NTLMSSP NEGOTIATE tokens
	// (privacy level) open one security context each.
	for k := 0; k < sp.secCtx; k++ {
		v := &synth.Verifier{Type: synth.AuthTypeNTLM, Level: 6, ContextID: uint32(0x100 + k), Value: ntlmNegotiate}
		cli.add(synth.EncodePDU(synth.DrepLE, synth.PTAlterContext, synth.FlagFirst|synth.FlagLast, callID,
			synth.BindBody(synth.DrepLE, 5840, 5840, assoc, nil), v))
		callID++
		n.secAlters++
	}

	// c. requests with 16-byte stubs on contexts in turn, never answered;
	// d. the first fragment of a call with a 4000-byte stub, never
	// continued.
	var stub [16]byte
	full := sp.calls
	if sp.reassembly {
		full--
	}
	var pdu []byte
	for k := 0; k < full; k++ {
		rng.Read(stub[:])
		ctx := uint16(k % (sp.ctxPDUs * ctxPerPDU))
		if ctx >= 1024 {
			ctx -= 1024 // a context that was kept
		}
		pdu = appendRequest(pdu[:0], callID, ctx, 2, synth.FlagFirst|synth.FlagLast, 16, 24+16, stub[:])
		cli.add(pdu)
		callID++
		n.requests++
	}
	if sp.reassembly {
		big := make([]byte, 4000)
		rng.Read(big)
		cli.add(appendRequest(nil, callID, 0, 3, synth.FlagFirst, 8000, 24+4000, big))
		callID++
		n.frags++
	}
	// e. the first 1000 bytes of a 4000-byte request.
	var rest []byte
	if sp.partial {
		big := make([]byte, 4000-24)
		rng.Read(big)
		p := appendRequest(nil, callID, 0, 3, synth.FlagFirst|synth.FlagLast, uint32(len(big)), 4000, big)
		callID++
		if len(cli.buf)+1000 > hostileSeg {
			cli.flush()
		}
		cli.buf = append(cli.buf, p[:1000]...)
		rest = p[1000:]
		n.partials++
	}
	cli.flush()

	// f. a segment 100 bytes beyond the end of the stream, which the
	// server never acknowledges: the reassembler keeps it until the end.
	if sp.ooo > 0 {
		const hole = 100
		var seg []byte
		if len(rest) > hole {
			seg = append(seg, rest[hole:]...)
		}
		for len(seg) < sp.ooo {
			rng.Read(stub[:])
			seg = appendRequest(seg, callID, 0, 2, synth.FlagFirst|synth.FlagLast, 16, 24+16, stub[:])
			callID++
		}
		seg = seg[:sp.ooo]
		t.w.tcp(t.c, t.s, t.cseq+hole, t.sseq, flACK|flPSH, seg)
		n.ooo++
	}
	w.now = w.now.Add(100 * time.Microsecond)
}

// hostile writes connections that each hold the most the parser lets one
// connection hold: 1275 presentation contexts offered (1024 kept), 16
// security contexts, 4096 calls awaiting an answer (one of them in
// reassembly), a partial PDU and an out-of-order segment; about 260 KB a
// connection, until the file holds size bytes.
func hostile(w *pcapWriter, size int64) hostileCounts {
	rng := rand.New(rand.NewSource(5))
	sp := hostileSpec{ctxPDUs: 5, secCtx: 16, calls: 4096, reassembly: true, partial: true, ooo: 16000}
	var n hostileCounts
	for i := 0; w.written < size; i++ {
		hostileConn(w, rng, i, sp, &n)
	}
	return n
}

// hostileConns writes nconns connections with a smaller state each (255
// contexts, 200 calls awaiting an answer, a partial PDU, an out-of-order
// segment): the fixed cost per connection, beyond --max-conns.
func hostileConns(w *pcapWriter, nconns int) hostileCounts {
	rng := rand.New(rand.NewSource(6))
	sp := hostileSpec{ctxPDUs: 1, calls: 200, partial: true, ooo: mss}
	var n hostileCounts
	for i := 0; i < nconns; i++ {
		hostileConn(w, rng, i, sp, &n)
	}
	return n
}

// splitmix is the finaliser of SplitMix64, a bijection: distinct inputs
// give distinct handles.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hostileSessions writes one NTLM user who, over four connections, does
// NspiBind again and again, each answered with success and a new context
// handle, and never unbinds: until the file holds size bytes.
func hostileSessions(w *pcapWriter, size int64) (conns, binds int) {
	rng := rand.New(rand.NewSource(7))
	fake := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	const nconn = 4
	const batch = 512 // calls per client segment
	client := netip.AddrFrom4([4]byte{10, 200, 0, 5})
	server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 20}), 4997)
	creds := synth.Creds{Domain: "CONTOSO", User: "mallory", Workstation: "WS-MALLORY"}
	serverGUID := synth.MustUUID("9514be3a-0dd1-11d2-a093-080009fb6454")
	clientGUID := synth.MustUUID("e10cb618-f198-e105-0300-1f002c4c0df6")
	type sconn struct {
		t        *tcpConn
		cli, srv *packer
		req      []byte // request template
		resp     []byte // response template
		callID   uint32
	}
	var hOff int
	var cs []*sconn
	for i := 0; i < nconn; i++ {
		t := w.newConn(netip.AddrPortFrom(client, uint16(50001+i)), server, rng.Uint32())
		t.handshake()
		authCtx := uint32(0x00010000 + i)
		ts := uint64(w.now.Unix()+11644473600) * 10_000_000
		var chal, cc [8]byte
		rng.Read(chal[:])
		rng.Read(cc[:])
		v := func(tok []byte) *synth.Verifier {
			return &synth.Verifier{Type: synth.AuthTypeNTLM, Level: synth.AuthLevelConnect, ContextID: authCtx, Value: tok}
		}
		ctxs := synth.WindowsContexts(synth.SyntaxNSPI, 0)
		res := []synth.Result{{Result: 0, Transfer: synth.SyntaxNDR}, {Result: 2, Reason: 2}, {Result: 3, Reason: 3}}
		assoc := uint32(0x02a40000 + i)
		t.segment(true, synth.EncodePDU(synth.DrepLE, synth.PTBind, synth.FlagFirst|synth.FlagLast, 1,
			synth.BindBody(synth.DrepLE, 5840, 5840, 0, ctxs), v(ntlmNegotiate)), true)
		t.segment(false, synth.EncodePDU(synth.DrepLE, synth.PTBindAck, synth.FlagFirst|synth.FlagLast, 1,
			synth.BindAckBody(synth.DrepLE, 5840, 5840, assoc, "4997", 0, res),
			v(synth.NTLMChallenge(synth.NTLMChallengeFlags, contosoTarget, chal, ts))), true)
		t.segment(true, synth.EncodePDU(synth.DrepLE, synth.PTAuth3, synth.FlagFirst|synth.FlagLast, 1,
			synth.Auth3Body([4]byte{}), v(synth.NTLMAuthenticate(creds, contosoTarget, ts, cc, fake))), true)
		opts := synth.CallPDUOpts{Drep: synth.DrepLE, CallID: 0, ContextID: 0, Opnum: synth.OpNspiBind,
			Auth: &synth.Verifier{Type: synth.AuthTypeNTLM, Level: synth.AuthLevelConnect, ContextID: authCtx, Value: synth.ConnectVerifier()}}
		req := synth.RequestPDUs(opts, synth.NspiBindReq(false, 0, synth.DefaultSTAT, &clientGUID))[0]
		var mark synth.Handle
		for k := range mark {
			mark[k] = 0xee
		}
		resp := synth.ResponsePDUs(opts, synth.NspiBindResp(false, &serverGUID, mark, synth.StatusSuccess))[0]
		hOff = bytes.Index(resp, mark[:])
		cs = append(cs, &sconn{t: t, cli: &packer{t: t, fromClient: true}, srv: &packer{t: t}, req: req, resp: resp, callID: 2})
	}
	var seq uint64
	for w.written < size {
		for _, c := range cs {
			first := c.callID
			for k := 0; k < batch; k++ {
				binary.LittleEndian.PutUint32(c.req[12:], c.callID)
				c.cli.add(c.req)
				c.callID++
			}
			c.cli.flush()
			w.now = w.now.Add(200 * time.Microsecond)
			for id := first; id != c.callID; id++ {
				binary.LittleEndian.PutUint32(c.resp[12:], id)
				// attributes 0, then a UUID no other bind returned
				binary.LittleEndian.PutUint32(c.resp[hOff:], 0)
				binary.LittleEndian.PutUint64(c.resp[hOff+4:], splitmix(seq))
				binary.LittleEndian.PutUint64(c.resp[hOff+12:], splitmix(seq^0x5bd1e995))
				seq++
				c.srv.add(c.resp)
			}
			c.srv.flush()
			binds += batch
		}
	}
	return nconn, binds
}
