package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/rpch"
)

// RPC over HTTP (ncacn_http, MS-RPCH; docs/rpc-over-http.md). A TCP
// connection is told to be an RPC over HTTP channel at its first bytes,
// with the SMB decision (smbData): the server's ncacn_http/1.0 banner (the
// inside leg, proxy to server, and v1) or a client's RPC_IN_DATA or
// RPC_OUT_DATA request (the outside leg). Each channel cuts its streams into
// PDUs; RTS PDUs are read and consumed, the others go to the one
// dcerpc.Conn of the channel's virtual connection: the IN channel's
// client-to-server bytes as requests, the OUT channel's server-to-client
// bytes as answers. Channels are paired by the virtual connection cookie of
// their first RTS PDU; a successor channel (recycling) names the same
// cookie and takes its predecessor's place. v1 (the banner, then DCE/RPC
// PDUs) stays on the connection's own dcerpc.Conn.

// modeHTTP: the connection is an RPC over HTTP channel.
const modeHTTP = modeSMB + 1

// vcIDBase starts the ConnIDs of virtual connections, apart from those of
// TCP connections and named pipes.
const vcIDBase = 2 << 40

// Bounds: the bytes of one RTS PDU; what a virtual connection holds while
// its other channel is not known.
const (
	maxRTS       = 4096
	maxHeldBytes = 1 << 20
	maxHeldParts = 1024
	// maxHeldTotal bounds what all virtual connections hold at once.
	maxHeldTotal = 16 << 20
)

// Channel roles.
const (
	roleNone = iota
	roleIn
	roleOut
)

// channel is one TCP connection of RPC over HTTP.
type channel struct {
	k       *conn
	dirs    [2]chDir
	outside bool // HTTP heads seen (the outside leg)
	v1      bool // RPC over HTTP v1: the connection's own dcerpc.Conn
	v2      bool // an RTS PDU was seen
	swap    bool // the capture layer's client is the server
	role    uint8
	vc      *vconn
	// replaced: a successor channel took this one's place.
	replaced bool
	// warned: this channel's unpaired data was reported.
	warned bool
	user   string
	userAt dcerpc.Pos
	// mid: the channel was opened before the capture (http_older.go);
	// nPDUs, firstPos, lastPos: its DCE/RPC PDUs; reported: its being
	// unpaired was reported.
	mid               bool
	reported          bool
	nPDUs             int
	firstPos, lastPos dcerpc.Pos
}

// chDir is one direction of a channel.
type chDir struct {
	started bool // bytes of this direction were seen
	// HTTP framing of the outside leg: head collects a head; body counts
	// the bytes left of a body (-1: up to the end); stream says the body
	// is the channel's PDU stream.
	inHead bool
	head   []byte
	body   int64
	stream bool
	// chunk de-chunks a body sent with chunked transfer coding (nil
	// otherwise).
	chunk *rpch.Dechunker
	// The PDU splitter: hdr collects a common header; left counts the
	// bytes left of the PDU; rts: the PDU is RTS, collected in rtsBuf;
	// lost: resynchronising after a gap.
	hdr    [dcerpc.HeaderLen]byte
	nh     int
	hdrPos dcerpc.Pos
	left   int
	rts    bool
	rtsBuf []byte
	lost   bool
}

// vconn is a virtual connection: the channels sharing a cookie.
type vconn struct {
	cookie  rpch.Cookie
	in, out *channel
	k       *conn // nil until started
	held    []heldPart
	heldN   int
	addr    netip.Addr
	ended   bool
	// user: what its channels' HTTP authentication named, at userAt, by
	// userCh (the IN channel's first).
	user   string
	userAt dcerpc.Pos
	userCh *channel
	origin *analyze.Origin // of its calls named by user (httpIdentity)
	// Channels older than the capture (http_older.go): mid, the virtual
	// connection was made for one (its cookie is unknown); members, its
	// channels; cookies, the channel cookies it carries (runner.cookies);
	// unpaired, it was given up pairing.
	mid      bool
	unpaired bool
	members  []*channel
	cookies  []rpch.Cookie
}

