package dcerpc

import (
	"sort"
	"sync"
	"unsafe"
)

type mark struct {
	off int64
	pos Pos
}

type dirState struct {
	// buf holds the bytes not yet parsed: a window of mem, starting head
	// bytes into it. Parsing a PDU moves the window instead of the bytes
	// after it, which are moved to the front of mem only when more bytes
	// are appended (grow): a segment that carries many PDUs costs one
	// copy, not one per PDU.
	buf      []byte
	mem      []byte // buf's array from its start, length 0
	head     int
	base     int64 // stream offset of buf[0]
	marks    []mark
	skip     int   // bytes to drop before the next header (exact resync)
	scanning bool  // looking for a header after losing sync
	skipped  int   // bytes dropped by the current scan in earlier Feeds
	seen     int64 // bytes seen in this direction
	// cut: the snap length cut bytes of this direction (Conn.Cut).
	cut     bool
	charged int   // bytes charged to Limits.Buffers
	box     *bufs // where buf and marks came from (bufPool)
}

// bufs are the buffers of a direction that holds a partial PDU. They go
// back to the pool (bufFree) as soon as the direction holds nothing, so that an open
// connection keeps no buffer between PDUs, and a PDU that spans segments
// (or carries an auth trailer) does not cost an allocation.
type bufs struct {
	buf   []byte
	marks []mark
}

// bufFree is the pool: a short free list, so that what it holds (at most
// maxFreeBufs buffers of at most maxPooled bytes, 1 MiB) stays out of the
// sums the budgets make. It is shared by every pipeline of the process.
var bufFree struct {
	sync.Mutex
	l []*bufs
}

const (
	maxFreeBufs = 256
	maxPooled   = 4 << 10 // larger buffers are left to the collector
)

func getBufs() *bufs {
	bufFree.Lock()
	defer bufFree.Unlock()
	if n := len(bufFree.l); n > 0 {
		b := bufFree.l[n-1]
		bufFree.l[n-1] = nil
		bufFree.l = bufFree.l[:n-1]
		return b
	}
	return &bufs{buf: make([]byte, 0, 2048), marks: make([]mark, 0, 4)}
}

func putBufs(b *bufs) {
	bufFree.Lock()
	defer bufFree.Unlock()
	if len(bufFree.l) < maxFreeBufs {
		bufFree.l = append(bufFree.l, b)
	}
}

// take gives d buffers from the pool when it has none.
func (d *dirState) take() {
	if d.buf == nil {
		if d.box == nil {
			d.box = getBufs()
		}
		d.buf, d.marks = d.box.buf[:0], d.box.marks[:0]
		d.mem, d.head = d.buf, 0
	}
}

// grow appends b to the buffer (after take).
func (d *dirState) grow(b []byte) {
	if d.head > 0 && cap(d.buf)-len(d.buf) < len(b) {
		n := copy(d.mem[:len(d.buf)], d.buf)
		d.buf, d.head = d.mem[:n], 0
	}
	d.buf = append(d.buf, b...)
	if d.head == 0 {
		d.mem = d.buf[:0]
	}
}

// clear empties the buffer, keeping it.
func (d *dirState) clear() {
	d.buf, d.head = d.mem[:0], 0
}

// giveBack returns d's buffers to the pool, emptied; d then holds none.
// Every place that drops d's buffers goes through it, so that a box never
// stays behind holding an uncharged buffer.
func (d *dirState) giveBack() {
	if d.box != nil && cap(d.mem) <= maxPooled && d.mem != nil {
		d.box.buf, d.box.marks = d.mem[:0], d.marks[:0]
		putBufs(d.box)
	}
	d.box = nil
	d.buf, d.mem, d.head, d.marks = nil, nil, 0, nil
}

type pending struct {
	ctx   []ContextElem
	alter bool
	cost  int // charged to Limits.Budget
	// sec, hasSec: the auth_context_id of the bind or alter_context's
	// auth trailer, the security context negotiated with its
	// presentation contexts.
	sec    uint32
	hasSec bool
}

