package pipeline

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/rpch"
)

// RPC over HTTP channels opened before the capture (docs/rpc-over-http.md,
// "Channels older than the capture"). Such a channel's first captured bytes
// are not the ncacn_http/1.0 banner: the connection is read as plain
// DCE/RPC. Its content tells what it is: RTS PDUs (PTYPE 20) belong to RPC
// over HTTP v2 only, and requests that never get an answer on the
// connection (or answers without requests) are its IN (or OUT) half.
//
// A connection whose start is not in the capture (no SYN) keeps a copy of
// its bytes (midState, bounded) while it is read as plain DCE/RPC. An answer
// to a request on the connection itself shows that it is not a channel: the
// copy is dropped. An RTS PDU (dcerpc.RTSSeer) shows that it is one: its
// parser is dropped without a word (what it reported, held until then, is
// forgotten), and the copy is read again as a channel's streams, from the
// first plausible PDU header of each direction. The channel's role is that
// of its first DCE/RPC PDU: requests travel on the IN channel, answers on
// the OUT channel.
//
// Such a channel has no opening RTS PDU: its virtual connection cookie is
// unknown. What ties two channels is the channel cookie that flow control
// acknowledgments carry (MS-RPCH 2.2.3.5.2, 2.2.3.4): a FlowControlAck
// names, by its ChannelCookie, a channel of the virtual connection it
// travels in (3.2.1.5.1: a cookie that names no channel of the virtual
// connection is discarded), and forwarded acknowledgments (those with a
// Destination, 3.2.1.5.2) travel through the other channels of the same
// virtual connection: the client's acknowledgment of the OUT channel goes
// up its IN channel to the server, which passes it down the OUT channel;
// the proxies' own acknowledgments name the channel they travel on. Channel
// cookies are random 16-byte values, one per channel: two connections that
// carry the same cookie are channels of one virtual connection. That, and
// nothing weaker (not ports, times or addresses), pairs them; a channel
// that started in the capture takes part by the cookies its opening RTS PDU
// names. Once an IN and an OUT channel are tied, their PDUs, held until
// then (bounded as a virtual connection's), make one DCE/RPC connection, in
// capture order; its bind is older than the capture, so its interfaces are
// inferred as any such connection's (older.go).
//
// A channel that nothing tied by its end (or by the bounds of what is held)
// is reported once, as http_channel_older (a notice): an IN channel's
// requests are then listed without answers, marked answer_elsewhere and
// never counted unanswered; an OUT channel's answers are not listed, since
// nothing says which requests they answer. No answer is ever guessed.

// Bounds on what a connection older than the capture keeps while it is
// undecided (over all of them, with what virtual connections hold while a
// channel is missing: maxHeldTotal), and on the channel cookies
// remembered.
const (
	maxMidBytes  = 256 << 10
	maxMidSegs   = 4096
	maxCookies   = 1 << 14
	maxVCCookies = 16
	maxMembers   = 8
)

// Kinds of the segments a midState keeps.
const (
	segData = iota
	segGap
	segCut
)

type midSeg struct {
	dir  capture.Dir
	kind uint8
	pos  capture.Pos
	n    int
}

// midState is what a connection whose start is not in the capture keeps
// while it is read as plain DCE/RPC and nothing decided yet whether it is an
// RPC over HTTP channel.
type midState struct {
	client, server netip.AddrPort // the capture layer's ends
	buf            []byte
	segs           []midSeg
	// full: the bounds were passed and nothing more is kept: an RTS PDU
	// then comes too late (reported).
	full   bool
	rts    bool
	rtsPos dcerpc.Pos
	// anoms: what its parser reported, held (heldAnom); logons: the
	// logons it reported (removed if the connection is a channel).
	anoms  []heldAnom
	logons []Logon
}

// heldAnom is an anomaly kind held for an undecided connection: its count,
// its first occurrence and the rank that occurrence took (runner.anomSeq).
type heldAnom struct {
	kind, detail string
	pos          dcerpc.Pos
	seq, n       int64
}

// newMid starts keeping the bytes of a connection older than the capture.
func (k *conn) newMid() {
	m := k.c.Meta
	k.mid = &midState{client: m.Client, server: m.Server}
}

// keep copies what came for the connection, within the bounds.
func (m *midState) keep(r *runner, dir capture.Dir, kind uint8, pos capture.Pos, b []byte, n int) {
	if m.full {
		return
	}
	if len(m.buf)+len(b) > maxMidBytes || len(m.segs) >= maxMidSegs || r.midBytes+r.heldTotal+len(b) > maxHeldTotal {
		r.midBytes -= len(m.buf)
		m.full, m.buf, m.segs = true, nil, nil
		return
	}
	m.buf = append(m.buf, b...)
	r.midBytes += len(b)
	m.segs = append(m.segs, midSeg{dir: dir, kind: kind, pos: pos, n: n})
}

