package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// nspicap's own pcapng reader (draft-ietf-opsawg-pcapng). gopacket's
// pcapgo.NgReader was used before; it could not be bounded from outside: it
// keeps every interface description and name-resolution record of a
// section, parses every option into new strings, and sizes the read of a
// simple or obsolete packet block by the length the block states, not by
// the block (1.5 GB for a crafted 510 KB gzipped file). This reader
// bounds every length it reads from the file before it uses it:
//
//   - a block's length against the limits below (a packet block holds at
//     most a record of 256 KiB and 64 KiB of headers and options, another
//     block at most 16 MiB) and against the copy at its end, which is
//     checked for every block;
//   - a packet's captured length against its block, and for a simple
//     packet block against the snap length of interface 0 as well;
//   - interfaces per section (maxInterfaces), each kept in 16 bytes;
//   - options one at a time, each inside its block, without keeping any
//     (if_tsresol and if_tsoffset of an interface are what is used).
//
// Name resolution, interface statistics, decryption secrets, custom and
// unknown blocks are skipped by their length; so are the options of
// section headers and packets. A packet block's bytes are handed out from
// the read buffer, which holds a whole packet block, without a copy.
// Timestamps are computed exactly as pcapgo computes them (TestPcapngSameAsPcapgo
// compares the two on every valid file).

// Block types (draft-ietf-opsawg-pcapng section 10.1).
const (
	ngSHB = 0x0a0d0d0a // section header
	ngIDB = 1          // interface description
	ngPB  = 2          // packet (obsolete)
	ngSPB = 3          // simple packet
	ngEPB = 6          // enhanced packet
)

const (
	// maxInterfaces is the most interface descriptions one section may
	// have (the obsolete packet block numbers them in 16 bits). More stop
	// the file with a warning.
	maxInterfaces = 65536
	// maxPacketBlock is the largest packet block accepted: a record and
	// its headers and options.
	maxPacketBlock = maxRecord + 64<<10
)

// ngIntf is an interface of the current section: 16 bytes.
type ngIntf struct {
	offset uint64 // if_tsoffset, in seconds
	snap   uint32
	lt     uint16
	res    uint8 // if_tsresol (0: absent, microseconds)
}

// ngScale turns a timestamp in an interface's units into seconds and
// nanoseconds, with pcapgo's arithmetic: seconds are ts/mask, nanoseconds
// ts%mask*up/down.
type ngScale struct {
	mask, up, down uint64
	bad            bool // 10^-64 or 2^-64 and finer: refused, as pcapgo does
}

// ngScales holds the scale of every if_tsresol value.
var ngScales = func() (t [256]ngScale) {
	for i := range t {
		res := uint8(i)
		if res == 0 {
			res = 6
		}
		exp := res & 0x7f
		if exp > 63 {
			t[i].bad = true
			continue
		}
		mask := uint64(1)
		if res&0x80 != 0 {
			mask <<= exp
		} else {
			for range exp {
				mask *= 10 // wraps past 10^19, as in pcapgo
			}
		}
		t[i] = ngScale{mask: mask, up: 1, down: 1}
		if mask < 1e9 {
			t[i].up = 1e9 / mask
		} else {
			t[i].down = mask / 1e9
		}
	}
	return t
}()

// ngStop is why reading a pcapng file stopped: the file ends inside the
// block at at (cut), or msg, a warning of one line.
type ngStop struct {
	at     int64
	cut    bool
	msg    string
	reason string // what is wrong, for the file header's error
}

func (e *ngStop) Error() string { return e.msg }

func ngCorrupt(at int64, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return &ngStop{at: at, msg: fmt.Sprintf("corrupt pcapng block at byte %d (%s); stopped reading", at, reason), reason: reason}
}

func ngCut(at int64) error { return &ngStop{at: at, cut: true} }

// errReported ends an input whose reader has already said why.
var errReported = errors.New("reported")

// ngReader reads the blocks of a pcapng file from the source's buffer.
type ngReader struct {
	src  *source
	br   *bufio.Reader
	at   int64 // offset of the next block
	big  bool  // byte order of the current section
	skip bool  // the current section has an unknown version: skip it

	ifaces []ngIntf
	ci     gopacket.CaptureInfo
	ancil  [1]any // the link type of the packet, as pcapgo gives it
	ancilT uint16
	lt     uint16 // link type of the current packet
	done   bool
}