// presCtx is an accepted presentation context: its abstract syntax and
// the security context negotiated with it, as 1 + its index in Conn.secs
// (0: its bind or alter_context carried no auth trailer). A byte, not the
// auth_context_id: the map entry stays as small as the syntax alone.
type presCtx struct {
	iface SyntaxID
	sec   uint8
	// ndr64: the bind_ack accepted the NDR64 transfer syntax for it
	// (MS-RPCE 2.2.5): its stubs are NDR64, not NDR20.
	ndr64 bool
}

type secCtx struct {
	Security
	u   SecurityContext // the Unsealer's state; nil without one
	idx uint8           // 1 + its index in Conn.secs
	// ntlm is the Origin of a user an NTLM AUTHENTICATE named
	// (Security.Origin points here: no allocation per context).
	ntlm Origin
}

// Conn turns the two byte streams of one TCP connection into DCE/RPC calls.
type Conn struct {
	Meta    ConnMeta
	h       Handler
	lim     Limits
	state   uint8 // 0 undecided, 1 DCE/RPC, 2 not DCE/RPC
	swapped bool
	dirs    [2]dirState

	contexts map[uint16]presCtx
	binds    map[uint32]pending
	sec      map[uint32]*secCtx
	secs     []*secCtx // the same, in the order they were negotiated (presCtx.sec)
	lastSec  *secCtx
	// inflight: requests in reassembly (by call_id); waiting: requests
	// complete and awaiting a response; responses: responses in reassembly.
	inflight  map[uint32]*Call
	waiting   map[uint32]*Call
	responses map[uint32]*Message
	closed    bool
	lostTail  bool // the response PDU being handled lost its end to a gap
	// cut: the gap being handled is the snap length's (Cut).
	cut bool
	// lastAuth: the sec_trailer (without value) of the last request or
	// response that carried one.
	lastAuth AuthTrailer
	// fixed: bytes charged to Limits.Budget for the presentation and
	// security contexts, given back at Close.
	fixed int
}

const (
	stateUndecided = 0
	stateRPC       = 1
	stateNotRPC    = 2
)

// NewConn returns a connection parser. Calls and anomalies go to h.
func NewConn(meta ConnMeta, h Handler, lim Limits) *Conn {
	if lim.MaxCallBytes <= 0 {
		lim.MaxCallBytes = DefaultLimits.MaxCallBytes
	}
	if lim.MaxOpenCalls <= 0 {
		lim.MaxOpenCalls = DefaultLimits.MaxOpenCalls
	}
	if lim.DetectBytes <= 0 {
		lim.DetectBytes = DefaultLimits.DetectBytes
	}
	if k, ok := lim.Unsealer.(interface{ Keyless() bool }); ok && k.Keyless() {
		lim.keyless = true
	}
	return &Conn{Meta: meta, h: h, lim: lim}
}

// IsRPC reports whether the connection was recognised as DCE/RPC.
func (c *Conn) IsRPC() bool { return c.state == stateRPC }

func (c *Conn) anomaly(kind string, pos Pos, detail string) {
	c.h.Anomaly(Anomaly{Kind: kind, Conn: &c.Meta, Pos: pos, Detail: detail})
}

// cutAnomaly reports an anomaly that the snap length explains once it has
// cut bytes of dir (a PDU or fragment cut away with the end of its
// segment): then it is none, the cut calls being counted instead.
func (c *Conn) cutAnomaly(dir Dir, kind string, pos Pos, detail string) {
	if !c.dirs[dir].cut {
		c.anomaly(kind, pos, detail)
	}
}

