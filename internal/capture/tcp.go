package capture

import (
	"net/netip"
	"slices"
	"time"
)

// Sequence number arithmetic modulo 2^32 (RFC 9293 section 3.4).
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool  { return int32(a-b) <= 0 }
func seqDiff(a, b uint32) int { return int(int32(a - b)) }

func seqMax(a, b uint32) uint32 {
	if seqLT(a, b) {
		return b
	}
	return a
}

// flowKey is the canonical 4-tuple: the smaller endpoint first.
type flowKey struct {
	a, b netip.AddrPort
}

func makeKey(src, dst netip.AddrPort) flowKey {
	if src.Compare(dst) <= 0 {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// tombstoneTTL is how long (capture time) a closed connection's 4-tuple keeps
// swallowing stray retransmissions, final ACKs and resets.
const tombstoneTTL = 30 * time.Second

// maxTombstones bounds the closed connections remembered at once, so that a
// capture of a million short connections costs no more memory than a small one.
const maxTombstones = 1 << 16

// segment is an out-of-order segment, copied out of the packet buffer.
type segment struct {
	seq     uint32 // sequence number of data[0]
	data    []byte
	missing int // bytes after data cut by the snap length
	pos     Pos
	order   int64 // packet counter, to flush both directions in capture order
}

func (g *segment) end() uint32 { return g.seq + uint32(len(g.data)) + uint32(g.missing) }

// segOverhead is what a buffered segment costs besides its bytes: its entry
// in the pending list (with room to grow) and the rounding of its copy.
// Buffered counts charge it, so that a flood of one-byte segments is
// bounded by the same limits as a few large ones.
const segOverhead = 160

// cost is what the segment is charged in half.buffered.
func (g *segment) cost() int { return len(g.data) + segOverhead }

// half is the state of one direction of a connection.
type half struct {
	synSeen  bool
	isn      uint32 // initial sequence number, when synSeen
	started  bool   // next is valid
	next     uint32 // next expected sequence number
	finSeen  bool
	finSeq   uint32 // sequence number of the FIN
	ackValid bool
	ackMax   uint32 // highest ACK the other side sent for this direction
	pending  segList
	buffered int // bytes in pending
}

// conn is one tracked connection.
type conn struct {
	key     flowKey
	info    ConnInfo
	h       StreamHandler
	ignored bool // the handler declined the bytes (or there is no handler)
	// client is the client endpoint; a packet from it is ClientToServer.
	client  netip.AddrPort
	dirs    [2]half
	lastPos Pos
	// LRU list of open connections, most recently used first.
	prev, next *conn
	// ignored flows only track FINs, to forget the flow after the close.
	ignFIN [2]bool
}

// assembler turns decoded TCP packets into StreamHandler calls.
type assembler struct {
	factory     Factory
	maxBuffered int
	maxConns    int

	flows   map[flowKey]*conn
	last    *conn // of the previous packet (lookup)
	open    int   // connections in the LRU list
	lruHead *conn // most recently used
	lruTail *conn // least recently used
	// tombs are the closed connections, kept a while to swallow stray
	// packets; closedQ lists them in the order they closed.
	tombs   map[uint64]tomb // by flowHash
	closedQ []closedRef
	closedH int
	nTombs  uint64
	nextID  uint64
	order   int64 // packets seen
	now     time.Time
	stats   *Stats
	// total counts the out-of-order bytes buffered over all connections;
	// beyond maxTotal, the connection being buffered declares its holes
	// lost at once.
	total    int
	maxTotal int
}

// setBuffered updates one direction's buffered count and the total.
func (a *assembler) setBuffered(h *half, n int) {
	a.total += n - h.buffered
	h.buffered = n
}

func newAssembler(opts Options, stats *Stats) *assembler {
	a := &assembler{
		factory:     opts.Factory,
		maxBuffered: opts.MaxBuffered,
		maxConns:    opts.MaxConns,
		maxTotal:    opts.MaxBufferedTotal,
		flows:       make(map[flowKey]*conn),
		stats:       stats,
	}
	if a.maxBuffered <= 0 {
		a.maxBuffered = 1 << 20
	}
	if a.maxConns <= 0 {
		a.maxConns = DefaultMaxConns
	}
	if a.maxTotal <= 0 {
		a.maxTotal = DefaultMaxBufferedTotal
	}
	return a
}

func (a *assembler) lruRemove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		a.lruHead = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		a.lruTail = c.prev
	}
	c.prev, c.next = nil, nil
	a.open--
}