type heldPart struct {
	dir dcerpc.Dir
	pos dcerpc.Pos
	b   []byte
}

// httpStart reports whether a connection's first bytes begin RPC over
// HTTP; it costs a comparison of the first byte for any other connection.
func httpStart(b []byte) bool {
	if len(b) == 0 || b[0] != 'n' && b[0] != 'R' {
		return false
	}
	return rpch.StartsChannel(b)
}

// httpsStart: a TLS record on port 443, which may be RPC over HTTPS.
func (k *conn) httpsStart(b []byte) bool {
	m := k.c.Meta
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && (m.Server.Port() == 443 || m.Client.Port() == 443)
}

func (k *conn) startHTTP(dir capture.Dir, b []byte) {
	k.mode = modeHTTP
	ch := &channel{k: k, outside: b[0] == 'R'}
	k.ch = ch
	ch.dirs[0].body, ch.dirs[1].body = -1, -1
	// The server sends the banner, the client the request: without the
	// SYN the capture layer may have guessed the ends the wrong way.
	if ch.swap = dir == capture.ClientToServer && !ch.outside || dir == capture.ServerToClient && ch.outside; ch.swap {
		m := &k.c.Meta
		m.Client, m.Server = m.Server, m.Client
	}
}

// httpData takes the bytes of a channel.
func (k *conn) httpData(dir capture.Dir, pos capture.Pos, b []byte) {
	ch := k.ch
	if ch.swap {
		dir ^= 1
	}
	p := dcerpc.Pos(pos)
	if ch.v1 {
		k.feedOwn(dcerpc.Dir(dir), p, b)
		return
	}
	d := &ch.dirs[dir]
	if !d.started {
		d.started = true
		if bytes.HasPrefix(b, []byte(rpch.Banner)) {
			b = b[len(rpch.Banner):]
		}
		d.inHead = ch.outside
	}
	for len(b) > 0 {
		if ch.v1 {
			k.feedOwn(dcerpc.Dir(dir), p, b)
			return
		}
		if d.inHead {
			b = ch.headBytes(dcerpc.Dir(dir), p, b)
			continue
		}
		if d.chunk != nil {
			b = ch.chunkBytes(dcerpc.Dir(dir), p, b)
			continue
		}
		n := len(b)
		if ch.outside && d.body >= 0 && int64(n) > d.body {
			n = int(d.body)
		}
		if ch.outside && d.body >= 0 {
			d.body -= int64(n)
		}
		if !ch.outside || d.stream {
			ch.split(dcerpc.Dir(dir), p, b[:n])
		}
		b = b[n:]
		if ch.outside && d.body == 0 {
			d.inHead = true
		}
	}
}

