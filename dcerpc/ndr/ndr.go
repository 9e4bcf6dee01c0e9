package ndr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is wrapped by every error caused by a stub that ends too early.
var ErrShort = errors.New("stub too short")

// ErrBound is wrapped by errors caused by counts that exceed what the stub or
// a caller-set bound allows.
var ErrBound = errors.New("count out of bounds")

// ErrNDR64 is returned by decoders that read NDR20 only, for a stub whose
// presentation context negotiated NDR64: they never read it as NDR20.
var ErrNDR64 = errors.New("stub in NDR64, which this decoder does not read")

// Error names the field that could not be read and its offset in the stub.
type Error struct {
	Field  string
	Offset int
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("ndr: %s at stub offset %d: %v", e.Field, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Reader reads NDR data from a stub. Offsets and alignment count from the
// first byte of the stub. The first error is sticky: after it, every read
// returns zero values and Err reports it. Check Err once at the end.
type Reader struct {
	b   []byte
	off int
	be  bool
	// w64: NDR64 (MS-RPCE 2.2.5): pointers (referent IDs), conformance
	// and variance counts are 8 bytes, aligned to 8.
	w64 bool
	err error
}

// NewReader reads b in NDR20 (C706 chapter 14); littleEndian follows the
// PDU's data representation (drep[0] high nibble 1).
func NewReader(b []byte, littleEndian bool) *Reader {
	return &Reader{b: b, be: !littleEndian}
}

// NewReader64 reads b in the NDR64 transfer syntax (MS-RPCE 2.2.5), which
// the presentation context negotiated (dcerpc.Call.NDR64).
func NewReader64(b []byte, littleEndian bool) *Reader {
	return &Reader{b: b, be: !littleEndian, w64: true}
}

// NDR64 reports whether the Reader reads NDR64.
func (r *Reader) NDR64() bool { return r.w64 }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Offset returns the current stub offset.
func (r *Reader) Offset() int { return r.off }

// Len returns the number of unread bytes.
func (r *Reader) Len() int {
	if r.err != nil {
		return 0
	}
	return len(r.b) - r.off
}

func (r *Reader) fail(field string, err error) {
	if r.err == nil {
		r.err = &Error{Field: field, Offset: r.off, Err: err}
	}
}

// Align skips to the next multiple of n (1, 2, 4 or 8). The pad bytes are
// arbitrary and not checked.
func (r *Reader) Align(n int) {
	if r.err != nil {
		return
	}
	p := (n - r.off%n) % n
	if r.off+p > len(r.b) {
		r.fail("alignment", ErrShort)
		return
	}
	r.off += p
}

func (r *Reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(field, ErrShort)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

// Bytes returns the next n bytes, borrowed from the stub.
func (r *Reader) Bytes(field string, n int) []byte { return r.take(field, n) }

// Skip skips n bytes.
func (r *Reader) Skip(field string, n int) { r.take(field, n) }

// U8 reads one byte.
func (r *Reader) U8(field string) uint8 {
	b := r.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// U16 reads an aligned 16-bit integer.
func (r *Reader) U16(field string) uint16 {
	r.Align(2)
	b := r.take(field, 2)
	if b == nil {
		return 0
	}
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// U32 reads an aligned 32-bit integer.
func (r *Reader) U32(field string) uint32 {
	r.Align(4)
	b := r.take(field, 4)
	if b == nil {
		return 0
	}
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads an aligned 64-bit integer (hyper).
func (r *Reader) U64(field string) uint64 {
	r.Align(8)
	b := r.take(field, 8)
	if b == nil {
		return 0
	}
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// Pointer reads a unique or full pointer's referent ID (0 means NULL): 4
// bytes in NDR20, 8 in NDR64 (MS-RPCE 2.2.5.3.3), where a non-zero ID
// whose low 32 bits are zero is returned as 1, so that it still reads as
// non-NULL.
func (r *Reader) Pointer(field string) uint32 {
	if !r.w64 {
		return r.U32(field)
	}
	v := r.U64(field)
	if v != 0 && uint32(v) == 0 {
		return 1
	}
	return uint32(v)
}

// Size reads a conformance or variance value (max_count, offset,
// actual_count): an unsigned long (4 bytes) in NDR20, an unsigned hyper (8
// bytes, aligned to 8) in NDR64 (MS-RPCE 2.2.5.3.4).
func (r *Reader) Size(field string) uint64 {
	if !r.w64 {
		return uint64(r.U32(field))
	}
	return r.U64(field)
}

// UnionArm aligns to the start of a non-encapsulated union's arm: in
// NDR64 the arm is aligned to the largest alignment of the union's arms
// (align, 1 to 8), after a discriminant read as its own type (MS-RPCE
// 2.2.5.3.4.1); NDR20 aligns each arm member as it is read.
func (r *Reader) UnionArm(align int) {
	if r.w64 {
		r.Align(align)
	}
}

// ContextHandle reads a 20-byte context handle (u32 attributes, 16-byte
// UUID), aligned to 4. Handles are compared as raw bytes.
func (r *Reader) ContextHandle(field string) (h [20]byte) {
	r.Align(4)
	b := r.take(field, 20)
	copy(h[:], b)
	return h
}

// UUID reads a 16-byte UUID as it is on the wire (Data1..3 in drep order) and
// returns it in RFC 4122 (big-endian) byte order.
func (r *Reader) UUID(field string) (u [16]byte) {
	r.Align(4)
	b := r.take(field, 16)
	if b == nil {
		return u
	}
	copy(u[:], b)
	if !r.be {
		u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
		u[4], u[5] = u[5], u[4]
		u[6], u[7] = u[7], u[6]
	}
	return u
}

// Count reads a conformance or variance count and checks it against max and
// against the bytes left (elemSize bytes per element), so that no caller
// sizes an allocation by a count read off the wire.
func (r *Reader) Count(field string, max uint32, elemSize int) int {
	var n uint32
	if r.w64 {
		v := r.U64(field)
		if v > uint64(max) {
			r.fail(field, fmt.Errorf("%w: %d > %d", ErrBound, v, max))
			return 0
		}
		n = uint32(v)
	} else {
		n = r.U32(field)
	}
	if r.err != nil {
		return 0
	}
	if n > max {
		r.fail(field, fmt.Errorf("%w: %d > %d", ErrBound, n, max))
		return 0
	}
	if elemSize > 0 && uint64(n)*uint64(elemSize) > uint64(len(r.b)-r.off) {
		r.fail(field, fmt.Errorf("%w: %d elements of %d bytes, %d bytes left", ErrShort, n, elemSize, len(r.b)-r.off))
		return 0
	}
	return int(n)
}

// ConformantVaryingString reads a [string] char* body: max_count, offset,
// actual_count (counting the NUL), then the bytes. The returned string has
// its terminating NUL removed. charSize is 1 for char and 2 for wchar_t
// (returned as raw UTF-16 bytes decoded with Latin-1 fallback: callers that
// need UTF-16 use ConformantVaryingBytes).
func (r *Reader) ConformantVaryingString(field string, maxLen uint32) string {
	b := r.ConformantVaryingBytes(field, maxLen, 1)
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// ConformantVaryingBytes reads max_count, offset and actual_count, then
// actual_count elements of elemSize bytes, borrowed from the stub.
func (r *Reader) ConformantVaryingBytes(field string, maxLen uint32, elemSize int) []byte {
	max := r.Count(field+".max_count", maxLen, 0)
	off := r.Size(field + ".offset")
	n := r.Count(field+".actual_count", maxLen, elemSize)
	if r.err != nil {
		return nil
	}
	if off != 0 || n > max {
		r.fail(field, fmt.Errorf("%w: offset %d, actual %d, max %d", ErrBound, off, n, max))
		return nil
	}
	return r.take(field, n*elemSize)
}
