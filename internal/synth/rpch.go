package synth

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// RPC over HTTP v2 (MS-RPCH): RTS PDUs, the banner, the outside leg's HTTP
// heads, and a virtual connection whose requests travel on the IN channel
// and answers on the OUT channel.

// RTS flags and command types (MS-RPCH 2.2.3.6.1, 2.2.3.5).
const (
	RTSFlagNone    = 0
	RTSFlagPing    = 0x01
	RTSFlagOther   = 0x02
	RTSFlagRecycle = 0x04
	RTSFlagIn      = 0x08
	RTSFlagOut     = 0x10
)

// PTRTS is the PTYPE of an RTS PDU.
const PTRTS = 20

// RTSBanner is what the server sends first on an ncacn_http connection.
const RTSBanner = "ncacn_http/1.0"

func rtsU32(t, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, t), v)
}

func rtsCookie(t uint32, c UUID) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, t), c[:]...)
}

func rtsAddr(a netip.Addr) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 11)
	if a.Is4() {
		b = binary.LittleEndian.AppendUint32(b, 0)
		x := a.As4()
		b = append(b, x[:]...)
	} else {
		b = binary.LittleEndian.AppendUint32(b, 1)
		x := a.As16()
		b = append(b, x[:]...)
	}
	return append(b, make([]byte, 12)...)
}

func rtsAck(received, window uint32, c UUID) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 1)
	b = binary.LittleEndian.AppendUint32(b, received)
	b = binary.LittleEndian.AppendUint32(b, window)
	return append(b, c[:]...)
}

// RTSPDU encodes an RTS PDU: the common header (PTYPE 20, flags 0x03,
// call_id 0, little-endian), Flags, NumberOfCommands, the commands.
func RTSPDU(flags uint16, cmds ...[]byte) []byte {
	n := 20
	for _, c := range cmds {
		n += len(c)
	}
	b := []byte{5, 0, PTRTS, 3, 0x10, 0, 0, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(cmds)))
	for _, c := range cmds {
		b = append(b, c...)
	}
	return b
}

// HTTPVC is a virtual connection: In carries the requests, Out the
// answers.
type HTTPVC struct {
	cap                     *Capture
	In, Out                 *Conn
	VC, InCookie, OutCookie UUID
	// Outside: the client-to-proxy leg (HTTP heads, CONN/A1, B1, A3, C2).
	Outside bool
	// FlowEvery: a flow control RTS PDU rides in front of every n-th
	// DCE/RPC PDU of each channel (0: none).
	FlowEvery int
	n         int
	recv      uint32
	// FullFlow (inside leg): besides the client's acknowledgment of the
	// OUT channel up the IN channel, each hop's own flow control is
	// written (MS-RPCH 3.2.1.5.2): the server passes that acknowledgment
	// down the OUT channel, acknowledges the IN channel's bytes to the
	// inbound proxy on the IN connection, and the outbound proxy
	// acknowledges the OUT channel's bytes to the server on the OUT
	// connection. PingOnly: the RTS PDUs are Pings, which name no
	// channel.
	FullFlow, PingOnly bool
	// ChunkIn, ChunkOut: the outside leg's RPC_IN_DATA body, and the
	// RPC_OUT_DATA response's body, are sent with chunked transfer coding
	// (chunk.go); nChunk counts the chunks written.
	ChunkIn, ChunkOut bool
	nChunk            int
}

// chunked reports whether the direction d of the channel it travels on is
// chunked.
func (v *HTTPVC) chunked(d Dir) bool {
	return v.Outside && (d == C2S && v.ChunkIn || d == S2C && v.ChunkOut)
}

func (v *HTTPVC) send(d Dir, pdus [][]byte) (start, end uint64) {
	cn := v.In
	if d == S2C {
		cn = v.Out
	}
	for i, p := range pdus {
		v.n++
		v.recv += uint32(len(p))
		var fwd, back []byte
		if v.FlowEvery > 0 && v.n%v.FlowEvery == 0 {
			var rts []byte
			switch {
			case v.PingOnly:
				rts = RTSPDU(RTSFlagPing)
			case d == C2S:
				// The client acknowledges the OUT channel's bytes, through
				// the IN channel (FlowControlAckWithDestination).
				rts = RTSPDU(RTSFlagOther, rtsU32(13, 3), rtsAck(v.recv, 65536, v.OutCookie))
				if v.FullFlow {
					fwd = rts
					back = RTSPDU(RTSFlagOther, rtsAck(v.recv, 262144, v.InCookie))
				}
			default:
				rts = RTSPDU(RTSFlagPing)
				if v.FullFlow {
					back = RTSPDU(RTSFlagOther, rtsAck(v.recv, 65536, v.OutCookie))
				}
			}
			p = append(rts, p...)
		}
		var s, e uint64
		if v.chunked(d) {
			s, e = v.sendChunked(cn, d, nil, p)
		} else {
			s, e = cn.Send(d, p)
		}
		if fwd != nil {
			v.Out.Send(S2C, fwd) // the server forwards it to the outbound proxy
		}
		if back != nil {
			cn.Send(1-d, back)
		}
		if i == 0 {
			start = s
		}
		end = e
	}
	return start, end
}