// headBytes collects an HTTP head and reads it once whole; it returns the
// bytes after it (nil while it is not whole).
func (ch *channel) headBytes(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) []byte {
	d := &ch.dirs[dir]
	r := ch.k.r
	start := len(d.head)
	d.head = append(d.head, b...)
	end := rpch.HeadEnd(d.head)
	if end < 0 {
		if len(d.head) > rpch.MaxHead {
			r.anomaly(AnomalyRTSMalformed, pos, fmt.Sprintf("HTTP head longer than %d bytes: the rest of the connection is not decoded", rpch.MaxHead))
			d.head, d.inHead, d.body, d.stream = nil, false, -1, false
		}
		return nil
	}
	h, err := rpch.ParseHead(d.head[:end])
	rest := b[end-start:]
	d.head, d.inHead = nil, false
	if err != nil {
		r.anomaly(AnomalyRTSMalformed, pos, err.Error()+": the rest of the connection is not decoded")
		d.body, d.stream = -1, false
		return rest
	}
	d.body, d.stream = h.ContentLength, false
	switch {
	case h.Request && (h.Method == rpch.MethodIn || h.Method == rpch.MethodOut):
		d.stream = h.ContentLength != 0 || h.Chunked
		if ch.role == roleNone && d.stream {
			ch.role = roleIn
			if h.Method == rpch.MethodOut {
				ch.role = roleOut
			}
		}
		if h.User != "" && ch.user == "" {
			ch.user, ch.userAt = h.User, pos
			if len(r.logons) < maxLogons && !strings.EqualFold(h.AuthScheme, "basic") {
				m := ch.k.c.Meta
				r.logons = append(r.logons, Logon{Frame: r.ref(pos), Client: m.Client.String(), Server: m.Server.String(), User: h.User, Anonymous: h.Anonymous})
			}
			if ch.vc != nil {
				ch.vc.httpUser(ch)
			}
		}
	case !h.Request && h.Status == 200:
		d.stream = true
	}
	if h.Coding != "" && d.stream {
		r.anomaly(AnomalyRTSMalformed, pos, fmt.Sprintf("transfer coding %q on an RPC over HTTP channel: its body is not decoded", h.Coding))
		d.stream = false
	}
	switch {
	case h.Chunked:
		// The body is chunks (RFC 9112 7.1), whatever Content-Length says.
		d.chunk, d.body = new(rpch.Dechunker), -1
	case h.Coding != "":
		// Up to its Content-Length, else to the end of the connection.
	case d.body < 0 && !d.stream:
		d.body = 0 // no body: the next bytes are a head
	}
	d.inHead = d.body == 0 && d.chunk == nil
	return rest
}

// chunkBytes de-chunks the bytes of a chunked body, hands its data to the
// PDU splitter when the body is the channel's stream, and returns the bytes
// after the body (nil while it goes on). A framing error gives the rest of
// the direction up.
func (ch *channel) chunkBytes(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) []byte {
	d := &ch.dirs[dir]
	for len(b) > 0 {
		data, n, err := d.chunk.Next(b)
		b = b[n:]
		if len(data) > 0 && d.stream {
			ch.split(dir, pos, data)
		}
		if err != nil {
			ch.k.r.anomaly(AnomalyRTSMalformed, pos, err.Error()+": the rest of the channel is not decoded")
			d.chunk, d.stream, d.body = nil, false, -1
			return nil
		}
		if d.chunk.Done() {
			d.chunk, d.inHead = nil, true
			return b
		}
	}
	return nil
}

