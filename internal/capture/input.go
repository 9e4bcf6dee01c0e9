package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// minUnix and maxUnix are the first and last seconds of years 1 and 9999,
// the range RFC 3339 can print.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// maxRecord is the largest packet record accepted (libpcap's
// MAXIMUM_SNAPLEN). A longer record stops the file with a warning.
const maxRecord = 262144

// maxBlock is the largest non-packet pcapng block accepted.
const maxBlock = 16 << 20

// bufSize is the read buffer per input. pcapgo wraps its reader in a
// bufio.Reader of the default size unless it already is one at least that
// large; handing it ours lets us see how far it has read. It holds the
// largest pcapng packet block (maxPacketBlock), which pcapng.go hands out
// from it.
const bufSize = maxRecord + 80<<10

// FileError is the error of an input that could not be read at all. Its
// message is one lower-case line naming the file.
type FileError struct {
	Path   string // the name used in the message ("stdin" for "-")
	Reason string
}

func (e *FileError) Error() string { return e.Path + ": " + e.Reason }

// countingReader counts the bytes read through it and remembers the first
// error other than io.EOF (a corrupt gzip stream, an I/O error).
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// readCounter adds the bytes read through it to a shared counter
// (Options.Read).
type readCounter struct {
	r io.Reader
	n *atomic.Int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// packetReader is what pcapgo's two readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// source is one open input file, read one packet at a time.
type source struct {
	index int
	name  string // for messages
	info  *InputInfo

	closer io.Closer
	gz     *gzip.Reader
	cnt    *countingReader // counts the (decompressed) capture bytes
	br     *bufio.Reader   // the reader pcapgo (pcap) or ngReader consumes

	pcap      *pcapgo.Reader
	prec      *pcapRecords // pcap records (pcaprec.go)
	ng        *ngReader    // pcapng (pcapng.go)
	nm        *nmReader    // NetMon (netmon.go)
	file      *os.File     // the file, when not standard input
	readCount *atomic.Int64
	rd        packetReader
	pcapOrder binary.ByteOrder
	linkType  uint16

	// The current packet, valid until the next call to next.
	data     []byte
	ci       gopacket.CaptureInfo
	lt       uint16
	frame    int64
	last     time.Time
	warnedTS bool
	// warnedRange: a timestamp out of range was reported (once per file,
	// so that a file of such records cannot grow the warnings).
	warnedRange bool
	// snaplen is the pcap header's snap length as written (0: none);
	// warnedSnap: a record longer than its snap length was reported.
	snaplen    uint32
	warnedSnap bool
	recAt      int64 // offset of the current record (its pcapng block)
	done       bool
	// replay: next returns the current packet again (a stream read once
	// to find its first packet, inputs.go).
	replay bool
	// skipped counts the packets of link types decodePacket does not
	// read, per interface and link type (linkskip.go); summarized: the
	// warnings that count things over the whole file were given.
	skipped    []linkSkip
	summarized bool
}

// offset is the number of capture bytes consumed by the reader so far.
func (s *source) offset() int64 { return s.cnt.n - int64(s.br.Buffered()) }

func (s *source) warn(format string, args ...any) {
	s.info.Warnings = append(s.info.Warnings, fmt.Sprintf(format, args...))
}

func (s *source) close() {
	if !s.summarized {
		s.summarized = true
		s.summarize()
	}
	if s.closer != nil {
		s.closer.Close()
		s.closer = nil
	}
	s.done = true
	s.data = nil
}

// openSource opens one input and reads its file header. On failure it
// returns a *FileError. read, when not nil, counts the bytes read from the
// file as stored (Options.Read).
func openSource(index int, path string, stdin io.Reader, read *atomic.Int64, info *InputInfo) (*source, error) {
	name := path
	var r io.Reader
	s := &source{index: index, info: info}
	if path == "-" {
		name = "stdin"
		if stdin == nil {
			return nil, &FileError{name, "no standard input"}
		}
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, &FileError{name, openReason(err)}
		}
		st, err := f.Stat()
		if err == nil && st.IsDir() {
			f.Close()
			return nil, &FileError{name, "is a directory"}
		}
		r = f
		s.closer = f
		if err == nil && st.Mode().IsRegular() {
			// A pipe, FIFO or device cannot seek: it is read as a
			// stream, as standard input is.
			s.file = f
		}
	}
	s.name = name
	s.readCount = read
	if read != nil {
		r = &readCounter{r: r, n: read}
	}
	fail := func(reason string) (*source, error) {
		s.close()
		return nil, &FileError{name, reason}
	}

	raw := bufio.NewReaderSize(r, 64<<10)
	head, err := raw.Peek(4)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return fail(ioReason(err))
		}
		return fail("empty file")
	}
	inner := io.Reader(raw)
	gzipped := len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b
	if gzipped {
		gz, err := gzip.NewReader(raw)
		if err != nil {
			return fail("corrupt gzip data: " + lowerErr(err))
		}
		s.gz = gz
		inner = gz
	}
	s.cnt = &countingReader{r: inner}
	s.br = bufio.NewReaderSize(s.cnt, bufSize)
	head, _ = s.br.Peek(4)
	if len(head) == 0 {
		if s.cnt.err != nil {
			return fail("corrupt gzip data: " + lowerErr(s.cnt.err))
		}
		return fail("empty file")
	}
	suffix := ""
	if gzipped {
		suffix = "+gzip"
	}
	switch {
	case isPcapMagic(head):
		return s.openPcap(head, suffix, fail)
	case len(head) == 4 && binary.BigEndian.Uint32(head) == 0x0a0d0d0a:
		return s.openPcapng(suffix, fail)
	case string(head) == "GMBU" || string(head) == "RTSS":
		return s.openNetmon(suffix, fail)
	}
	if h, _ := s.br.Peek(etlPeek); isETL(h) {
		return fail("an ETW trace (.etl, as netsh trace and pktmon write), not a packet capture: convert it with " +
			"etl2pcapng in.etl out.pcapng (github.com/microsoft/etl2pcapng) or pktmon etl2pcap in.etl --out out.pcapng")
	}
	if len(head) < 4 && (bytesPrefix(head, []byte{0xa1, 0xb2}) || bytesPrefix(head, []byte{0xd4, 0xc3}) ||
		bytesPrefix(head, []byte{0x4d, 0x3c}) || bytesPrefix(head, []byte{0x0a, 0x0d})) {
		return fail("capture truncated inside the file header")
	}
	what := "not a capture file"
	if gzipped {
		what = "not a capture file inside gzip"
	}
	return fail(fmt.Sprintf("%s (starts with %s)", what, strconv.Quote(string(head))))
}