// Feed gives the parser in-order bytes of one direction; b is borrowed for the
// call. It returns false once the connection is known not to be DCE/RPC.
func (c *Conn) Feed(dir Dir, pos Pos, b []byte) bool {
	if c.state == stateNotRPC || c.closed {
		return c.state != stateNotRPC
	}
	if c.swapped {
		dir ^= 1
	}
	d := &c.dirs[dir]
	d.seen += int64(len(b))
	if d.skip > 0 {
		n := min(d.skip, len(b))
		d.skip -= n
		d.base += int64(n)
		b = b[n:]
	}
	if len(b) == 0 {
		return true
	}
	if c.state == stateRPC && len(d.buf) == 0 && !d.scanning {
		// Whole PDUs at the start of the bytes are handled where they
		// are, without a copy: the common case of one PDU per segment.
		b = c.direct(dir, pos, b)
		if len(b) == 0 {
			c.settle(dir, pos)
			return c.state != stateNotRPC
		}
	}
	d.take()
	d.marks = append(d.marks, mark{off: d.base + int64(len(d.buf)), pos: pos})
	d.grow(b)
	c.drain(dir)
	c.settle(dir, pos)
	return c.state != stateNotRPC
}

// direct handles the whole PDUs at the start of b, which all came in the
// packet at pos, and returns the rest. It leaves to drain a PDU that is
// cut, whose header does not parse, or that carries an auth trailer (its
// stub may be decrypted in place, and b is borrowed).
func (c *Conn) direct(dir Dir, pos Pos, b []byte) []byte {
	d := &c.dirs[dir]
	for len(b) >= HeaderLen && c.state == stateRPC {
		h, err := ParseHeader(b)
		if err != nil || h.AuthLen != 0 || int(h.FragLen) > len(b) {
			break
		}
		n := int(h.FragLen)
		c.pdu(dir, b[:n], pos, pos)
		d.base += int64(n)
		b = b[n:]
	}
	return b
}

// settle charges what direction dir buffers to Limits.Buffers. Over the
// budget, an empty buffer is given back, and a partial PDU is dropped as
// lost (too_many_buffered_bytes): the connection resynchronises at the
// next header, as after a gap.
func (c *Conn) settle(dir Dir, pos Pos) {
	if d := &c.dirs[dir]; len(d.buf) == 0 && !d.scanning {
		// Nothing partial is held: give the buffer back, rather than
		// keep one as large as the largest PDU seen on every open
		// connection. The next bytes start with a mark of their own.
		d.giveBack()
	}
	b := c.lim.Buffers
	if b == nil {
		return
	}
	if c.state == stateNotRPC {
		// Not DCE/RPC: nothing more is parsed, nothing is kept.
		for i := range c.dirs {
			c.dirs[i].giveBack()
			c.charge(&c.dirs[i])
		}
		return
	}
	d := &c.dirs[dir]
	c.charge(d)
	if b.held <= b.max {
		return
	}
	if len(d.buf) > 0 {
		c.anomaly(AnomalyTooManyBufferedBytes, pos, itoa(len(d.buf))+" bytes of a partial PDU dropped: the connections hold "+itoa(b.held)+" bytes of partial PDUs, over the limit")
		if c.state == stateRPC {
			c.damage(dir)
		}
		d.base += int64(len(d.buf))
		d.skip = 0
		d.scanning = true
	}
	d.giveBack()
	c.charge(d)
}

// charge brings the bytes charged for d to what its buffers hold.
func (c *Conn) charge(d *dirState) {
	if b := c.lim.Buffers; b != nil {
		n := cap(d.mem) + cap(d.marks)*int(unsafe.Sizeof(mark{}))
		b.held += n - d.charged
		d.charged = n
	}
}

// posAt returns the position of the byte at stream offset off.
func (d *dirState) posAt(off int64) Pos {
	i := sort.Search(len(d.marks), func(i int) bool { return d.marks[i].off > off })
	if i == 0 {
		if len(d.marks) > 0 {
			return d.marks[0].pos
		}
		return Pos{}
	}
	return d.marks[i-1].pos
}

// donePos returns, among the packets that carried the bytes [from, to), the
// one captured last: where a reassembling dissector completes the PDU.
func (d *dirState) donePos(from, to int64) Pos {
	p := d.posAt(from)
	i := sort.Search(len(d.marks), func(i int) bool { return d.marks[i].off > from })
	for ; i < len(d.marks) && d.marks[i].off < to; i++ {
		m := d.marks[i].pos
		if m.File != p.File && m.Time.After(p.Time) || m.File == p.File && m.Frame > p.Frame {
			p = m
		}
	}
	return p
}