func (r *ngReader) u16(b []byte) uint16 {
	if r.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *ngReader) u64(b []byte) uint64 {
	if r.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// discard consumes n bytes; false if the file ends first.
func (r *ngReader) discard(n int) bool {
	d, _ := r.br.Discard(n)
	r.at += int64(d)
	return d == n
}

// openPcapng reads the first section header. A file whose sections all
// have an unknown version is refused.
func (s *source) openPcapng(suffix string, fail func(string) (*source, error)) (*source, error) {
	h, _ := s.br.Peek(16)
	if len(h) < 16 {
		if s.cnt.err != nil {
			return fail("corrupt gzip data: " + lowerErr(s.cnt.err))
		}
		return fail("capture truncated inside the file header")
	}
	r := &ngReader{src: s, br: s.br}
	switch binary.BigEndian.Uint32(h[8:12]) {
	case 0x1a2b3c4d:
		r.big = true
	case 0x4d3c2b1a:
	default:
		return fail("bad pcapng section header: unknown byte-order magic")
	}
	if l := r.u32(h[4:8]); l < 28 || l%4 != 0 || l > maxBlock {
		return fail(fmt.Sprintf("bad pcapng section header: block length %d", l))
	}
	major, minor := r.u16(h[12:14]), r.u16(h[14:16])
	if _, err := r.block(); err != nil {
		if e, ok := err.(*ngStop); ok && e.cut {
			if s.cnt.err != nil {
				return fail("corrupt gzip data: " + lowerErr(s.cnt.err))
			}
			return fail("capture truncated inside the file header")
		} else if ok {
			return fail("bad pcapng section header: " + e.reason)
		}
		return fail("bad pcapng section header: " + lowerErr(err))
	}
	// Sections of an unknown version are skipped (pcapng section 4.1);
	// when all are, the file is refused.
	for r.skip {
		if _, err := r.block(); err != nil {
			return fail(fmt.Sprintf("unsupported pcapng version %d.%d", major, minor))
		}
	}
	s.ng = r
	s.rd = r
	s.info.Format = "pcapng" + suffix
	return s, nil
}

// snapLen returns the snap length of interface i of the current section.
func (r *ngReader) snapLen(i int) (uint32, bool) {
	if i < 0 || i >= len(r.ifaces) {
		return 0, false
	}
	return r.ifaces[i].snap, true
}

// ZeroCopyReadPacketData returns the next packet. Its bytes are in the read
// buffer, valid until the next call. Damage ends the file with a warning
// and errReported; a clean end gives io.EOF.
func (r *ngReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for !r.done {
		data, err := r.block()
		if err == nil {
			if data != nil {
				return data, r.ci, nil
			}
			continue
		}
		r.done = true
		if err == io.EOF {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		if e, ok := err.(*ngStop); ok && e.cut {
			r.src.truncatedAt(e.at)
		} else {
			r.src.warn("%s", err.Error())
		}
		return nil, gopacket.CaptureInfo{}, errReported
	}
	return nil, gopacket.CaptureInfo{}, io.EOF
}

// block reads one block. It returns the packet's bytes for a packet block
// (not nil, perhaps empty), nil for any other block, io.EOF at a clean end
// of the file, or an *ngStop.
func (r *ngReader) block() ([]byte, error) {
	at := r.at
	h, _ := r.br.Peek(12)
	if len(h) < 8 {
		if len(h) == 0 && r.src.cnt.err == nil {
			return nil, io.EOF
		}
		return nil, ngCut(at)
	}
	var typ uint32
	if binary.BigEndian.Uint32(h) == ngSHB { // the same in both byte orders
		if len(h) < 12 {
			return nil, ngCut(at)
		}
		switch binary.BigEndian.Uint32(h[8:12]) {
		case 0x1a2b3c4d:
			r.big = true
		case 0x4d3c2b1a:
			r.big = false
		default:
			return nil, &ngStop{at: at, msg: fmt.Sprintf("corrupt pcapng section header at byte %d; stopped reading", at), reason: "unknown byte-order magic"}
		}
		typ = ngSHB
	} else {
		typ = r.u32(h)
	}
	l := r.u32(h[4:8])
	if l < 12 || l%4 != 0 {
		return nil, ngCorrupt(at, "length %d", l)
	}
	packet := typ == ngEPB || typ == ngSPB || typ == ngPB
	limit := uint32(maxBlock)
	if packet {
		limit = maxPacketBlock
	}
	if l > limit {
		return nil, &ngStop{at: at, msg: fmt.Sprintf("block at byte %d too long (%d bytes); stopped reading", at, l), reason: fmt.Sprintf("block length %d", l)}
	}
	switch {
	case typ == ngSHB:
		return nil, r.section(at, l)
	case r.skip:
	case packet:
		return r.packet(at, typ, l)
	case typ == ngIDB:
		return nil, r.iface(at, l)
	}
	return nil, r.finish(at, l, 0)
}

// finish consumes the rest of the block at at, of length l, of which done
// bytes were consumed, and checks the copy of its length at its end.
func (r *ngReader) finish(at int64, l uint32, done int) error {
	if !r.discard(int(l) - 4 - done) {
		return ngCut(at)
	}
	t, _ := r.br.Peek(4)
	if len(t) < 4 {
		return ngCut(at)
	}
	if tl := r.u32(t); tl != l {
		return ngCorrupt(at, "length %d, trailing length %d", l, tl)
	}
	r.discard(4)
	return nil
}

// section reads a section header: its byte order (set by block) and
// version. Its options are not used.
func (r *ngReader) section(at int64, l uint32) error {
	if l < 28 {
		return ngCorrupt(at, "length %d", l)
	}
	h, _ := r.br.Peek(16)
	if len(h) < 16 {
		return ngCut(at)
	}
	r.ifaces = r.ifaces[:0]
	r.skip = r.u16(h[12:14]) != 1 || r.u16(h[14:16]) != 0
	return r.finish(at, l, 0)
}

// iface reads an interface description block: link type, snap length,
// if_tsresol and if_tsoffset.
func (r *ngReader) iface(at int64, l uint32) error {
	if len(r.ifaces) >= maxInterfaces {
		return &ngStop{at: at, msg: fmt.Sprintf("more than %d interfaces in one pcapng section at byte %d; stopped reading", maxInterfaces, at)}
	}
	if l < 20 {
		return ngCorrupt(at, "length %d too short for an interface description", l)
	}
	h, _ := r.br.Peek(16)
	if len(h) < 16 {
		return ngCut(at)
	}
	f := ngIntf{lt: r.u16(h[8:10]), snap: r.u32(h[12:16])}
	r.discard(16)
	done := 16
	// Options, one at a time, each inside the block. One that runs past
	// the block ends them.
	for rest := int(l) - 4 - done; rest >= 4; {
		o, _ := r.br.Peek(4)
		if len(o) < 4 {
			return ngCut(at)
		}
		code, n := r.u16(o), int(r.u16(o[2:4]))
		size := 4 + (n+3)&^3
		if code == 0 || size > rest {
			break
		}
		if code == 9 && n >= 1 || code == 14 && n >= 8 { // if_tsresol, if_tsoffset
			v, _ := r.br.Peek(4 + n)
			if len(v) < 4+n {
				return ngCut(at)
			}
			if code == 9 {
				f.res = v[4]
			} else {
				f.offset = r.u64(v[4:12])
			}
		}
		r.discard(size)
		done += size
		rest -= size
	}
	if err := r.finish(at, l, done); err != nil {
		return err
	}
	if ngScales[f.res].bad {
		base, exp := 10, f.res&0x7f
		if f.res&0x80 != 0 {
			base = 2
		}
		return ngCorrupt(at, "timestamp resolution %d^-%d", base, exp)
	}
	if len(r.ifaces) == cap(r.ifaces) {
		// Doubling: what growing to maxInterfaces allocates stays
		// within twice the 1 MiB it ends at.
		r.ifaces = append(make([]ngIntf, 0, max(8, 2*cap(r.ifaces))), r.ifaces...)
	}
	r.ifaces = append(r.ifaces, f)
	return nil
}

// packet reads a packet block of length l (at most maxPacketBlock, which
// the read buffer holds) and returns its bytes.
func (r *ngReader) packet(at int64, typ, l uint32) ([]byte, error) {
	b, _ := r.br.Peek(int(l))
	if len(b) < int(l) {
		return nil, ngCut(at)
	}
	if tl := r.u32(b[l-4:]); tl != l {
		return nil, ngCorrupt(at, "length %d, trailing length %d", l, tl)
	}
	var id int
	var ts uint64
	var caplen, origlen uint32
	hdr := uint32(28)
	switch typ {
	case ngEPB, ngPB:
		if l < 32 {
			return nil, ngCorrupt(at, "length %d too short for its packet", l)
		}
		if typ == ngEPB {
			id = int(r.u32(b[8:12]))
		} else {
			id = int(r.u16(b[8:10]))
		}
		ts = uint64(r.u32(b[12:16]))<<32 | uint64(r.u32(b[16:20]))
		caplen, origlen = r.u32(b[20:24]), r.u32(b[24:28])
	case ngSPB:
		if l < 16 {
			return nil, ngCorrupt(at, "length %d too short for its packet", l)
		}
		hdr = 12
		origlen = r.u32(b[8:12])
		caplen = origlen
		if len(r.ifaces) > 0 && r.ifaces[0].snap != 0 && caplen > r.ifaces[0].snap {
			caplen = r.ifaces[0].snap
		}
	}
	if uint64(caplen)+uint64(hdr)+4 > uint64(l) {
		return nil, ngCorrupt(at, "length %d too short for its packet", l)
	}
	if id >= len(r.ifaces) {
		return nil, ngCorrupt(at, "interface %d, but its section describes %d", id, len(r.ifaces))
	}
	f := &r.ifaces[id]
	r.ci.InterfaceIndex = id
	r.ci.CaptureLength, r.ci.Length = int(caplen), int(origlen)
	if typ == ngSPB {
		r.ci.Timestamp = time.Time{} // a simple packet block has no timestamp
	} else {
		sc := &ngScales[f.res]
		r.ci.Timestamp = time.Unix(int64(ts/sc.mask+f.offset), int64(ts%sc.mask*sc.up/sc.down)).UTC()
	}
	if r.ancil[0] == nil || r.ancilT != f.lt {
		r.ancil[0], r.ancilT = layers.LinkType(f.lt), f.lt
	}
	r.ci.AncillaryData = r.ancil[:]
	r.lt = f.lt
	r.src.recAt = at
	r.br.Discard(int(l))
	r.at += int64(l)
	return b[hdr : hdr+caplen : hdr+caplen], nil
}