// midData feeds an undecided connection's parser and keeps its bytes.
func (k *conn) midData(dir capture.Dir, pos capture.Pos, b []byte) bool {
	m := k.mid
	m.keep(k.r, dir, segData, pos, b, len(b))
	was := k.c.IsRPC()
	ok := k.c.Feed(dcerpc.Dir(dir), dcerpc.Pos(pos), b)
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
	switch {
	case m.rts:
		k.midRTS()
	case !ok:
		k.midPlain()
	}
	return ok || k.mode == modeHTTP
}

// midMissing keeps a gap or a cut of an undecided connection.
func (k *conn) midMissing(dir capture.Dir, pos capture.Pos, n int, cut bool) {
	kind := uint8(segGap)
	if cut {
		kind = segCut
	}
	k.mid.keep(k.r, dir, kind, pos, nil, n)
}

// SawRTS is dcerpc.RTSSeer: an RTS PDU on a connection read as plain
// DCE/RPC.
func (k *conn) SawRTS(pos dcerpc.Pos) {
	if m := k.mid; m != nil && !m.rts {
		m.rts, m.rtsPos = true, pos
	}
}

// midRTS: an RTS PDU showed the connection to be an RPC over HTTP channel.
func (k *conn) midRTS() {
	if !k.mid.full {
		k.midConvert()
		return
	}
	pos := k.mid.rtsPos
	k.midPlain()
	k.r.anomaly(AnomalyHTTPChannelUnpaired, pos, fmt.Sprintf("an RTS PDU showed the connection %s > %s, older than the capture, to be an RPC over HTTP channel after more than %d bytes (or %d segments) of it were read as plain DCE/RPC: it stays read so (requests without answers, or answers without requests)",
		k.c.Meta.Client, k.c.Meta.Server, maxMidBytes, maxMidSegs))
}

// midPlain: the connection is plain DCE/RPC (an answered call on it, its
// end, or too much to keep): what its parser reported is reported.
func (k *conn) midPlain() {
	m, r := k.mid, k.r
	k.mid = nil
	r.midBytes -= len(m.buf)
	for _, h := range m.anoms {
		r.addAnomaly(h.kind, h.pos, h.detail, h.n, h.seq)
	}
}

// holdAnomaly holds an anomaly of an undecided connection, with the rank
// it would have taken.
func (m *midState) holdAnomaly(r *runner, a dcerpc.Anomaly) {
	r.anomSeq++
	for i := range m.anoms {
		if m.anoms[i].kind == a.Kind {
			m.anoms[i].n++
			return
		}
	}
	m.anoms = append(m.anoms, heldAnom{kind: a.Kind, detail: a.Detail, pos: a.Pos, seq: r.anomSeq, n: 1})
}

// midConvert reads an undecided connection again as an RPC over HTTP
// channel opened before the capture.
func (k *conn) midConvert() {
	r, m := k.r, k.mid
	k.mid = nil
	r.midBytes -= len(m.buf)
	if k.c.IsRPC() {
		r.rpcConn--
	}
	id := k.c.Meta.ID
	k.c.Drop()
	for _, l := range m.logons {
		for i := len(r.logons) - 1; i >= 0; i-- {
			if r.logons[i] == l {
				r.logons = slices.Delete(r.logons, i, i+1)
				break
			}
		}
	}
	k.c = dcerpc.NewConn(dcerpc.ConnMeta{ID: id, Client: m.client, Server: m.server}, k, r.lim)
	k.mode = modeHTTP
	ch := &channel{k: k, mid: true, v2: true}
	k.ch = ch
	r.midVC(ch)
	skip, found := m.firstPDUs()
	for i := range ch.dirs {
		d := &ch.dirs[i]
		d.started, d.body = true, -1
		d.lost = !found[i] // no header found yet: resynchronise quietly
	}
	off := 0
	for _, s := range m.segs {
		if s.kind != segData {
			hand := (*dcerpc.Conn).Gap
			if s.kind == segCut {
				hand = (*dcerpc.Conn).Cut
			}
			k.httpGap(s.dir, s.pos, s.n, hand)
			continue
		}
		b := m.buf[off : off+s.n]
		off += s.n
		if n := min(skip[s.dir], len(b)); n > 0 {
			skip[s.dir] -= n
			b = b[n:]
		}
		if len(b) > 0 {
			k.httpData(s.dir, s.pos, b)
		}
	}
}

