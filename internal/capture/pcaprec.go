package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
)

// pcapRecords reads the records of a pcap file (after the file header,
// which pcapgo reads). pcapgo's reader stops at a record whose captured
// length exceeds its original length ("capture length exceeds original
// packet length"); tcpdump and Wireshark read such records, and so does
// this one: it takes the captured bytes, counts the record and reads on.
// It returns slices of the bufio.Reader's buffer, valid until the next
// call, instead of copying each record as pcapgo does; precheck has
// already seen the whole record in the buffer.
type pcapRecords struct {
	br         *bufio.Reader
	order      binary.ByteOrder
	nanoFactor uint32
	off        func() int64 // the offset of the next record, for the warning

	// Records whose original length is below their captured length: how
	// many, and the first (its offset and lengths).
	short             int64
	shortAt           int64
	shortCap, shortOr uint32
}

func newPcapRecords(s *source, nanos bool) *pcapRecords {
	r := &pcapRecords{br: s.br, order: s.pcapOrder, nanoFactor: 1000, off: s.offset}
	if nanos {
		r.nanoFactor = 1
	}
	return r
}

// ZeroCopyReadPacketData returns the next record.
func (r *pcapRecords) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	h, err := r.br.Peek(16)
	if len(h) < 16 {
		return nil, ci, shortRead(len(h), err)
	}
	caplen := r.order.Uint32(h[8:12])
	orig := r.order.Uint32(h[12:16])
	if caplen > maxRecord {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, maxRecord)
	}
	// As pcapgo computes it, the fraction's product wrapping at 2^32.
	ci.Timestamp = time.Unix(int64(r.order.Uint32(h[0:4])), int64(r.order.Uint32(h[4:8])*r.nanoFactor)).UTC()
	ci.CaptureLength = int(caplen)
	ci.Length = int(orig)
	if orig < caplen {
		if r.short == 0 {
			r.shortAt, r.shortCap, r.shortOr = r.off(), caplen, orig
		}
		r.short++
		ci.Length = int(caplen)
	}
	n := 16 + int(caplen)
	rec, err := r.br.Peek(n)
	if len(rec) < n {
		if len(rec) > 16 || err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	r.br.Discard(n)
	return rec[16:n:n], ci, nil
}

// shortRead is the error of a read that got n of the bytes it needed.
func shortRead(n int, err error) error {
	if n == 0 && err != nil {
		return err
	}
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// summary is the warning about records that were read although their
// lengths disagree ("" when there were none).
func (r *pcapRecords) summary() string {
	if r.short == 0 {
		return ""
	}
	what := fmt.Sprintf("%d records have a captured length above their", r.short)
	if r.short == 1 {
		what = "1 record has a captured length above its"
	}
	return fmt.Sprintf("%s original length (the first at byte %d: %d > %d); the captured bytes were read",
		what, r.shortAt, r.shortCap, r.shortOr)
}
