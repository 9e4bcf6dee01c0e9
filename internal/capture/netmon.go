package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
)

// Microsoft Network Monitor capture files (.cap), versions 1.x ("RTSS") and
// 2.x ("GMBU"; NetMon 2 and 3, and editcap -F netmon1 / netmon2). The layout,
// as the Network Monitor 3.x help describes it and Wireshark's wiretap reads
// it, all little endian:
//
//	file header (padded to 128 bytes)
//	  0  magic "RTSS" (1.x) or "GMBU" (2.x)
//	  4  minor version, major version (one byte each)
//	  6  media type of the file (2.0 and before: of every frame)
//	  8  capture start: a SYSTEMTIME (year, month, day of week, day, hour,
//	     minute, second, millisecond; eight 16-bit fields)
//	 24  frame table offset, 28 frame table length (bytes; 4 per frame)
//	 32- user data, comments, process info, network info: not read
//	frame table: one 32-bit file offset per frame, in frame order
//	frame (at its table offset)
//	  1.x: 32-bit time since the start in ms, 16-bit wire length,
//	       16-bit captured length
//	  2.x: 64-bit time since the start in µs, 32-bit wire length,
//	       32-bit captured length
//	  then the captured bytes, then in 2.1 and later a trailer: the frame's
//	  media type (2 bytes); 2.2 adds a process index (4); 2.3 adds the
//	  frame's time in UTC as a FILETIME (8) and a time zone index (1).
//
// The start time carries no time zone; it is read as UTC (tshark reads it
// in the local time of the machine that reads it). From 2.3 on, each frame's
// own UTC time is used. Media types map to link types as Wireshark maps
// them: 0 and 1 Ethernet; 7, 8 and 9 (tunnel, wireless WAN, raw IP
// frames) raw IP; 0xE000+n a converted pcap file's link type n. Other media
// (802.11 with NetMon's radio header, ATM, Token Ring, FDDI, NetMon's own
// event and filter records) are frames that carry no IP for nspicap; the
// records 0xFFFC-0xFFFE (payload header, network info, DNS cache) are not
// frames at all, as in Wireshark, so frame numbers agree with it.
//
// Everything is read through a bounded window: the frame table 4 KiB at a
// time, a frame only when its captured length is at most maxRecord. A file
// whose frame table lies past its end (a capture cut short: the table is
// written last) is read frame after frame from byte 128 up to the cut, with
// a warning; so is a compressed file or standard input, which cannot seek.

const (
	nmHeaderSize   = 128 // the file header, padded
	nmHeaderFields = 64  // the fields read from it
	nmWindow       = 256 << 10
	nmTableChunk   = 1024 // frame table entries read at once
)

var errNMBackwards = errors.New("netmon frame before the current position")

// nmReader reads the frames of a NetMon file; it implements packetReader.
type nmReader struct {
	src   *source // for warnings and the file name
	major uint8
	minor uint8
	media uint16 // of the file
	start time.Time

	tableOff, tableLen uint32

	in   nmInput
	size int64 // file size; -1 when not known (a stream)

	// Frame table mode: next entry, entries, and a chunk of the table.
	walk   bool // no frame table: frames in file order from walkAt
	walkAt int64
	next   uint32
	count  uint32
	tab    []byte
	tabAt  uint32 // entry index of tab[0]
	tabN   uint32 // entries in tab
	walked uint32 // stream: records read in file order, for the table check
	hash   uint64 // stream: FNV-1a of their offsets, to compare with the table's

	lt         uint16 // link type of the frame just read
	frameMedia uint16 // and its media type
	done       bool
}

// nmInput is a bounded window over the file (ReadAt) or a stream read
// forward only.
type nmInput struct {
	ra     io.ReaderAt // nil for a stream
	r      io.Reader   // the stream
	pos    int64       // stream: bytes consumed (the end of win)
	win    []byte
	winOff int64
	read   *atomic.Int64 // Options.Read, for a file read with ReadAt
}