// split cuts a channel's PDU stream into PDUs.
func (ch *channel) split(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) {
	d := &ch.dirs[dir]
	for len(b) > 0 {
		if ch.v1 {
			ch.k.feedOwn(dir, pos, b)
			return
		}
		if d.left == 0 {
			if d.nh == 0 {
				d.hdrPos = pos
			}
			n := copy(d.hdr[d.nh:], b)
			d.nh += n
			b = b[n:]
			if d.nh < len(d.hdr) {
				return
			}
			h := d.hdr[:]
			flen := int(binary.LittleEndian.Uint16(h[8:]))
			if h[4]&0x10 == 0 {
				flen = int(binary.BigEndian.Uint16(h[8:]))
			}
			if h[0] != 5 || h[1] != 0 || h[2] > rpch.PTypeRTS || flen < dcerpc.HeaderLen {
				if !d.lost {
					d.lost = true
					ch.k.r.anomaly(AnomalyRTSMalformed, d.hdrPos, fmt.Sprintf("no DCE/RPC header where a PDU should start on an RPC over HTTP channel (bytes %x): skipping to the next one", h[:4]))
				}
				copy(d.hdr[:], d.hdr[1:])
				d.nh--
				continue
			}
			d.lost = false
			d.nh = 0
			if h[2] != rpch.PTypeRTS && !ch.v2 && !ch.outside && ch.role == roleNone {
				// The banner, then DCE/RPC: RPC over HTTP v1.
				ch.v1 = true
				ch.k.feedOwn(dir, d.hdrPos, h)
				continue
			}
			if ch.mid && h[2] != rpch.PTypeRTS {
				var hb [dcerpc.HeaderLen]byte
				copy(hb[:], h)
				h = hb[:]
				pos := d.hdrPos
				if ch.role == roleNone && ch.midRole(dir, h[2]) {
					dir ^= 1 // the ends were the wrong way round
					d = &ch.dirs[dir]
				}
				ch.count(pos)
				d.hdrPos = pos
			}
			d.left = flen
			d.rts = h[2] == rpch.PTypeRTS
			if d.rts {
				d.rtsBuf = append(d.rtsBuf[:0], h...)
			} else {
				ch.forward(dir, d.hdrPos, h)
			}
			d.left -= len(h)
			if d.left == 0 && d.rts {
				ch.rts(dir, d.hdrPos, d.rtsBuf)
			}
			continue
		}
		n := min(d.left, len(b))
		if d.rts {
			if len(d.rtsBuf)+n <= maxRTS {
				d.rtsBuf = append(d.rtsBuf, b[:n]...)
			}
		} else {
			ch.forward(dir, pos, b[:n])
		}
		d.left -= n
		b = b[n:]
		if d.left == 0 && d.rts {
			if len(d.rtsBuf) > maxRTS || len(d.rtsBuf) < int(binary.LittleEndian.Uint16(d.rtsBuf[8:])) {
				ch.k.r.anomaly(AnomalyRTSMalformed, d.hdrPos, fmt.Sprintf("RTS PDU of %d bytes, more than %d: not read", binary.LittleEndian.Uint16(d.rtsBuf[8:]), maxRTS))
			} else {
				ch.rts(dir, d.hdrPos, d.rtsBuf)
			}
		}
	}
}

// rts reads one RTS PDU.
func (ch *channel) rts(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) {
	r := ch.k.r
	ch.v2 = true
	p, err := rpch.Parse(b)
	if err != nil {
		r.anomaly(AnomalyRTSMalformed, pos, err.Error())
		return
	}
	for _, c := range p.Commands() {
		if c.Type == rpch.CmdFlowControlAck {
			// It names a channel of the virtual connection it travels in
			// (http_older.go).
			r.linkCookie(ch, c.Cookie)
		}
	}
	s := p.Setup()
	if !s.OK || ch.vc != nil {
		return
	}
	switch {
	case ch.role != roleNone:
	case s.In:
		ch.role = roleIn
	case s.Out:
		ch.role = roleOut
	default:
		return // the outside leg's request head names the role
	}
	r.join(ch, s)
}

// join adds a channel to the virtual connection its first RTS PDU names.
func (r *runner) join(ch *channel, s rpch.Setup) {
	if r.vcs == nil {
		r.vcs = map[rpch.Cookie]*vconn{}
	}
	vc := r.vcs[s.VC]
	if vc == nil {
		vc = &vconn{cookie: s.VC}
		r.vcs[s.VC] = vc
	}
	ch.vc = vc
	old := &vc.in
	if ch.role == roleOut {
		old = &vc.out
	}
	if *old != nil {
		(*old).replaced = true // a successor channel
	}
	*old = ch
	if len(vc.members) < maxMembers {
		vc.members = append(vc.members, ch)
	}
	if s.ClientAddress.IsValid() {
		vc.addr = s.ClientAddress.Unmap()
	}
	if ch.user != "" {
		vc.httpUser(ch)
	}
	if vc.k == nil && vc.in != nil && vc.out != nil {
		r.startVC(vc)
	}
	// A channel older than the capture may carry these cookies
	// (http_older.go).
	r.linkCookie(ch, s.Channel)
	r.linkCookie(ch, s.Predecessor)
}