func bytesPrefix(b, prefix []byte) bool {
	for i := range b {
		if i >= len(prefix) || b[i] != prefix[i] {
			return false
		}
	}
	return len(b) >= 2
}

func isPcapMagic(h []byte) bool {
	if len(h) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1:
		return true
	}
	return false
}

func (s *source) openPcap(head []byte, suffix string, fail func(string) (*source, error)) (*source, error) {
	magic := binary.LittleEndian.Uint32(head)
	format := "pcap"
	switch magic {
	case 0xa1b2c3d4, 0xa1b23c4d:
		s.pcapOrder = binary.LittleEndian
	default:
		s.pcapOrder = binary.BigEndian
	}
	if magic == 0xa1b23c4d || magic == 0x4d3cb2a1 {
		format = "pcap-ns"
	}
	if h, _ := s.br.Peek(24); len(h) < 24 {
		if s.cnt.err != nil {
			return fail("corrupt gzip data: " + lowerErr(s.cnt.err))
		}
		return fail("capture truncated inside the file header")
	}
	err := safeCall(func() (err error) {
		s.pcap, err = pcapgo.NewReader(s.br)
		return err
	})
	if err != nil {
		return fail("bad pcap header: " + lowerErr(err))
	}
	s.snaplen = s.pcap.Snaplen()
	// pcapgo accepts records up to max(snap length, 256 KiB); cap the snap
	// length so a bogus header cannot raise that bound.
	if s.pcap.Snaplen() > maxRecord {
		s.pcap.SetSnaplen(maxRecord)
	}
	s.prec = newPcapRecords(s, format == "pcap-ns")
	s.rd = s.prec
	s.linkType = uint16(s.pcap.LinkType())
	s.info.Format = format + suffix
	return s, nil
}

// safeCall runs f, turning a panic inside the reader library into an error.
func safeCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reader failed: %v", p)
		}
	}()
	return f()
}