func (a *assembler) lruPush(c *conn) {
	c.prev = nil
	c.next = a.lruHead
	if a.lruHead != nil {
		a.lruHead.prev = c
	}
	a.lruHead = c
	if a.lruTail == nil {
		a.lruTail = c
	}
	a.open++
}

func (a *assembler) touch(c *conn) {
	if a.lruHead == c {
		return
	}
	a.lruRemove(c)
	a.lruPush(c)
}

// tomb is what is kept of a closed connection: enough to tell its stray
// packets from the bytes of a new connection on the same 4-tuple. Tombs are
// found by a 64-bit hash of the 4-tuple, so that a million short
// connections cost a few MB: two 4-tuples with the same hash would at worst
// let a stray packet start a connection, or swallow a packet of a new one
// that neither opens with a SYN nor brings new bytes.
type tomb struct {
	clientIsA bool // the client is flowKey.a
	dirs      [2]tombHalf
	serial    uint64 // which closedRef is this tomb's
}

type tombHalf struct {
	started, finSeen bool
	next, finSeq     uint32
}

type closedRef struct {
	hash   uint64
	at     int64 // capture time, Unix nanoseconds
	serial uint64
}

// flowHash is FNV-1a over the 4-tuple.
func flowHash(k flowKey) uint64 {
	const prime = 1099511628211
	x := uint64(14695981039346656037)
	for _, ap := range [2]netip.AddrPort{k.a, k.b} {
		a := ap.Addr().As16()
		for _, b := range a {
			x = (x ^ uint64(b)) * prime
		}
		x = (x ^ uint64(ap.Port()>>8)) * prime
		x = (x ^ uint64(ap.Port()&0xff)) * prime
	}
	return x
}

// expireTombstones forgets closed connections older than tombstoneTTL.
func (a *assembler) expireTombstones() {
	for a.closedH < len(a.closedQ) {
		r := a.closedQ[a.closedH]
		if a.now.UnixNano()-r.at < int64(tombstoneTTL) && len(a.closedQ)-a.closedH <= min(a.maxConns, maxTombstones) {
			break
		}
		if t, ok := a.tombs[r.hash]; ok && t.serial == r.serial {
			delete(a.tombs, r.hash)
		}
		a.closedQ[a.closedH] = closedRef{}
		a.closedH++
	}
	if a.closedH > 1024 && a.closedH*2 > len(a.closedQ) {
		n := copy(a.closedQ, a.closedQ[a.closedH:])
		clear(a.closedQ[n:])
		a.closedQ = a.closedQ[:n]
		a.closedH = 0
	}
}