// startVC makes the DCE/RPC connection of a virtual connection and gives
// it what was held.
func (r *runner) startVC(vc *vconn) {
	ch := vc.in
	if ch == nil {
		ch = vc.out
	}
	r.nVCs++
	m := ch.k.c.Meta
	vk := &conn{r: r, mode: modeRPC, vc: vc}
	vk.tcp.data = true
	// The association's bind travels on the IN channel: it is not in the
	// capture when the IN channel is older than it.
	vk.c = dcerpc.NewConn(dcerpc.ConnMeta{ID: vcIDBase + r.nVCs, Client: m.Client, Server: m.Server, FromStart: vc.in == nil || !vc.in.mid}, vk, r.lim)
	vc.k = vk
	for _, h := range vc.held {
		vk.feedOwn(h.dir, h.pos, h.b)
	}
	r.heldTotal -= vc.heldN
	vc.held, vc.heldN = nil, 0
}

// httpUser gives the virtual connection the user a channel's HTTP
// authentication named (the IN channel's first).
func (vc *vconn) httpUser(ch *channel) {
	if vc.user == "" || ch.role == roleIn && vc.userCh != nil && vc.userCh.role != roleIn {
		vc.user, vc.userAt, vc.userCh = ch.user, ch.userAt, ch
	}
}

// forward hands the bytes of a DCE/RPC PDU of a channel to its virtual
// connection.
func (ch *channel) forward(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) {
	switch {
	case ch.role == roleIn && dir == dcerpc.ClientToServer, ch.role == roleOut && dir == dcerpc.ServerToClient:
	default:
		if !ch.warned {
			ch.warned = true
			what := "whose opening RTS PDU is not in the capture"
			if ch.role != roleNone {
				what = "in the direction that carries only RTS PDUs"
			}
			ch.k.r.anomaly(AnomalyHTTPChannelUnpaired, pos, "DCE/RPC PDUs on an RPC over HTTP channel "+what+": not decoded")
		}
		return
	}
	vc := ch.vc
	if vc == nil || vc.ended {
		return
	}
	if vc.k != nil {
		vc.k.feedOwn(dir, pos, b)
		return
	}
	r := ch.k.r
	if vc.unpaired {
		return // an OUT channel older than the capture, unpaired
	}
	if vc.heldN+len(b) > maxHeldBytes || len(vc.held) >= maxHeldParts || r.heldTotal+r.midBytes+len(b) > maxHeldTotal {
		if vc.mid {
			r.midUnpaired(vc, fmt.Sprintf("was not paired before it held %d bytes (or %d segments, or all such held %d bytes)", maxHeldBytes, maxHeldParts, maxHeldTotal), false)
			ch.forward(dir, pos, b)
			return
		}
		// The other channel is late: decode without it.
		r.anomaly(AnomalyHTTPChannelUnpaired, pos, fmt.Sprintf("an RPC over HTTP channel carried more than %d bytes (or %d segments, or the virtual connections held %d bytes) before its other channel appeared: decoded alone", maxHeldBytes, maxHeldParts, maxHeldTotal))
		r.startVC(vc)
		vc.k.feedOwn(dir, pos, b)
		return
	}
	vc.held = append(vc.held, heldPart{dir: dir, pos: pos, b: append([]byte(nil), b...)})
	vc.heldN += len(b)
	r.heldTotal += len(b)
}

// feedOwn gives bytes to the connection's own dcerpc.Conn.
func (k *conn) feedOwn(dir dcerpc.Dir, pos dcerpc.Pos, b []byte) {
	was := k.c.IsRPC()
	k.c.Feed(dir, pos, b)
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
}