// get returns n bytes at off, valid until the next call. A short result
// (with io.ErrUnexpectedEOF) means the file ends before.
func (w *nmInput) get(off int64, n int) ([]byte, error) {
	if off >= w.winOff && off+int64(n) <= w.winOff+int64(len(w.win)) {
		i := int(off - w.winOff)
		return w.win[i : i+n], nil
	}
	if w.win == nil {
		w.win = make([]byte, 0, nmWindow+maxRecord+64)
	}
	buf := w.win[:max(n, nmWindow)]
	var got int
	var err error
	if w.ra != nil {
		got, err = w.ra.ReadAt(buf, off)
		if w.read != nil {
			w.read.Add(int64(got))
		}
	} else {
		// A stream: keep what the window holds from off on, skip up
		// to off, read the rest.
		keep := 0
		switch end := w.winOff + int64(len(w.win)); {
		case off < w.winOff:
			return nil, errNMBackwards
		case off <= end:
			keep = copy(buf, w.win[off-w.winOff:])
		default:
			k, err := io.CopyN(io.Discard, w.r, off-end)
			w.pos += k
			if err != nil {
				w.win, w.winOff = w.win[:0], w.pos
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		got, err = io.ReadFull(w.r, buf[keep:])
		w.pos += int64(got)
		got += keep
	}
	w.win, w.winOff = buf[:got], off
	if got >= n {
		return w.win[:n], nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return w.win, err
}

// openNetmon reads the header of a NetMon file.
func (s *source) openNetmon(suffix string, fail func(string) (*source, error)) (*source, error) {
	h, _ := s.br.Peek(nmHeaderFields)
	if len(h) < nmHeaderFields {
		if s.cnt.err != nil {
			return fail("corrupt gzip data: " + lowerErr(s.cnt.err))
		}
		return fail("capture truncated inside the file header")
	}
	le := binary.LittleEndian
	nm := &nmReader{src: s, minor: h[4], major: h[5], media: le.Uint16(h[6:8]), size: -1,
		tableOff: le.Uint32(h[24:28]), tableLen: le.Uint32(h[28:32]), hash: fnvOffset}
	switch {
	case nm.major == 1 && string(h[:4]) == "RTSS", nm.major == 2 && string(h[:4]) == "GMBU":
	default:
		return fail(fmt.Sprintf("unsupported NetMon version %d.%d", nm.major, nm.minor))
	}
	if nm.tableLen%4 != 0 {
		return fail(fmt.Sprintf("bad NetMon header: frame table length %d is not a multiple of 4", nm.tableLen))
	}
	nm.count = nm.tableLen / 4
	if !nm.perFrameTime() {
		var f [8]int
		for i := range f {
			f[i] = int(le.Uint16(h[8+2*i:]))
		}
		year, month, day, hour, minute, sec, ms := f[0], f[1], f[3], f[4], f[5], f[6], f[7]
		if year < 1601 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 || ms > 999 {
			return fail(fmt.Sprintf("bad NetMon header: start time %04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day, hour, minute, sec, ms))
		}
		nm.start = time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC)
	}
	if s.file != nil && s.gz == nil {
		nm.in.ra, nm.in.read = s.file, s.readCount
		if st, err := s.file.Stat(); err == nil {
			nm.size = st.Size()
		}
	}
	if nm.in.ra == nil || nm.size < 0 {
		// A stream: frames in file order from the end of the header.
		nm.in.ra, nm.in.r = nil, s.br
		nm.walk, nm.walkAt = true, nmHeaderSize
	} else if int64(nm.tableOff)+int64(nm.tableLen) > nm.size || nm.tableOff < nmHeaderFields && nm.tableLen > 0 {
		// The table is written last: a file cut short has lost it.
		nm.walk, nm.walkAt = true, nmHeaderSize
	}
	s.nm = nm
	s.rd = nm
	s.info.Format = fmt.Sprintf("netmon%d", nm.major) + suffix
	return s, nil
}

// perFrameTime: every frame has its own UTC time (2.3 and later).
func (nm *nmReader) perFrameTime() bool { return nm.major == 2 && nm.minor >= 3 }

func (nm *nmReader) recHeaderSize() int {
	if nm.major == 1 {
		return 8
	}
	return 16
}

func (nm *nmReader) trailerSize() int {
	if nm.major != 2 {
		return 0
	}
	switch nm.minor {
	case 0:
		return 0
	case 1:
		return 2
	case 2:
		return 6
	}
	return 15
}

// frameOffset returns the file offset of frame table entry i.
func (nm *nmReader) frameOffset(i uint32) (int64, error) {
	if i < nm.tabAt || i >= nm.tabAt+nm.tabN {
		n := min(nm.count-i, nmTableChunk)
		b, err := nm.in.get(int64(nm.tableOff)+4*int64(i), int(4*n))
		if err != nil {
			return 0, err
		}
		nm.tab = append(nm.tab[:0], b...)
		nm.tabAt, nm.tabN = i, n
	}
	return int64(binary.LittleEndian.Uint32(nm.tab[4*(i-nm.tabAt):])), nil
}

func (nm *nmReader) warn(format string, args ...any) {
	nm.src.warn(format, args...)
	nm.done = true
}

// ZeroCopyReadPacketData returns the next frame. Damage ends the file with
// a warning and io.EOF; the data is valid until the next call.
func (nm *nmReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for !nm.done {
		var off int64
		if nm.walk {
			off = nm.walkAt
			if nm.in.ra == nil && nm.tableLen > 0 && off >= int64(nm.tableOff) {
				nm.endOfStream(off)
				break
			}
			if nm.in.ra != nil && (off >= nm.size || nm.tableOff >= nmHeaderSize && off >= int64(nm.tableOff)) {
				nm.warn("capture truncated at byte %d (the NetMon frame table is missing; frames were read in file order)", min(off, nm.size))
				break
			}
		} else {
			if nm.next >= nm.count {
				nm.done = true
				break
			}
			var err error
			off, err = nm.frameOffset(nm.next)
			if err != nil {
				nm.warn("corrupt NetMon frame table at byte %d; stopped reading", int64(nm.tableOff)+4*int64(nm.next))
				break
			}
			if off < nmHeaderFields || off >= nm.size {
				nm.warn("corrupt NetMon frame table: frame at byte %d is outside the file; stopped reading", off)
				break
			}
			nm.next++
		}
		data, ci, skip, end := nm.frame(off)
		if end {
			break
		}
		if skip {
			continue
		}
		return data, ci, nil
	}
	nm.lt = 0xffff
	return nil, gopacket.CaptureInfo{}, io.EOF
}

// endOfStream checks, at the frame table of a stream, that the table lists
// the records read in file order, in that order (a hash of the offsets, so
// that nothing is kept per record).
func (nm *nmReader) endOfStream(off int64) {
	nm.done = true
	same := off == int64(nm.tableOff) && nm.walked == nm.count
	if same {
		h := uint64(fnvOffset)
		for i := uint32(0); i < nm.count; i++ {
			o, err := nm.frameOffset(i)
			if err != nil {
				same = false
				break
			}
			h = fnvAdd(h, uint32(o))
		}
		same = same && h == nm.hash
	}
	if !same {
		nm.src.warn("the NetMon frame table (%d frames at byte %d) does not list the %d records read in file order; frame numbers may differ from Wireshark's (read the file uncompressed, not from standard input)",
			nm.count, nm.tableOff, nm.walked)
	}
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func fnvAdd(h uint64, v uint32) uint64 {
	for range 4 {
		h = (h ^ uint64(v&0xff)) * fnvPrime
		v >>= 8
	}
	return h
}

// frame reads the record at off. skip: a NetMon record that is not a frame;
// end: the file ends here (a warning says why).
func (nm *nmReader) frame(off int64) (data []byte, ci gopacket.CaptureInfo, skip, end bool) {
	le := binary.LittleEndian
	hs := nm.recHeaderSize()
	h, err := nm.in.get(off, hs)
	if err != nil {
		nm.damaged(off, err)
		return nil, ci, false, true
	}
	var delta time.Duration
	var orig, incl uint32
	if nm.major == 1 {
		delta = time.Duration(le.Uint32(h[0:4])) * time.Millisecond
		orig, incl = uint32(le.Uint16(h[4:6])), uint32(le.Uint16(h[6:8]))
	} else {
		// Microseconds, unsigned in the documentation; Wireshark takes
		// ten times the value as signed 100 ns units, so that a frame
		// may come before the start. Wrapping is harmless: Run replaces
		// a time out of range.
		delta = time.Duration(int64(le.Uint64(h[0:8])*10) * 100)
		orig, incl = le.Uint32(h[8:12]), le.Uint32(h[12:16])
	}
	if incl > maxRecord {
		nm.warn("record at byte %d too long (%d bytes); stopped reading", off, incl)
		return nil, ci, false, true
	}
	ts := nm.trailerSize()
	rec, err := nm.in.get(off+int64(hs), int(incl)+ts)
	if err != nil {
		nm.damaged(off, err)
		return nil, ci, false, true
	}
	if nm.walk {
		nm.walkAt = off + int64(hs) + int64(incl) + int64(ts)
		nm.walked++
		nm.hash = fnvAdd(nm.hash, uint32(off))
	}
	data = rec[:incl]
	media := nm.media
	if ts >= 2 {
		media = le.Uint16(rec[incl:])
	}
	lt, isFrame := netmonLinkType(media)
	if !isFrame {
		return nil, ci, true, false
	}
	nm.lt, nm.frameMedia = lt, media
	t := nm.start.Add(delta)
	if nm.perFrameTime() {
		t = filetime(le.Uint64(rec[incl+6:]))
	}
	ci = gopacket.CaptureInfo{Timestamp: t, CaptureLength: int(incl), Length: int(orig)}
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	return data, ci, false, false
}

func (nm *nmReader) damaged(off int64, err error) {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && nm.walk && nm.in.ra != nil:
		nm.warn("capture truncated at byte %d (the NetMon frame table is missing; frames were read in file order)", off)
	case errors.Is(err, io.ErrUnexpectedEOF) && nm.in.ra == nil && nm.src.cnt.err != nil:
		nm.warn("corrupt gzip data after byte %d: %s; stopped reading", off, lowerErr(nm.src.cnt.err))
	case errors.Is(err, io.ErrUnexpectedEOF):
		nm.warn("capture truncated at byte %d", off)
	case errors.Is(err, errNMBackwards):
		nm.warn("NetMon frame at byte %d comes before the previous one; a stream cannot go back; stopped reading", off)
	default:
		nm.warn("unreadable record at byte %d: %s; stopped reading", off, lowerErr(err))
	}
}

// netmonLinkType maps a NetMon media type to a link type (0xffff: a frame
// nspicap does not decode). isFrame is false for NetMon's own records that
// Wireshark does not count as frames.
func netmonLinkType(media uint16) (lt uint16, isFrame bool) {
	switch {
	case media == 0 || media == 1:
		return linkEthernet, true
	case media >= 7 && media <= 9:
		return linkRaw, true
	case media >= 0xE080 && media <= 0xE08A:
		return 0xffff, true // Message Analyzer media types: not IP
	case media&0xF000 == 0xE000:
		return media & 0x0FFF, true // a converted pcap file's link type
	case media >= 0xFFFC && media <= 0xFFFE:
		return 0, false
	}
	return 0xffff, true
}

// filetime converts a Windows FILETIME (100 ns units since 1601-01-01 UTC).
func filetime(ft uint64) time.Time {
	const epochDiff = 11644473600 // seconds from 1601 to 1970
	return time.Unix(int64(ft/1e7)-epochDiff, int64(ft%1e7)*100).UTC()
}