// packet handles one decoded TCP segment.
func (a *assembler) packet(p *tcpPacket, pos Pos) {
	a.order++
	if pos.Time.After(a.now) {
		a.now = pos.Time
	}
	if a.closedH < len(a.closedQ) {
		a.expireTombstones()
	}
	key := makeKey(p.src, p.dst)
	c := a.lookup(key)
	isSYN := p.flags&flagSYN != 0
	synOnly := isSYN && p.flags&flagACK == 0
	if c == nil && len(a.tombs) > 0 {
		h := flowHash(key)
		if t, ok := a.tombs[h]; ok {
			// A new connection on the 4-tuple starts with a SYN or
			// carries bytes beyond the old stream's end.
			if !synOnly && !t.newDataAfterClose(p, key) {
				return
			}
			delete(a.tombs, h)
		}
	}
	if c != nil {
		switch {
		case c.ignored:
			if synOnly && c.isNewSYN(p) {
				a.forget(c)
				c = nil
				break
			}
			a.touch(c)
			if p.flags&flagRST != 0 {
				a.forget(c)
				return
			}
			if p.flags&flagFIN != 0 {
				c.ignFIN[c.dirOf(p.src)] = true
				if c.ignFIN[0] && c.ignFIN[1] {
					a.forget(c)
				}
			}
			return
		case synOnly && c.isNewSYN(p):
			// The old connection ended without our seeing it.
			a.finish(c, pos, EndEvicted)
			c = nil
		}
	}
	if c == nil {
		if !isSYN && len(p.payload) == 0 && p.missing == 0 {
			return // pure ACK, FIN or RST of a connection we do not know
		}
		c = a.newConn(key, p, pos)
		if c == nil {
			return
		}
	} else {
		a.touch(c)
	}
	c.lastPos = pos
	if c.ignored {
		return
	}
	d := c.dirOf(p.src)
	h := &c.dirs[d]
	o := &c.dirs[1-d]

	// An ACK may show the other direction's hole was received, so lost
	// from the capture.
	if p.flags&flagACK != 0 {
		if !o.ackValid || seqLT(o.ackMax, p.ack) {
			o.ackMax = p.ack
			o.ackValid = true
			if o.pending.len() > 0 && !a.advance(c, 1-d, pos, false) {
				return
			}
		}
	}

	seq := p.seq
	if isSYN {
		if !h.synSeen {
			h.synSeen = true
			h.isn = seq
			if !h.started {
				h.started = true
				h.next = seq + 1
			}
		}
		seq++
		if p.flags&flagACK != 0 && !o.synSeen {
			// A SYN-ACK acknowledges the other side's ISN + 1: its
			// data starts there (useful when the SYN is missing or
			// comes later, as across merged captures with skewed clocks).
			o.synSeen = true
			o.isn = p.ack - 1
			if !o.started {
				o.started = true
				o.next = p.ack
			}
		}
	}
	if p.flags&flagRST != 0 {
		// Deliver what the reset segment carries, if it is in order,
		// then end.
		a.data(c, d, seq, p.payload, p.missing, pos)
		if c.ignored {
			a.forget(c)
		} else {
			a.finish(c, pos, EndRST)
		}
		return
	}
	if !a.data(c, d, seq, p.payload, p.missing, pos) {
		return
	}
	if p.flags&flagFIN != 0 {
		fin := seq + uint32(len(p.payload)) + uint32(p.missing)
		if !h.started {
			h.started = true
			h.next = fin
		}
		if !h.finSeen {
			h.finSeen = true
			h.finSeq = fin
		}
		if c.dirs[0].finSeen && c.dirs[1].finSeen {
			a.finish(c, pos, EndFIN)
		}
	}
}

// dirOf says which direction a packet from src travels.
func (c *conn) dirOf(src netip.AddrPort) Dir {
	if src == c.client {
		return ClientToServer
	}
	return ServerToClient
}

// isNewSYN reports whether a SYN (without ACK) from p's sender starts a new
// connection rather than retransmitting the one that opened c.
func (c *conn) isNewSYN(p *tcpPacket) bool {
	if !c.info.SawSYN || p.src != c.client {
		return true
	}
	h := &c.dirs[ClientToServer]
	return !h.synSeen || p.seq != h.isn
}

// newDataAfterClose reports whether p carries bytes beyond the end of the
// closed connection t, so it belongs to a new one.
func (t *tomb) newDataAfterClose(p *tcpPacket, key flowKey) bool {
	if len(p.payload) == 0 && p.missing == 0 {
		return false
	}
	d := ServerToClient
	if (p.src == key.a) == t.clientIsA {
		d = ClientToServer
	}
	h := &t.dirs[d]
	if !h.started {
		return true
	}
	limit := h.next
	if h.finSeen {
		limit = seqMax(limit, h.finSeq+1)
	}
	end := p.seq + uint32(len(p.payload)) + uint32(p.missing)
	return seqLT(limit, end)
}

// newConn starts tracking a connection. It returns nil when the factory
// declines it; the flow is then remembered as ignored.
func (a *assembler) newConn(key flowKey, p *tcpPacket, pos Pos) *conn {
	if a.open >= a.maxConns {
		a.evict()
	}
	a.nextID++
	a.stats.Conns++
	c := &conn{key: key, lastPos: pos}
	c.info.ID = a.nextID
	c.info.First = pos
	switch {
	case p.flags&flagSYN != 0 && p.flags&flagACK == 0:
		c.info.SawSYN = true
		c.client = p.src
		c.info.Client, c.info.Server = p.src, p.dst
	case p.flags&flagSYN != 0:
		// SYN-ACK: the receiver is the client.
		c.info.SawSYN = true
		c.client = p.dst
		c.info.Client, c.info.Server = p.dst, p.src
	case p.src.Port() > p.dst.Port() || p.src.Port() == p.dst.Port():
		c.client = p.src
		c.info.Client, c.info.Server = p.src, p.dst
	default:
		c.client = p.dst
		c.info.Client, c.info.Server = p.dst, p.src
	}
	a.flows[key] = c
	a.lruPush(c)
	if a.factory != nil {
		c.h = a.factory(c.info)
	}
	if c.h == nil {
		c.ignored = true
	}
	return c
}

