package dcerpc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PDU types (C706 12.6.4.1; MS-RPCE 2.2.2.10 adds auth3; MS-RPCH adds RTS).
const (
	PTypeRequest      = 0
	PTypeResponse     = 2
	PTypeFault        = 3
	PTypeBind         = 11
	PTypeBindAck      = 12
	PTypeBindNak      = 13
	PTypeAlter        = 14
	PTypeAlterResp    = 15
	PTypeAuth3        = 16
	PTypeShutdown     = 17
	PTypeCoCancel     = 18
	PTypeOrphaned     = 19
	PTypeRTS          = 20
	HeaderLen         = 16
	flagFirstFrag     = 0x01
	flagLastFrag      = 0x02
	flagObjectUUID    = 0x80
	secTrailerLen     = 8
	maxContextsPerPDU = 256
)

// PTypeName returns the C706 name of a PDU type.
func PTypeName(t uint8) string {
	switch t {
	case PTypeRequest:
		return "request"
	case PTypeResponse:
		return "response"
	case PTypeFault:
		return "fault"
	case PTypeBind:
		return "bind"
	case PTypeBindAck:
		return "bind_ack"
	case PTypeBindNak:
		return "bind_nak"
	case PTypeAlter:
		return "alter_context"
	case PTypeAlterResp:
		return "alter_context_resp"
	case PTypeAuth3:
		return "auth3"
	case PTypeShutdown:
		return "shutdown"
	case PTypeCoCancel:
		return "co_cancel"
	case PTypeOrphaned:
		return "orphaned"
	case PTypeRTS:
		return "rts"
	}
	return fmt.Sprintf("ptype_%d", t)
}

// ErrMalformed is wrapped by every PDU parse error.
var ErrMalformed = errors.New("malformed PDU")

// ParseError names the field and the PDU offset of a parse error.
type ParseError struct {
	Field  string
	Offset int
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("dcerpc: %s at PDU offset %d: %s", e.Field, e.Offset, e.Reason)
}

func (e *ParseError) Unwrap() error { return ErrMalformed }

