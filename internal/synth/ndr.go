package synth

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// UUID is a UUID in RFC 4122 (string) byte order.
type UUID [16]byte

// MustUUID parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and panics on error.
func MustUUID(s string) UUID {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic(fmt.Sprintf("synth: bad uuid %q", s))
	}
	var u UUID
	copy(u[:], b)
	return u
}

func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Wire returns the NDR wire form: Data1..Data3 in the drep byte order, then
// the 8 raw bytes.
func (u UUID) Wire(bigEndian bool) []byte {
	out := make([]byte, 16)
	copy(out, u[:])
	if !bigEndian {
		out[0], out[1], out[2], out[3] = u[3], u[2], u[1], u[0]
		out[4], out[5] = u[5], u[4]
		out[6], out[7] = u[7], u[6]
	}
	return out
}

// Well-known interface and transfer syntax identifiers (protocol notes §0).
var (
	NSPIUUID  = MustUUID("f5cc5a18-4264-101a-8c59-08002b2f8426")
	RFRUUID   = MustUUID("1544f5e0-613c-11d1-93df-00c04fd7bd09")
	EPMUUID   = MustUUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
	NDRUUID   = MustUUID("8a885d04-1ceb-11c9-9fe8-08002b104860")
	NDR64UUID = MustUUID("71710533-beba-4937-8319-b5dbef9ccc36")
	// BTFN3UUID is the bind-time feature negotiation pseudo syntax with mask 3.
	BTFN3UUID = MustUUID("6cb71c2c-9812-4540-0300-000000000000")
)

// Interface versions (major, minor).
const (
	NSPIVersion = 56
	RFRVersion  = 1
	EPMVersion  = 3
)

// NDR is a minimal NDR (transfer syntax 2.0) encoder. Alignment is counted
// from the start of the stub.
type NDR struct {
	B         []byte
	BigEndian bool
	nextRef   uint32
}

// NewNDR returns an encoder for the given integer byte order.
func NewNDR(bigEndian bool) *NDR { return &NDR{BigEndian: bigEndian, nextRef: 0x00020000} }

func (e *NDR) order() byteOrder {
	if e.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Align pads with zero bytes to a multiple of n.
func (e *NDR) Align(n int) {
	for len(e.B)%n != 0 {
		e.B = append(e.B, 0)
	}
}

// U8 appends one byte.
func (e *NDR) U8(v uint8) { e.B = append(e.B, v) }

// U16 appends an aligned u16.
func (e *NDR) U16(v uint16) {
	e.Align(2)
	e.B = e.order().AppendUint16(e.B, v)
}

// U32 appends an aligned u32.
func (e *NDR) U32(v uint32) {
	e.Align(4)
	e.B = e.order().AppendUint32(e.B, v)
}

// Raw appends bytes without alignment.
func (e *NDR) Raw(b []byte) { e.B = append(e.B, b...) }

// UUID appends a GUID (aligned to 4).
func (e *NDR) UUID(u UUID) {
	e.Align(4)
	e.B = append(e.B, u.Wire(e.BigEndian)...)
}

// Ref appends a non-NULL unique-pointer referent ID (Windows style: 0x00020000,
// incrementing by 4).
func (e *NDR) Ref() {
	e.U32(e.nextRef)
	e.nextRef += 4
}

// Null appends a NULL unique pointer.
func (e *NDR) Null() { e.U32(0) }

// Handle appends a 20-byte context handle as raw bytes (aligned to 4).
func (e *NDR) Handle(h Handle) {
	e.Align(4)
	e.B = append(e.B, h[:]...)
}

// CString appends a conformant varying 8-bit string with its terminating NUL.
func (e *NDR) CString(s string) {
	n := uint32(len(s) + 1)
	e.U32(n)
	e.U32(0)
	e.U32(n)
	e.B = append(e.B, s...)
	e.B = append(e.B, 0)
}

// Handle is a 20-byte NDR context handle (attributes u32 + UUID), kept as
// the raw bytes seen on the wire.
type Handle [20]byte

// IsZero reports whether the handle is all zero (NULL).
func (h Handle) IsZero() bool { return h == Handle{} }

func (h Handle) String() string { return hex.EncodeToString(h[:]) }