// evict ends the least recently used open connection.
func (a *assembler) evict() {
	c := a.lruTail
	if c == nil {
		return
	}
	a.stats.Evicted++
	if c.ignored {
		a.forget(c)
		return
	}
	a.finish(c, c.lastPos, EndEvicted)
}

// lookup finds the open connection of key. The connection of the previous
// packet is tried first: a segment is often followed by another of its
// connection (the answer, the next fragment, the ACK), and comparing two
// keys costs less than hashing one.
func (a *assembler) lookup(key flowKey) *conn {
	if a.last != nil && a.last.key == key {
		return a.last
	}
	c := a.flows[key]
	if c != nil {
		a.last = c
	}
	return c
}

// unlist removes c from the table of open connections and reports whether
// it was there.
func (a *assembler) unlist(c *conn) bool {
	if a.last == c {
		a.last = nil
	}
	if a.flows[c.key] != c {
		return false
	}
	delete(a.flows, c.key)
	return true
}

// forget drops an open connection without any handler call.
func (a *assembler) forget(c *conn) {
	a.lruRemove(c)
	a.unlist(c)
	c.h = nil
	c.dirs = [2]half{}
}

// finish flushes both directions, calls End and leaves a tombstone.
func (a *assembler) finish(c *conn, pos Pos, how EndKind) {
	if !c.ignored {
		a.flush(c, pos)
	}
	if !c.ignored && c.h != nil {
		c.h.End(pos, how)
	}
	a.lruRemove(c)
	c.h = nil
	c.ignored = false
	for i := range c.dirs {
		c.dirs[i].pending = segList{}
		a.setBuffered(&c.dirs[i], 0)
	}
	if a.unlist(c) {
		a.nTombs++
		t := tomb{clientIsA: c.client == c.key.a, serial: a.nTombs}
		for i, h := range c.dirs {
			t.dirs[i] = tombHalf{started: h.started, finSeen: h.finSeen, next: h.next, finSeq: h.finSeq}
		}
		if a.tombs == nil {
			a.tombs = map[uint64]tomb{}
		}
		h := flowHash(c.key)
		a.tombs[h] = t
		a.closedQ = append(a.closedQ, closedRef{hash: h, at: a.now.UnixNano(), serial: t.serial})
	}
}

// flush delivers everything buffered, declaring every hole lost, in capture
// order across the two directions.
func (a *assembler) flush(c *conn, pos Pos) {
	for !c.ignored {
		h0, h1 := &c.dirs[0], &c.dirs[1]
		var d Dir
		switch {
		case h0.pending.len() == 0 && h1.pending.len() == 0:
			return
		case h1.pending.len() == 0:
			d = 0
		case h0.pending.len() == 0:
			d = 1
		case h1.pending.front().order < h0.pending.front().order:
			d = 1
		default:
			d = 0
		}
		h := &c.dirs[d]
		g := *h.pending.front()
		if seqLT(h.next, g.seq) {
			c.h.Gap(d, pos, seqDiff(g.seq, h.next))
			h.next = g.seq
		}
		h.pending.popFront()
		a.setBuffered(h, h.buffered-g.cost())
		a.deliver(c, d, g.seq, g.data, g.missing, g.pos)
	}
}

// data handles the bytes of one segment of direction d starting at seq. It
// returns false when the connection is no longer interesting.
func (a *assembler) data(c *conn, d Dir, seq uint32, b []byte, missing int, pos Pos) bool {
	if len(b) == 0 && missing == 0 {
		return !c.ignored
	}
	h := &c.dirs[d]
	if !h.started {
		// The start of this direction is not in the capture.
		h.started = true
		h.next = seq
	}
	end := seq + uint32(len(b)) + uint32(missing)
	if seqLE(end, h.next) {
		return true // retransmission (or keep-alive probe)
	}
	if seqLE(seq, h.next) {
		if !a.deliver(c, d, seq, b, missing, pos) {
			return false
		}
		return a.advance(c, d, pos, false)
	}
	// Out of order: keep a copy until the hole fills or is declared lost.
	if h.ackValid && seqLE(seq, h.ackMax) {
		// The receiver already acknowledged the hole.
		c.h.Gap(d, pos, seqDiff(seq, h.next))
		h.next = seq
		if !a.deliver(c, d, seq, b, missing, pos) {
			return false
		}
		return a.advance(c, d, pos, false)
	}
	a.buffer(h, seq, b, missing, pos, a.order)
	return a.advance(c, d, pos, h.buffered > a.maxBuffered || a.total > a.maxTotal)
}