// consume drops n bytes from the front of the buffer.
func (d *dirState) consume(n int) {
	d.base += int64(n)
	d.buf, d.head = d.buf[n:], d.head+n
	if len(d.buf) == 0 {
		d.clear()
	}
	// keep the last mark at or before base
	i := sort.Search(len(d.marks), func(i int) bool { return d.marks[i].off > d.base })
	if i > 1 {
		k := copy(d.marks, d.marks[i-1:])
		d.marks = d.marks[:k]
	}
	if len(d.buf) == 0 && cap(d.mem) > 256<<10 {
		d.giveBack() // do not hold on to a large buffer
	}
}

// plausibleAt applies the header checks of notes §1.11 at b[o:], with the
// chain check: the next header must also pass, or the PDU must end exactly at
// the end of the data. more reports that the answer needs more bytes.
func plausibleAt(b []byte, o int) (ok, more bool) {
	if len(b)-o < HeaderLen {
		return false, true
	}
	h, err := ParseHeader(b[o:])
	if err != nil {
		return false, false
	}
	if int(h.FragLen) > len(b)-o {
		return false, true
	}
	if h.AuthLen > 0 && (h.PType == PTypeRequest || h.PType == PTypeResponse) {
		t := o + int(h.FragLen) - int(h.AuthLen) - secTrailerLen
		at, al := b[t], b[t+1]
		if !(at == AuthSPNEGO || at == AuthNTLMSSP || at == AuthSchannel || at == AuthKerberos || at == AuthNetlogon || at == 1) || al < 1 || al > 6 {
			return false, false
		}
	}
	next := o + int(h.FragLen)
	if next == len(b) {
		return true, false
	}
	if next+HeaderLen > len(b) {
		return false, true
	}
	_, err = ParseHeader(b[next:])
	return err == nil, false
}

func (c *Conn) drain(dir Dir) {
	d := &c.dirs[dir]
	for {
		if c.state == stateNotRPC {
			d.giveBack()
			return
		}
		if d.scanning || (c.state == stateUndecided && len(d.buf) >= HeaderLen && !headerOK(d.buf)) {
			if c.state == stateUndecided && c.Meta.FromStart && d.base == 0 && !d.scanning {
				// The connection's first bytes are here and are not a
				// DCE/RPC header: this is another protocol.
				c.state = stateNotRPC
				continue
			}
			d.scanning = true
			found, wait := -1, -1
			for o := 0; o < len(d.buf); o++ {
				if d.buf[o] != 5 {
					continue
				}
				ok, more := plausibleAt(d.buf, o)
				if ok {
					found = o
					break
				}
				if more {
					wait = o
					break
				}
			}
			if found < 0 {
				if c.state == stateUndecided && d.seen >= int64(c.lim.DetectBytes) {
					c.state = stateNotRPC
					continue
				}
				if wait < 0 {
					wait = len(d.buf)
				}
				if c.state == stateRPC {
					// Counted, so that the resync anomaly names every
					// byte skipped, even across Feeds.
					d.skipped += wait
				}
				d.consume(wait)
				return
			}
			if n := d.skipped + found; n > 0 && c.state == stateRPC {
				c.cutAnomaly(dir, AnomalyResync, d.posAt(d.base+int64(found)), "skipped "+itoa(n)+" bytes to the next plausible PDU header")
			}
			d.skipped = 0
			d.consume(found)
			d.scanning = false
		}
		if len(d.buf) < HeaderLen {
			return
		}
		h, err := ParseHeader(d.buf)
		if err != nil {
			if c.state == stateRPC {
				c.anomaly(AnomalyBadHeader, d.posAt(d.base), err.Error())
			}
			d.scanning = true
			continue
		}
		if len(d.buf) < int(h.FragLen) {
			return
		}
		if c.state == stateUndecided {
			c.state = stateRPC
			if c.decideRoles(dir, h.PType) {
				// the bytes belong to the other direction's slot
				c.dirs[0], c.dirs[1] = c.dirs[1], c.dirs[0]
				dir ^= 1
				d = &c.dirs[dir]
			}
		}
		n := int(h.FragLen)
		start, last := d.posAt(d.base), d.donePos(d.base, d.base+int64(n))
		c.pdu(dir, d.buf[:n], start, last)
		d.consume(n)
	}
}

