package evidence

import (
	"bufio"
	"encoding/binary"
	"io"
	"time"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng sections
// 4.1, 4.2, 4.3 and 3.5).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEndOfOpt = 0
	optComment  = 1
	optTSResol  = 9 // if_tsresol
)

// maxComment bounds an opt_comment (the option length is 16 bits).
const maxComment = 4000

// ngWriter writes a pcapng file of one section, little endian: an interface
// (IDB) per link type of each input, with nanosecond timestamps, and
// Enhanced Packet Blocks with a comment.
type ngWriter struct {
	w      *bufio.Writer
	ifaces map[ifaceKey]uint32
	buf    []byte
	err    error
}

type ifaceKey struct {
	input    int
	linkType uint16
}

func newNGWriter(w io.Writer) *ngWriter {
	nw := &ngWriter{w: bufio.NewWriter(w), ifaces: map[ifaceKey]uint32{}}
	b := nw.buf[:0]
	b = le32(b, blockSHB)
	b = le32(b, 28) // total length: no options
	b = le32(b, byteOrderMagic)
	b = le16(b, 1) // major version
	b = le16(b, 0) // minor version
	b = le64(b, ^uint64(0))
	b = le32(b, 28)
	nw.write(b)
	return nw
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (nw *ngWriter) write(b []byte) {
	nw.buf = b[:0]
	if nw.err == nil {
		_, nw.err = nw.w.Write(b)
	}
}

// iface returns the interface ID of (input, link type), writing its IDB the
// first time.
func (nw *ngWriter) iface(input int, lt uint16) uint32 {
	k := ifaceKey{input, lt}
	if id, ok := nw.ifaces[k]; ok {
		return id
	}
	id := uint32(len(nw.ifaces))
	nw.ifaces[k] = id
	b := nw.buf[:0]
	b = le32(b, blockIDB)
	b = le32(b, 32)
	b = le16(b, lt)
	b = le16(b, 0)
	b = le32(b, 0) // snap length: none
	b = le16(b, optTSResol)
	b = le16(b, 1)
	b = append(b, 9, 0, 0, 0) // 10^-9 s, padded
	b = le16(b, optEndOfOpt)
	b = le16(b, 0)
	b = le32(b, 32)
	nw.write(b)
	return id
}

// packet writes one Enhanced Packet Block.
func (nw *ngWriter) packet(input int, lt uint16, ts time.Time, length int, data []byte, comment string) {
	id := nw.iface(input, lt)
	if len(comment) > maxComment {
		comment = comment[:maxComment]
	}
	if length < len(data) {
		length = len(data)
	}
	ns := uint64(ts.UnixNano())
	b := nw.buf[:0]
	b = le32(b, blockEPB)
	b = le32(b, 0) // total length, below
	b = le32(b, id)
	b = le32(b, uint32(ns>>32))
	b = le32(b, uint32(ns))
	b = le32(b, uint32(len(data)))
	b = le32(b, uint32(length))
	b = pad4(append(b, data...))
	if comment != "" {
		b = le16(b, optComment)
		b = le16(b, uint16(len(comment)))
		b = pad4(append(b, comment...))
	}
	b = le16(b, optEndOfOpt)
	b = le16(b, 0)
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = le32(b, n)
	nw.write(b)
}

func (nw *ngWriter) flush() error {
	if nw.err != nil {
		return nw.err
	}
	return nw.w.Flush()
}
