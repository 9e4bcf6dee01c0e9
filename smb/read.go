package smb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed SMB message")

// reader reads little-endian fields of one message with a sticky first
// error that names the field and its offset.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(field string, off, n int) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d: %d bytes needed, %d present", ErrMalformed, field, off, n, len(r.b))
	}
}

func (r *reader) ok(field string, off, n int) bool {
	if r.err != nil {
		return false
	}
	if off < 0 || n < 0 || off > len(r.b) || len(r.b)-off < n {
		r.fail(field, off, off+n)
		return false
	}
	return true
}

func (r *reader) u8(field string, off int) uint8 {
	if !r.ok(field, off, 1) {
		return 0
	}
	return r.b[off]
}

func (r *reader) u16(field string, off int) uint16 {
	if !r.ok(field, off, 2) {
		return 0
	}
	return binary.LittleEndian.Uint16(r.b[off:])
}

func (r *reader) u32(field string, off int) uint32 {
	if !r.ok(field, off, 4) {
		return 0
	}
	return binary.LittleEndian.Uint32(r.b[off:])
}

func (r *reader) u64(field string, off int) uint64 {
	if !r.ok(field, off, 8) {
		return 0
	}
	return binary.LittleEndian.Uint64(r.b[off:])
}

// bytes returns b[off:off+n], borrowed.
func (r *reader) bytes(field string, off, n int) []byte {
	if !r.ok(field, off, n) {
		return nil
	}
	return r.b[off : off+n : off+n]
}

// maxName bounds the names (pipe, share) kept, in bytes of the wire.
const maxName = 512

// utf16String decodes UTF-16LE, up to maxName bytes and the first NUL.
func utf16String(b []byte) string {
	if len(b) > maxName {
		b = b[:maxName]
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		v := binary.LittleEndian.Uint16(b[i:])
		if v == 0 {
			break
		}
		u = append(u, v)
	}
	return string(utf16.Decode(u))
}

// asciiString decodes an OEM string up to its NUL (maxName bytes at most).
func asciiString(b []byte) string {
	if len(b) > maxName {
		b = b[:maxName]
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