// Plausible applies, at b[o:], the checks by which the connection finds a
// PDU header where its stream starts mid-PDU or after a gap: the header
// parses and the next one does too, or the PDU ends exactly at the end of
// b (protocol-notes §1.11). more reports that the answer needs more bytes.
func Plausible(b []byte, o int) (ok, more bool) { return plausibleAt(b, o) }

// Drop ends the connection silently: what it holds is given back, and the
// calls still open are neither delivered nor reported, nor any anomaly.
// The pipeline drops the parser of a connection it read as plain DCE/RPC
// until an RTS PDU showed it to be an RPC over HTTP channel, whose bytes it
// then reads again as one.
func (c *Conn) Drop() {
	c.h = dropped{}
	c.Close()
}

// dropped is the Handler of a dropped connection: it frees what it gets.
type dropped struct{}

func (dropped) Call(c *Call)                   { Free(c) }
func (dropped) Anomaly(Anomaly)                {}
func (dropped) Logon(*ConnMeta, Security, Pos) {}

func headerOK(b []byte) bool {
	_, err := ParseHeader(b)
	return err == nil
}

// decideRoles swaps client and server when the first PDU shows that the guess
// made without a SYN was wrong.
func (c *Conn) decideRoles(dir Dir, ptype uint8) bool {
	if c.Meta.FromStart {
		return false
	}
	fromClient := ptype == PTypeRequest || ptype == PTypeBind || ptype == PTypeAlter || ptype == PTypeAuth3
	fromServer := ptype == PTypeResponse || ptype == PTypeFault || ptype == PTypeBindAck || ptype == PTypeAlterResp || ptype == PTypeBindNak
	if dir == ClientToServer && fromServer || dir == ServerToClient && fromClient {
		c.swapped = true
		c.Meta.Client, c.Meta.Server = c.Meta.Server, c.Meta.Client
		return true
	}
	return false
}

// Cut says that the capture's snap length cut the last n bytes of the
// segment of dir just fed. It is handled as a Gap of n bytes, except that
// the messages and the security context it cuts are marked Cut, and that it
// is no anomaly: nothing was lost in transit or misread (the pipeline
// counts the calls it touched, with the snap length).
// MarkCut says that the snap length cut bytes of a direction before they
// reached this connection (a lower layer, such as SMB, dropped the message
// they were in): the anomalies such a cut explains (orphan answers,
// resynchronisation) are not reported for it, as after Cut.
func (c *Conn) MarkCut(dir Dir) { c.dirs[dir].cut = true }

func (c *Conn) Cut(dir Dir, pos Pos, n int) {
	c.cut = true
	c.Gap(dir, pos, n)
	c.cut = false
}