// replyConn is the connection that carries the answers.
func (r *RPC) replyConn() *Conn {
	if r.HTTP != nil {
		return r.HTTP.Out
	}
	return r.C
}

// NewHTTPVC opens a virtual connection of RPC over HTTP v2 from addr to
// the server's port: on the inside leg (proxy to server) each channel
// starts with the server's banner, then CONN/A2 (OUT) or CONN/B2 (IN,
// with clientAddr); on the outside leg (client to proxy on port 80) with
// the RPC_OUT_DATA and RPC_IN_DATA requests, CONN/A1 and CONN/B1, and the
// HTTP authentication of cr (NTLM on the OUT channel, after a 401 on the
// IN channel; Basic when basic is set). outFirst opens the OUT channel
// first.
func (e *env) NewHTTPVC(addr netip.Addr, port uint16, clientAddr netip.Addr, outside, outFirst, basic bool, cr Creds) *HTTPVC {
	return e.newHTTPVC(addr, port, clientAddr, outside, outFirst, basic, false, false, cr)
}

// NewChunkedHTTPVC is NewHTTPVC on the outside leg with chunked transfer
// coding on the RPC_IN_DATA body (chunkIn) and on the RPC_OUT_DATA
// response (chunkOut): the same random draws, so the same virtual
// connection as NewHTTPVC's, framed otherwise.
func (e *env) NewChunkedHTTPVC(addr netip.Addr, port uint16, outFirst, basic, chunkIn, chunkOut bool, cr Creds) *HTTPVC {
	return e.newHTTPVC(addr, port, netip.Addr{}, true, outFirst, basic, chunkIn, chunkOut, cr)
}