// firstPDUs returns, per direction, how many of the kept bytes come before
// the first plausible PDU header (dcerpc.Plausible: the parser's own
// checks) and whether one was found before the direction's first gap;
// without one, all those bytes are skipped and what follows is searched.
func (m *midState) firstPDUs() (skip [2]int, found [2]bool) {
	for dir := range skip {
		var b []byte
		off := 0
		for _, s := range m.segs {
			data := s.kind == segData
			if s.dir == capture.Dir(dir) && !data {
				break
			}
			if s.dir == capture.Dir(dir) {
				b = append(b, m.buf[off:off+s.n]...)
			}
			if data {
				off += s.n
			}
		}
		skip[dir], found[dir] = len(b), len(b) == 0
		for o := range b {
			if b[o] != 5 {
				continue
			}
			if ok, more := dcerpc.Plausible(b, o); ok || more {
				skip[dir], found[dir] = o, true
				break
			}
		}
	}
	return skip, found
}

// midVC gives a channel opened before the capture a virtual connection of
// its own, until a channel cookie ties it to another.
func (r *runner) midVC(ch *channel) {
	vc := &vconn{mid: true}
	vc.members = append(vc.members, ch)
	ch.vc = vc
}

// midRole decides a channel's role by its first DCE/RPC PDU (ptype, in
// direction dir): requests and binds travel on the IN channel from the
// client, answers on the OUT channel from the server. It reports whether
// the ends were the wrong way round, and then swaps them (and the
// directions of the splitter).
func (ch *channel) midRole(dir dcerpc.Dir, ptype uint8) bool {
	var role uint8
	switch ptype {
	case dcerpc.PTypeRequest, dcerpc.PTypeBind, dcerpc.PTypeAlter, dcerpc.PTypeAuth3, dcerpc.PTypeCoCancel, dcerpc.PTypeOrphaned:
		role = roleIn
	case dcerpc.PTypeResponse, dcerpc.PTypeFault, dcerpc.PTypeBindAck, dcerpc.PTypeAlterResp, dcerpc.PTypeBindNak, dcerpc.PTypeShutdown:
		role = roleOut
	default:
		return false
	}
	swap := role == roleIn && dir == dcerpc.ServerToClient || role == roleOut && dir == dcerpc.ClientToServer
	if swap {
		ch.swap = !ch.swap
		ch.dirs[0], ch.dirs[1] = ch.dirs[1], ch.dirs[0]
		m := &ch.k.c.Meta
		m.Client, m.Server = m.Server, m.Client
	}
	ch.role = role
	vc := ch.vc
	vc.place(ch)
	if vc.k == nil && vc.in != nil && vc.out != nil {
		ch.k.r.startVC(vc)
	}
	return swap
}

// place puts a member channel whose role is known in its virtual
// connection's slot; of two of one role, the one whose connection was
// seen later is the current one (a successor), the other replaced.
func (vc *vconn) place(ch *channel) {
	slot := &vc.in
	switch ch.role {
	case roleIn:
	case roleOut:
		slot = &vc.out
	default:
		return
	}
	cur := *slot
	switch {
	case cur == nil || cur == ch:
		*slot = ch
	case later(ch.k.tcp.first, cur.k.tcp.first):
		cur.replaced = true
		*slot = ch
	default:
		ch.replaced = true
	}
}

// later reports whether a was captured after b.
func later(a, b capture.Pos) bool {
	if a.Time.Equal(b.Time) {
		return a.File > b.File || a.File == b.File && a.Frame > b.Frame
	}
	return a.Time.After(b.Time)
}

// linkCookie notes a channel cookie a channel carries (in a FlowControlAck,
// or its opening RTS PDU): two virtual connections that carry one cookie
// are one.
func (r *runner) linkCookie(ch *channel, c rpch.Cookie) {
	vc := ch.vc
	if vc == nil || vc.ended || c == (rpch.Cookie{}) {
		return
	}
	if r.cookies == nil {
		r.cookies = map[rpch.Cookie]*vconn{}
	}
	other := r.cookies[c]
	switch {
	case other == vc:
	case other == nil || other.ended:
		if len(r.cookies) < maxCookies && len(vc.cookies) < maxVCCookies {
			r.cookies[c] = vc
			vc.cookies = append(vc.cookies, c)
		}
	default:
		r.mergeVC(other, vc)
	}
}