// next reads the next packet into s.data / s.ci / s.lt. It returns false at
// the end of the file or when the file cannot be read further; warnings say
// why.
func (s *source) next() bool {
	if s.replay {
		s.replay = false
		return !s.done
	}
	if s.done {
		return false
	}
	start := s.offset()
	if !s.precheck(start) {
		s.close()
		return false
	}
	data, ci, err := s.read()
	if err != nil {
		switch {
		case err == errReported: // the reader said why (pcapng.go)
		case err != io.EOF:
			s.readError(start, err)
		case s.cnt.err != nil:
			s.readError(start, s.cnt.err)
		}
		s.close()
		return false
	}
	if ci.CaptureLength > maxRecord || len(data) > maxRecord {
		s.warn("record at byte %d too long (%d bytes); stopped reading", start, len(data))
		s.close()
		return false
	}
	s.checkSnaplen(s.recAt, ci)
	lt := s.linkType
	if s.nm != nil {
		lt = s.nm.lt
	} else if s.ng != nil {
		lt = 0xffff
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = uint16(l)
			}
		}
	}
	if !linkDecoded(lt) {
		s.skipLink(ci.InterfaceIndex, lt)
	}
	s.data, s.ci, s.lt = data, ci, lt
	s.frame++
	s.info.Packets++
	if ci.CaptureLength < ci.Length {
		s.info.Cut++
		s.info.SnapLen = max(s.info.SnapLen, ci.CaptureLength)
	}
	ts := ci.Timestamp
	if u := ts.Unix(); u < minUnix || u > maxUnix {
		// A damaged timestamp no output format can print (RFC 3339).
		if !s.warnedRange {
			s.warnedRange = true
			s.warn("frame %d: timestamp out of range; the previous frame's is used (for later frames too)", s.frame)
		}
		ts = s.last
		s.ci.Timestamp = ts
	}
	if s.frame == 1 {
		s.info.First, s.info.Last = ts, ts
	} else {
		if ts.Before(s.last) && !s.warnedTS {
			s.warnedTS = true
			s.warn("timestamps go backwards at frame %d", s.frame)
		}
		if ts.Before(s.info.First) {
			s.info.First = ts
		}
		if ts.After(s.info.Last) {
			s.info.Last = ts
		}
	}
	s.last = ts
	return true
}

// checkSnaplen warns once when a record holds more bytes than the snap length
// its file (pcap) or interface (pcapng) declares. Such records are read anyway,
// as tcpdump and Wireshark do: some writers do not truncate to the snap length
// they declare. Lengths over 256 KiB never get this far (precheck).
func (s *source) checkSnaplen(start int64, ci gopacket.CaptureInfo) {
	if s.warnedSnap {
		return
	}
	snap := s.snaplen
	if s.ng != nil {
		var ok bool
		if snap, ok = s.ng.snapLen(ci.InterfaceIndex); !ok {
			return
		}
	}
	if snap != 0 && ci.CaptureLength > int(snap) {
		s.warnedSnap = true
		s.warn("record at byte %d holds %d bytes, more than the snap length %d; read anyway", start, ci.CaptureLength, snap)
	}
}

// read calls the reader library. A panic inside it is caught once per
// batch, not per packet, by the reading goroutine (prefetch), which ends
// the input with readFailed.
func (s *source) read() (data []byte, ci gopacket.CaptureInfo, err error) {
	return s.rd.ZeroCopyReadPacketData()
}

// readFailed ends the input after a panic p of the reader library while it
// read the record at s.recAt.
func (s *source) readFailed(p any) {
	s.readError(s.recAt, fmt.Errorf("reader failed: %v", p))
	s.close()
}

// precheck looks at the next record before the library reads it, so that a
// length read off the file never sizes an allocation and a record cut by the
// end of the file is reported at its own offset. The buffer holds a whole
// record, so peeking at it costs no extra reads.
func (s *source) precheck(start int64) bool {
	s.recAt = start
	if s.nm != nil || s.ng != nil {
		return true // the NetMon and pcapng readers check their own records
	}
	if s.pcap != nil {
		h, _ := s.br.Peek(16)
		if len(h) == 0 {
			return true // clean end of file (or a read error, reported by read)
		}
		if len(h) < 16 {
			s.truncatedAt(start)
			return false
		}
		caplen := s.pcapOrder.Uint32(h[8:12])
		if caplen > maxRecord {
			s.warn("record at byte %d too long (%d bytes); stopped reading", start, caplen)
			return false
		}
		if avail, _ := s.br.Peek(16 + int(caplen)); len(avail) < 16+int(caplen) {
			s.truncatedAt(start)
			return false
		}
		return true
	}
	return true
}

func (s *source) truncatedAt(off int64) {
	if s.cnt.err != nil {
		s.readError(off, s.cnt.err)
		return
	}
	s.warn("capture truncated at byte %d", off)
}

// readError turns a read failure at offset off into a warning.
func (s *source) readError(off int64, err error) {
	if s.cnt.err != nil {
		err = s.cnt.err
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && s.gz != nil && s.cnt.err != nil:
		s.warn("capture truncated at byte %d (compressed data ends early)", off)
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.warn("capture truncated at byte %d", off)
	case s.gz != nil && s.cnt.err != nil:
		s.warn("corrupt gzip data after byte %d: %s; stopped reading", off, lowerErr(err))
	default:
		s.warn("unreadable record at byte %d: %s; stopped reading", off, lowerErr(err))
	}
}

func openReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory"
	}
	return ioReason(err)
}

func ioReason(err error) string {
	if errors.Is(err, syscall.EISDIR) {
		return "is a directory"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return lowerErr(err)
}

// lowerErr renders err as one lower-case line.
func lowerErr(err error) string {
	if err == nil {
		return "unknown error"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "data ends early"
	}
	return strings.ToLower(strings.ReplaceAll(err.Error(), "\n", " "))
}