// buffer inserts a copy of a segment into h.pending, sorted by sequence.
func (a *assembler) buffer(h *half, seq uint32, b []byte, missing int, pos Pos, order int64) {
	bi, j, old := h.pending.find(seq)
	if old != nil && old.seq == seq {
		// Same start: keep the longer one.
		if seqLE(seq+uint32(len(b))+uint32(missing), old.end()) {
			return
		}
		a.setBuffered(h, h.buffered-len(old.data)+len(b))
		old.data = append(old.data[:0], b...)
		old.missing = missing
		return
	}
	g := segment{seq: seq, data: append([]byte(nil), b...), missing: missing, pos: pos, order: order}
	h.pending.insertAt(bi, j, g)
	a.setBuffered(h, h.buffered+g.cost())
}

// advance delivers buffered segments that have become in order. When the
// first buffered segment is beyond a hole, the hole is declared lost if the
// receiver acknowledged past it, or if force is set (too much buffered).
func (a *assembler) advance(c *conn, d Dir, pos Pos, force bool) bool {
	h := &c.dirs[d]
	for h.pending.len() > 0 && !c.ignored {
		g := *h.pending.front()
		if seqLT(h.next, g.seq) {
			lost := force || h.ackValid && seqLE(g.seq, h.ackMax)
			if !lost {
				break
			}
			c.h.Gap(d, pos, seqDiff(g.seq, h.next))
			h.next = g.seq
			force = h.buffered-g.cost() > a.maxBuffered || a.total-g.cost() > a.maxTotal
		}
		h.pending.popFront()
		a.setBuffered(h, h.buffered-g.cost())
		if !a.deliver(c, d, g.seq, g.data, g.missing, g.pos) {
			return false
		}
	}
	return !c.ignored
}

// deliver hands the part of a segment beyond h.next to the handler: the
// captured bytes, then a Cut (or, for a handler that is no Cutter, a Gap)
// for the bytes the snap length cut.
func (a *assembler) deliver(c *conn, d Dir, seq uint32, b []byte, missing int, pos Pos) bool {
	h := &c.dirs[d]
	if skip := seqDiff(h.next, seq); skip > 0 {
		if skip >= len(b) {
			missing -= skip - len(b)
			b = nil
		} else {
			b = b[skip:]
		}
	}
	if len(b) > 0 {
		h.next += uint32(len(b))
		if !c.h.Data(d, pos, b) {
			c.ignored = true
			a.dropBuffers(c)
			return false
		}
	}
	if missing > 0 {
		if ct, ok := c.h.(Cutter); ok {
			ct.Cut(d, pos, missing)
		} else {
			c.h.Gap(d, pos, missing)
		}
		h.next += uint32(missing)
	}
	return true
}

// dropBuffers frees what an ignored connection buffered.
func (a *assembler) dropBuffers(c *conn) {
	c.h = nil
	for i := range c.dirs {
		c.dirs[i].pending = segList{}
		a.setBuffered(&c.dirs[i], 0)
	}
}

// closeAll ends every open connection at the end of the input, in ID order.
func (a *assembler) closeAll() {
	var open []*conn
	for c := a.lruHead; c != nil; c = c.next {
		open = append(open, c)
	}
	slices.SortFunc(open, func(x, y *conn) int {
		switch {
		case x.info.ID < y.info.ID:
			return -1
		case x.info.ID > y.info.ID:
			return 1
		}
		return 0
	})
	for _, c := range open {
		if c.ignored {
			a.forget(c)
			continue
		}
		how := EndOfCapture
		if c.dirs[0].finSeen || c.dirs[1].finSeen {
			how = EndFIN
		}
		a.finish(c, c.lastPos, how)
	}
}