// mergeVC makes the virtual connections a and b one: they carry a channel
// cookie in common. A virtual connection that began in the capture (its
// cookie known) keeps its identity; once it has an IN and an OUT channel,
// its DCE/RPC connection starts, with what both held, in capture order.
func (r *runner) mergeVC(a, b *vconn) {
	if !a.mid && !b.mid {
		return // two virtual connections of the capture: their cookies tell them apart
	}
	dst, src := a, b
	if dst.k == nil && src.k != nil || dst.k == nil && src.k == nil && dst.mid && !src.mid {
		dst, src = src, dst
	}
	if src.k != nil || src.unpaired || dst.unpaired {
		return // both already decoded, or given up: too late to join them
	}
	if !src.mid {
		// A virtual connection of the capture joins one of channels older
		// than it, already decoding: the latter takes its cookie.
		dst.cookie, dst.mid = src.cookie, false
		r.vcs[src.cookie] = dst
	}
	for _, ch := range src.members {
		ch.vc = dst
		if len(dst.members) < maxMembers {
			dst.members = append(dst.members, ch)
		}
		dst.place(ch)
	}
	for _, c := range src.cookies {
		if r.cookies[c] == src {
			r.cookies[c] = dst
		}
		if len(dst.cookies) < maxVCCookies {
			dst.cookies = append(dst.cookies, c)
		}
	}
	if !dst.addr.IsValid() {
		dst.addr = src.addr
	}
	if src.user != "" {
		dst.httpUser(src.userCh)
	}
	held := src.held
	src.held, src.heldN, src.members, src.cookies, src.ended = nil, 0, nil, nil, true
	if dst.k != nil {
		// A channel older than the capture joins a running virtual
		// connection (a predecessor): what it held goes in now.
		r.heldTotal -= heldBytes(held)
		for _, h := range held {
			dst.k.feedOwn(h.dir, h.pos, h.b)
		}
		return
	}
	dst.held = mergeHeld(dst.held, held)
	dst.heldN += heldBytes(held)
	if dst.in != nil && dst.out != nil {
		r.startVC(dst)
	}
}

func heldBytes(h []heldPart) int {
	n := 0
	for _, p := range h {
		n += len(p.b)
	}
	return n
}

// mergeHeld merges two lists of held parts, each in capture order, into
// one in capture order.
func mergeHeld(a, b []heldPart) []heldPart {
	if len(b) == 0 {
		return a
	}
	out := make([]heldPart, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if later(capture.Pos(a[0].pos), capture.Pos(b[0].pos)) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// midUnpaired gives up pairing a virtual connection of channels older than
// the capture: each channel that carried DCE/RPC PDUs is reported once; an
// IN channel's requests are decoded alone (answer_elsewhere), an OUT
// channel's answers dropped.
func (r *runner) midUnpaired(vc *vconn, why string, final bool) {
	vc.unpaired = true
	for _, ch := range vc.members {
		if ch.reported || ch.nPDUs == 0 {
			continue
		}
		ch.reported = true
		m := ch.k.c.Meta
		frames := fmt.Sprintf("%d PDUs, frames %d to %d", ch.nPDUs, ch.firstPos.Frame, ch.lastPos.Frame)
		if !final {
			frames = fmt.Sprintf("from frame %d on", ch.firstPos.Frame)
		}
		what := "its requests (" + frames + ") are listed without answers (answer_elsewhere), not counted unanswered"
		role := "IN"
		if ch.role == roleOut {
			role = "OUT"
			what = "its answers (" + frames + ") are not listed: nothing says which requests they answer"
		}
		r.anomaly(AnomalyHTTPChannelOlder, ch.firstPos, fmt.Sprintf("RPC over HTTP %s channel %s > %s, opened before the capture, %s: %s", role, m.Client, m.Server, why, what))
	}
	if vc.in != nil && vc.k == nil {
		r.startVC(vc)
		return
	}
	r.heldTotal -= vc.heldN
	vc.held, vc.heldN = nil, 0
}

// unpairedWhy is why a channel older than the capture stays unpaired, at
// its end.
const unpairedWhy = "could not be paired with its other channel (no flow control acknowledgment it carried named a channel cookie that another connection of the capture carried)"

// retire forgets the cookies of a virtual connection that ended.
func (r *runner) retire(vc *vconn) {
	for _, c := range vc.cookies {
		if r.cookies[c] == vc {
			delete(r.cookies, c)
		}
	}
	vc.cookies = nil
}

// count notes a DCE/RPC PDU of a channel older than the capture, for the
// report of an unpaired one.
func (ch *channel) count(pos dcerpc.Pos) {
	if ch.nPDUs == 0 {
		ch.firstPos = pos
	}
	ch.nPDUs++
	ch.lastPos = pos
}