// Gap says that n bytes of dir were lost (n < 0: unknown).
func (c *Conn) Gap(dir Dir, pos Pos, n int) {
	if c.state == stateNotRPC || c.closed {
		return
	}
	if c.swapped {
		dir ^= 1
	}
	d := &c.dirs[dir]
	d.cut = d.cut || c.cut
	if c.state == stateUndecided && c.firstPDUCut(dir, n) {
		// Recognised: continue as on a DCE/RPC connection.
		if c.swapped {
			dir ^= 1
			d = &c.dirs[dir]
		}
	}
	if c.state == stateUndecided {
		d.clear()
		d.marks = d.marks[:0]
		d.scanning = true
		return
	}
	if !c.cut {
		c.anomaly(AnomalyGap, pos, gapDetail(n))
	}
	c.damage(dir)
	if n >= 0 && len(d.buf) == 0 && !d.scanning && n <= d.skip {
		// The lost bytes lie among those to be skipped anyway (the rest
		// of a PDU cut in an earlier segment): the stream stays
		// header-aligned after them.
		d.skip -= n
		d.base += int64(n)
		return
	}
	if c.cut && d.scanning && d.skipped == 0 && len(d.buf) >= HeaderLen && headerOK(d.buf) {
		// A segment the snap length cut, searched for a header after
		// an earlier cut, starts with one: the PDUs before it ended
		// where that segment did.
		d.scanning = false
	}
	if n >= 0 && len(d.buf) >= HeaderLen && !d.scanning {
		if h, err := ParseHeader(d.buf); err == nil && int(h.FragLen) > len(d.buf) {
			// The lost bytes may lie inside the PDU we are assembling;
			// then the stream is header-aligned again after its end.
			rest := int(h.FragLen) - len(d.buf) - n
			if rest < 0 && c.cut {
				// The snap length cut the PDU and what followed it in
				// the segment: the call of its start is kept, and the
				// next segment is searched for a header. The segment
				// most likely held the call's other fragments: the
				// fragment is taken as its last, so that the call is
				// paired with its answer, its status lost.
				h.Flags |= flagLastFrag
				c.partial(dir, h, d.buf, d.posAt(d.base), pos)
			}
			if rest >= 0 {
				if !c.cut {
					c.anomaly(AnomalyLostPDU, d.posAt(d.base), PTypeName(h.PType)+" fragment cut by a gap")
				}
				c.partial(dir, h, d.buf, d.posAt(d.base), pos)
				d.base += int64(len(d.buf)) + int64(n)
				d.clear()
				d.marks = d.marks[:0]
				d.skip = rest
				return
			}
		}
	}
	d.base += int64(len(d.buf))
	if n > 0 {
		d.base += int64(n)
	}
	d.clear()
	d.marks = d.marks[:0]
	d.skip = 0
	d.scanning = true
}

// firstPDUCut decides, on a connection not yet recognised, that it is DCE/RPC
// when its first PDU was cut by a gap of known size (typically the snap
// length cutting a bind that carries an NTLM token): the buffered bytes start
// with a header that passes the checks, and the lost bytes end inside that
// PDU. Without this, the bind (and with it the interface of every call on
// the connection) would be dropped silently. It reports whether it decided.
func (c *Conn) firstPDUCut(dir Dir, n int) bool {
	d := &c.dirs[dir]
	if n < 0 || d.scanning || len(d.buf) < HeaderLen {
		return false
	}
	h, err := ParseHeader(d.buf)
	if err != nil || int(h.FragLen) <= len(d.buf) || int(h.FragLen)-len(d.buf)-n < 0 {
		return false
	}
	c.state = stateRPC
	if c.decideRoles(dir, h.PType) {
		c.dirs[0], c.dirs[1] = c.dirs[1], c.dirs[0]
	}
	return true
}

func gapDetail(n int) string {
	if n < 0 {
		return "bytes of unknown length were not captured"
	}
	return itoa(n) + " bytes were not captured"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// verificationTrailer is the signature that opens a request's verification
// trailer (MS-RPCE 2.2.2.13), placed after the stub proper.
var verificationTrailer = [8]byte{0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71}

// EndsAt reports whether the stub proper is its first n bytes: the stub is
// n bytes long (or padded to a multiple of 4 after them), or (a request of
// a newer Windows client, not sealed) a verification trailer follows at n
// aligned to 4. The recognisers of stub shapes (nspi.Shape, emsmdb.Shape,
// rfr.Shape) use it.
func (m *Message) EndsAt(n int) bool {
	a := (n + 3) &^ 3
	if m.Len >= n && m.Len <= a {
		return true
	}
	return !m.Sealed && m.Len >= a+8 && len(m.Stub) >= a+8 && [8]byte(m.Stub[a:a+8]) == verificationTrailer
}