func (e *env) newHTTPVC(addr netip.Addr, port uint16, clientAddr netip.Addr, outside, outFirst, basic, chunkIn, chunkOut bool, cr Creds) *HTTPVC {
	c := e.c
	v := &HTTPVC{cap: c, Outside: outside, VC: c.NewGUID(), InCookie: c.NewGUID(), OutCookie: c.NewGUID(), ChunkIn: chunkIn, ChunkOut: chunkOut}
	open := func(in bool) {
		cn := e.conn(addr, port)
		if in {
			v.In = cn
		} else {
			v.Out = cn
		}
		c.Advance(2 * time.Millisecond)
		if !outside {
			cn.Send(S2C, []byte(RTSBanner))
			c.Advance(time.Millisecond)
			if in {
				cn.Send(C2S, RTSPDU(RTSFlagIn, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.InCookie),
					rtsU32(0, 262144), rtsU32(2, 120000), rtsCookie(12, c.NewGUID()), rtsAddr(clientAddr)))
			} else {
				cn.Send(C2S, RTSPDU(RTSFlagOut, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.OutCookie),
					rtsU32(4, 1073741824), rtsU32(0, 65536)))
			}
			return
		}
		target := fmt.Sprintf("/rpc/rpcproxy.dll?dc01.contoso.example:%d", NSPIPort6004)
		if in {
			ts := uint64(c.now.Unix()+11644473600) * 10_000_000
			var chal, cc [8]byte
			copy(chal[:], c.RandBytes(8))
			copy(cc[:], c.RandBytes(8))
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(cr.Domain+`\`+cr.User+":Secret-Pa55"))
			if !basic {
				neg := base64.StdEncoding.EncodeToString(NTLMNegotiate(NTLMNegotiateFlags))
				cn.Send(C2S, []byte("RPC_IN_DATA "+target+" HTTP/1.1\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\nHost: mail.contoso.example\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\nAuthorization: NTLM "+neg+"\r\n\r\n"))
				c.Advance(time.Millisecond)
				ch := base64.StdEncoding.EncodeToString(NTLMChallenge(NTLMChallengeFlags, DC01, chal, ts))
				cn.Send(S2C, []byte("HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nWWW-Authenticate: NTLM "+ch+"\r\nContent-Length: 12\r\n\r\nUnauthorized"))
				c.Advance(time.Millisecond)
				auth = "NTLM " + base64.StdEncoding.EncodeToString(NTLMAuthenticate(cr, DC01, ts, cc, c.RandBytes))
			}
			length := "Content-Length: 1073741824"
			if v.ChunkIn {
				length = "Transfer-Encoding: chunked"
			}
			head := "RPC_IN_DATA " + target + " HTTP/1.1\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\nHost: mail.contoso.example\r\n" + length + "\r\nConnection: Keep-Alive\r\nAuthorization: " + auth + "\r\n\r\n"
			b1 := RTSPDU(RTSFlagNone, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.InCookie), rtsU32(4, 1073741824),
				rtsU32(5, 300000), rtsCookie(12, c.NewGUID()))
			if v.ChunkIn {
				v.sendChunked(cn, C2S, []byte(head), b1)
			} else {
				cn.Send(C2S, append([]byte(head), b1...))
			}
			return
		}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(cr.Domain+`\`+cr.User+":Secret-Pa55"))
		head := "RPC_OUT_DATA " + target + " HTTP/1.1\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\nHost: mail.contoso.example\r\nContent-Length: 76\r\nConnection: Keep-Alive\r\nAuthorization: " + auth + "\r\n\r\n"
		a1 := RTSPDU(RTSFlagNone, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.OutCookie), rtsU32(0, 65536))
		cn.Send(C2S, append([]byte(head), a1...))
		c.Advance(2 * time.Millisecond)
		body := append(RTSPDU(RTSFlagNone, rtsU32(2, 120000)), RTSPDU(RTSFlagNone, rtsU32(6, 1), rtsU32(0, 65536), rtsU32(2, 120000))...)
		if v.ChunkOut {
			v.sendChunked(cn, S2C, []byte("HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nTransfer-Encoding: chunked\r\n\r\n"), body)
			return
		}
		resp := "HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nContent-Length: 1073741824\r\n\r\n"
		cn.Send(S2C, append([]byte(resp), body...))
	}
	open(!outFirst)
	c.Advance(5 * time.Millisecond)
	open(outFirst)
	c.Advance(2 * time.Millisecond)
	if !outside {
		// The server: CONN/C1 on the OUT channel, CONN/B3 on the IN
		// channel.
		v.Out.Send(S2C, RTSPDU(RTSFlagNone, rtsU32(6, 1), rtsU32(0, 65536), rtsU32(2, 120000)))
		v.In.Send(S2C, RTSPDU(RTSFlagNone, rtsU32(0, 262144), rtsU32(6, 1)))
	}
	c.Advance(time.Millisecond)
	return v
}

// RecycleOut replaces the OUT channel (inside leg, OUT_R1/A4 on a new
// connection; the old one then ends with FIN).
func (e *env) RecycleOut(v *HTTPVC, addr netip.Addr, port uint16) {
	c := e.c
	old := v.Out
	succ := c.NewGUID()
	cn := e.conn(addr, port)
	cn.Send(S2C, []byte(RTSBanner))
	c.Advance(time.Millisecond)
	cn.Send(C2S, RTSPDU(RTSFlagRecycle|RTSFlagOut, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.OutCookie),
		rtsCookie(3, succ), rtsU32(4, 1073741824), rtsU32(0, 65536), rtsU32(2, 120000)))
	c.Advance(time.Millisecond)
	old.Send(S2C, RTSPDU(RTSFlagNone, rtsCookie(3, succ)))
	v.Out, v.OutCookie = cn, succ
	c.Advance(time.Millisecond)
	old.CloseFIN(C2S)
}

// RecycleIn replaces the IN channel (inside leg, IN_R1/A2).
func (e *env) RecycleIn(v *HTTPVC, addr netip.Addr, port uint16) {
	c := e.c
	old := v.In
	succ := c.NewGUID()
	cn := e.conn(addr, port)
	cn.Send(S2C, []byte(RTSBanner))
	c.Advance(time.Millisecond)
	cn.Send(C2S, RTSPDU(RTSFlagRecycle|RTSFlagIn, rtsU32(6, 1), rtsCookie(3, v.VC), rtsCookie(3, v.InCookie),
		rtsCookie(3, succ), rtsU32(0, 262144), rtsU32(2, 120000)))
	c.Advance(time.Millisecond)
	old.Send(C2S, RTSPDU(RTSFlagNone, rtsCookie(3, succ)))
	v.In, v.InCookie = cn, succ
	c.Advance(time.Millisecond)
	old.CloseFIN(C2S)
}

// NewRPCOverHTTP returns an association over a virtual connection.
func (c *Capture) NewRPCOverHTTP(v *HTTPVC, callID uint32) *RPC {
	r := c.NewRPC(v.In, callID)
	r.HTTP = v
	return r
}

// NSPIPort6004 is Exchange's NSPI port behind an RPC proxy.
const NSPIPort6004 = 6004