// httpGap: bytes of a channel were lost (a gap, or the snap length's cut:
// hand says which to a DCE/RPC connection).
func (k *conn) httpGap(dir capture.Dir, pos capture.Pos, n int, hand func(*dcerpc.Conn, dcerpc.Dir, dcerpc.Pos, int)) {
	ch := k.ch
	if ch.swap {
		dir ^= 1
	}
	if ch.v1 {
		k.missing(dir, pos, n, hand)
		return
	}
	d := &ch.dirs[dir]
	forwarding := !d.rts && d.left > 0
	d.left, d.nh, d.rts, d.lost = 0, 0, false, true
	if d.inHead {
		d.head = nil
	}
	if d.chunk != nil && !d.chunk.Skip(int64(n)) {
		k.r.anomaly(AnomalyRTSMalformed, dcerpc.Pos(pos), "bytes of a chunked body were not captured, where its chunk framing was: the rest of the channel is not decoded")
		d.chunk, d.stream, d.body = nil, false, -1
	}
	if d.body > 0 && n > 0 {
		d.body = max(d.body-int64(n), 0)
	}
	if vc := ch.vc; forwarding && vc != nil && vc.k != nil && !vc.ended {
		if k.lost {
			vc.k.lost = true
		}
		if k.cut {
			vc.k.cut = true
		}
		hand(vc.k.c, dcerpc.Dir(dir), dcerpc.Pos(pos), -1)
	}
}

// httpEnd: a channel ended; its virtual connection ends with it, unless a
// successor took its place.
func (k *conn) httpEnd(pos capture.Pos, how capture.EndKind) {
	ch := k.ch
	if ch.v1 {
		k.mode = modeRPC
		k.End(pos, how)
		return
	}
	vc := ch.vc
	if vc == nil || vc.ended || ch.replaced {
		return
	}
	r := k.r
	vc.ended = true
	if !vc.mid {
		delete(r.vcs, vc.cookie)
	}
	r.retire(vc)
	if vc.k == nil && (vc.mid || vc.unpaired) {
		r.midUnpaired(vc, unpairedWhy, true)
		if vc.k == nil {
			return
		}
	}
	if vc.k == nil {
		r.anomaly(AnomalyHTTPChannelUnpaired, dcerpc.Pos(pos), "a virtual connection of RPC over HTTP ended with one channel only in the capture: requests without answers, or answers without requests")
		r.startVC(vc)
	}
	vc.k.End(pos, how)
}

// httpsWarning is the warning of a run that met TLS on port 443.
const httpsWarning = "RPC over HTTPS is encrypted: %d TLS connection(s) on port 443 were not decoded (Outlook Anywhere through an RPC proxy); capture on the domain controller, where the proxy speaks RPC over HTTP in clear, or on the proxy's inside leg"

// httpsWarnings adds the HTTPS warning to the first input that had TLS.
func (r *runner) httpsWarnings(inputs []capture.InputInfo) {
	if r.https == 0 || r.httpsFile < 0 || r.httpsFile >= len(inputs) {
		return
	}
	in := &inputs[r.httpsFile]
	in.Warnings = append(in.Warnings, fmt.Sprintf(httpsWarning, r.https))
}

// transport is the RPC protocol sequence of a connection's calls.
func (k *conn) transport() analyze.Transport {
	switch {
	case k.pipe != nil:
		return analyze.TransportNP
	case k.vc != nil || k.ch != nil && k.ch.v1:
		return analyze.TransportHTTP
	}
	return analyze.TransportTCP
}

// httpIdentity: a call on a virtual connection whose DCE/RPC layer names
// nobody takes the user of the HTTP authentication.
func (k *conn) httpIdentity(c *dcerpc.Call, id *analyze.Identity) {
	vc := k.vc
	if vc == nil || vc.user == "" || c.Sec.Authenticated {
		return
	}
	if vc.origin == nil || vc.origin.FromFrame != k.r.ref(vc.userAt) {
		vc.origin = &analyze.Origin{From: analyze.IdentityFromHTTP, FromFrame: k.r.ref(vc.userAt)}
	}
	id.User, id.Origin = vc.user, vc.origin
	id.Anonymous = false
}