func perr(field string, off int, format string, a ...any) error {
	return &ParseError{Field: field, Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// Header is the 16-byte common header of a connection-oriented PDU.
type Header struct {
	Vers, VersMinor uint8
	PType           uint8
	Flags           uint8
	Drep            [4]byte
	FragLen         uint16
	AuthLen         uint16
	CallID          uint32
}

// LittleEndian reports the integer byte order of the PDU (drep[0] high nibble).
func (h *Header) LittleEndian() bool { return h.Drep[0]&0xf0 == 0x10 }

func order(le bool) binary.ByteOrder {
	if le {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// streamPType reports whether t is a PDU type valid on a connection-oriented
// stream (notes §1.11 check 2).
func streamPType(t uint8) bool {
	return t == PTypeRequest || t == PTypeResponse || t == PTypeFault || (t >= PTypeBind && t <= PTypeRTS)
}

// minFragLen is the smallest frag_length a PDU type can have.
func minFragLen(t uint8) int {
	switch t {
	case PTypeRequest, PTypeResponse, PTypeFault:
		return 24
	case PTypeBind, PTypeAlter:
		return 28
	case PTypeBindAck, PTypeAlterResp:
		return 26
	case PTypeRTS:
		return 20
	}
	return HeaderLen
}

// ParseHeader decodes and checks the common header at the start of b. It
// needs 16 bytes; the checks are those a receiver can make before the rest
// of the PDU arrives (C706 12.6.3; notes §1.11 checks 1-6).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, perr("header", len(b), "need 16 bytes, have %d", len(b))
	}
	h.Vers, h.VersMinor, h.PType, h.Flags = b[0], b[1], b[2], b[3]
	copy(h.Drep[:], b[4:8])
	o := order(h.LittleEndian())
	h.FragLen = o.Uint16(b[8:])
	h.AuthLen = o.Uint16(b[10:])
	h.CallID = o.Uint32(b[12:])
	switch {
	case h.Vers != 5:
		return h, perr("rpc_vers", 0, "%d, want 5", h.Vers)
	case h.VersMinor > 1:
		return h, perr("rpc_vers_minor", 1, "%d, want 0 or 1", h.VersMinor)
	case !streamPType(h.PType):
		return h, perr("PTYPE", 2, "%d is not a connection-oriented PDU type", h.PType)
	case h.Drep[0]&0xe0 != 0 || h.Drep[0]&0x0e != 0 || h.Drep[1] > 3 || h.Drep[2] != 0 || h.Drep[3] != 0:
		return h, perr("packed_drep", 4, "% x is not a valid data representation", h.Drep)
	case int(h.FragLen) < minFragLen(h.PType):
		return h, perr("frag_length", 8, "%d is less than the %d bytes a %s needs", h.FragLen, minFragLen(h.PType), PTypeName(h.PType))
	case h.AuthLen > 0 && int(h.AuthLen)+secTrailerLen+HeaderLen > int(h.FragLen):
		return h, perr("auth_length", 10, "%d does not fit in frag_length %d", h.AuthLen, h.FragLen)
	case h.PType == PTypeRTS && (h.AuthLen != 0 || h.CallID != 0):
		return h, perr("rts", 10, "RTS PDU with auth_length %d, call_id %d", h.AuthLen, h.CallID)
	}
	return h, nil
}

// AuthTrailer is the sec_trailer and auth_value of a PDU (MS-RPCE 2.2.2.11).
type AuthTrailer struct {
	Type      uint8
	Level     uint8
	PadLen    uint8
	ContextID uint32
	// Value is the auth_value (a token or a signature), borrowed from the PDU.
	Value []byte
}

// Auth types (MS-RPCE 2.2.1.1.7).
const (
	AuthNone       = 0
	AuthSPNEGO     = 9
	AuthNTLMSSP    = 10
	AuthSchannel   = 14
	AuthKerberos   = 16
	AuthNetlogon   = 68
	AuthDefault    = 255
	LevelNone      = 1
	LevelConnect   = 2
	LevelCall      = 3
	LevelPacket    = 4
	LevelIntegrity = 5
	LevelPrivacy   = 6
)

// AuthLevelName names an auth level as the calls output does.
func AuthLevelName(l uint8) string {
	switch l {
	case 0, LevelNone:
		return "none"
	case LevelConnect:
		return "connect"
	case LevelCall:
		return "call"
	case LevelPacket:
		return "packet"
	case LevelIntegrity:
		return "integrity"
	case LevelPrivacy:
		return "privacy"
	}
	return fmt.Sprintf("level_%d", l)
}

// ContextElem is one presentation context offered in a bind or alter_context.
type ContextElem struct {
	ID       uint16
	Abstract SyntaxID
	Transfer []SyntaxID
}

// SyntaxID is an interface or transfer syntax with its version.
type SyntaxID struct {
	UUID  UUID
	Major uint16
	Minor uint16
}

// Result is one positional result of a bind_ack or alter_context_resp.
type Result struct {
	Result   uint16
	Reason   uint16
	Transfer SyntaxID
}

// PDU is one parsed connection-oriented PDU. Byte slices are borrowed from the
// buffer passed to ParsePDU.
type PDU struct {
	Header
	// request, response, fault
	AllocHint uint32
	ContextID uint16
	Opnum     uint16
	HasObject bool
	Object    UUID
	Status    uint32 // fault
	// Stub is the stub data with the auth padding removed.
	Stub []byte
	// Auth is set when auth_length > 0.
	Auth *AuthTrailer
	auth AuthTrailer
	// unsealed: what the Unsealer made of this PDU (unseal.go).
	unsealed UnsealStatus

	// bind, alter_context, bind_ack, alter_context_resp
	MaxXmit, MaxRecv uint16
	AssocGroup       uint32
	Contexts         []ContextElem
	SecAddr          string
	Results          []Result
	// bind_nak
	RejectReason uint16
}

// ParsePDU parses one whole PDU: b must hold exactly frag_length bytes. It
// checks every length against the bytes present; it never panics.
func ParsePDU(b []byte) (*PDU, error) {
	p := &PDU{}
	if err := parsePDU(p, b); err != nil {
		return nil, err
	}
	return p, nil
}

// parsePDU parses b into *p, which must be zero; the connection's parser
// keeps p on its stack.
func parsePDU(p *PDU, b []byte) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	p.Header = h
	if len(b) != int(h.FragLen) {
		return perr("frag_length", 8, "%d, but the PDU buffer holds %d bytes", h.FragLen, len(b))
	}
	o := order(h.LittleEndian())
	end := len(b) // end of the body (before sec_trailer)
	if h.AuthLen > 0 {
		t := len(b) - int(h.AuthLen) - secTrailerLen
		p.auth = AuthTrailer{
			Type:      b[t],
			Level:     b[t+1],
			PadLen:    b[t+2],
			ContextID: o.Uint32(b[t+4:]),
			Value:     b[t+secTrailerLen:],
		}
		p.Auth = &p.auth
		end = t
	}
	switch h.PType {
	case PTypeRequest, PTypeResponse, PTypeFault:
		p.AllocHint = o.Uint32(b[16:])
		p.ContextID = o.Uint16(b[20:])
		hdrEnd := 24
		switch h.PType {
		case PTypeRequest:
			p.Opnum = o.Uint16(b[22:])
			if h.Flags&flagObjectUUID != 0 {
				if end < 40 {
					return perr("object", 24, "object UUID flag set but the body ends at %d", end)
				}
				p.HasObject = true
				p.Object = uuidFromWire(b[24:40], h.LittleEndian())
				hdrEnd = 40
			}
		case PTypeFault:
			if end < 28 {
				return perr("status", 24, "fault body ends at %d", end)
			}
			p.Status = o.Uint32(b[24:])
			hdrEnd = end // the rest (reserved, extended error) is not a stub we decode
		}
		if end < hdrEnd {
			return perr("stub", hdrEnd, "sec_trailer at %d overlaps the %s header", end, PTypeName(h.PType))
		}
		stubEnd := end
		if p.Auth != nil {
			stubEnd -= int(p.auth.PadLen)
			if stubEnd < hdrEnd {
				return perr("auth_pad_length", end+2, "%d is longer than the %d-byte stub", p.auth.PadLen, end-hdrEnd)
			}
		}
		p.Stub = b[hdrEnd:stubEnd]
	case PTypeBind, PTypeAlter:
		p.MaxXmit = o.Uint16(b[16:])
		p.MaxRecv = o.Uint16(b[18:])
		p.AssocGroup = o.Uint32(b[20:])
		n := int(b[24])
		off := 28
		for i := 0; i < n; i++ {
			if off+24 > end {
				return perr("p_cont_elem", off, "context %d of %d does not fit before offset %d", i+1, n, end)
			}
			ce := ContextElem{ID: o.Uint16(b[off:])}
			nts := int(b[off+2])
			ce.Abstract = syntaxFromWire(b[off+4:off+24], h.LittleEndian())
			off += 24
			if off+20*nts > end {
				return perr("transfer_syntaxes", off, "%d transfer syntaxes do not fit before offset %d", nts, end)
			}
			for j := 0; j < nts; j++ {
				if j < 8 {
					ce.Transfer = append(ce.Transfer, syntaxFromWire(b[off:off+20], h.LittleEndian()))
				}
				off += 20
			}
			if len(p.Contexts) < maxContextsPerPDU {
				p.Contexts = append(p.Contexts, ce)
			}
		}
	case PTypeBindAck, PTypeAlterResp:
		p.MaxXmit = o.Uint16(b[16:])
		p.MaxRecv = o.Uint16(b[18:])
		p.AssocGroup = o.Uint32(b[20:])
		n := int(o.Uint16(b[24:]))
		off := 26
		if off+n > end {
			return perr("sec_addr", off, "length %d runs past offset %d", n, end)
		}
		sa := b[off : off+n]
		for len(sa) > 0 && sa[len(sa)-1] == 0 {
			sa = sa[:len(sa)-1]
		}
		p.SecAddr = string(sa)
		off += n
		off = (off + 3) &^ 3
		if off+4 > end {
			// Some stacks send a bind_ack without a result list; that is
			// malformed, but the rest of the PDU is still usable.
			return perr("p_result_list", off, "result list starts past offset %d", end)
		}
		nr := int(b[off])
		off += 4
		if off+24*nr > end {
			return perr("p_results", off, "%d results do not fit before offset %d", nr, end)
		}
		for i := 0; i < nr; i++ {
			if len(p.Results) < maxContextsPerPDU {
				p.Results = append(p.Results, Result{
					Result:   o.Uint16(b[off:]),
					Reason:   o.Uint16(b[off+2:]),
					Transfer: syntaxFromWire(b[off+4:off+24], h.LittleEndian()),
				})
			}
			off += 24
		}
	case PTypeBindNak:
		if end >= 18 {
			p.RejectReason = o.Uint16(b[16:])
		}
	}
	return nil
}

func syntaxFromWire(b []byte, le bool) SyntaxID {
	v := order(le).Uint32(b[16:])
	return SyntaxID{UUID: uuidFromWire(b[:16], le), Major: uint16(v), Minor: uint16(v >> 16)}
}
