package synth

import (
	"encoding/binary"
)

// PDU types (protocol notes §1.3).
const (
	PTRequest      = 0
	PTResponse     = 2
	PTFault        = 3
	PTBind         = 11
	PTBindAck      = 12
	PTBindNak      = 13
	PTAlterContext = 14
	PTAlterResp    = 15
	PTAuth3        = 16
)

// pfc_flags.
const (
	FlagFirst      = 0x01
	FlagLast       = 0x02
	FlagHdrSign    = 0x04
	FlagDidNotExec = 0x20
)

// Auth types and levels (MS-RPCE 2.2.1.1.7/8).
const (
	AuthTypeNone     = 0
	AuthTypeSPNEGO   = 9
	AuthTypeNTLM     = 10
	AuthTypeKerberos = 16

	AuthLevelConnect = 2
)

// Drep values: first byte of packed_drep.
const (
	DrepLE = 0x10
	DrepBE = 0x00
)

// Verifier is an auth verifier: auth padding, sec_trailer and auth_value.
type Verifier struct {
	Type      uint8
	Level     uint8
	ContextID uint32
	Pad       []byte // auth padding placed before the sec_trailer (its length is auth_pad_length)
	Value     []byte // auth_value
}

// ConnectVerifier is the 16-byte NTLMSSP verifier Windows sends at connect level.
func ConnectVerifier() []byte {
	v := make([]byte, 16)
	v[0] = 1
	return v
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func order(drep byte) byteOrder {
	if drep&0xf0 == 0 {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// EncodePDU assembles a connection-oriented PDU: the 16-byte common header,
// body, and an optional verifier. frag_length and auth_length are computed.
func EncodePDU(drep byte, ptype, flags uint8, callID uint32, body []byte, v *Verifier) []byte {
	bo := order(drep)
	authLen := 0
	total := 16 + len(body)
	if v != nil {
		authLen = len(v.Value)
		total += len(v.Pad) + 8 + authLen
	}
	b := make([]byte, 0, total)
	b = append(b, 5, 0, ptype, flags, drep, 0, 0, 0)
	b = bo.AppendUint16(b, uint16(total))
	b = bo.AppendUint16(b, uint16(authLen))
	b = bo.AppendUint32(b, callID)
	b = append(b, body...)
	if v != nil {
		b = append(b, v.Pad...)
		b = append(b, v.Type, v.Level, uint8(len(v.Pad)), 0)
		b = bo.AppendUint32(b, v.ContextID)
		b = append(b, v.Value...)
	}
	return b
}

// SyntaxID is an interface or transfer syntax identifier.
type SyntaxID struct {
	UUID  UUID
	Major uint16
	Minor uint16
}

// Well-known syntaxes.
var (
	SyntaxNDR   = SyntaxID{NDRUUID, 2, 0}
	SyntaxNDR64 = SyntaxID{NDR64UUID, 1, 0}
	SyntaxBTFN3 = SyntaxID{BTFN3UUID, 1, 0}
	SyntaxNSPI  = SyntaxID{NSPIUUID, NSPIVersion, 0}
	SyntaxRFR   = SyntaxID{RFRUUID, RFRVersion, 0}
	SyntaxEPM   = SyntaxID{EPMUUID, EPMVersion, 0}
)

func appendSyntax(b []byte, bo byteOrder, s SyntaxID) []byte {
	b = append(b, s.UUID.Wire(bo == byteOrder(binary.BigEndian))...)
	// version as one u32: major = low 16 bits, minor = high 16 bits
	return bo.AppendUint32(b, uint32(s.Major)|uint32(s.Minor)<<16)
}

// ContextElem is one presentation context element of a bind/alter_context.
type ContextElem struct {
	ID       uint16
	Abstract SyntaxID
	Transfer []SyntaxID
}

// Result is one positional result of a bind_ack/alter_context_resp.
type Result struct {
	Result   uint16 // 0 accept, 2 provider rejection, 3 negotiate_ack
	Reason   uint16
	Transfer SyntaxID // zero for rejections and negotiate_ack
}

// BindBody encodes the body of a bind or alter_context PDU.
func BindBody(drep byte, maxXmit, maxRecv uint16, assoc uint32, ctxs []ContextElem) []byte {
	bo := order(drep)
	var b []byte
	b = bo.AppendUint16(b, maxXmit)
	b = bo.AppendUint16(b, maxRecv)
	b = bo.AppendUint32(b, assoc)
	b = append(b, uint8(len(ctxs)), 0, 0, 0)
	for _, c := range ctxs {
		b = bo.AppendUint16(b, c.ID)
		b = append(b, uint8(len(c.Transfer)), 0)
		b = appendSyntax(b, bo, c.Abstract)
		for _, t := range c.Transfer {
			b = appendSyntax(b, bo, t)
		}
	}
	return b
}

// BindAckBody encodes the body of a bind_ack or alter_context_resp PDU.
// secAddr is the secondary address without the NUL ("" gives length 0, as
// alter_context_resp uses). padByte fills the alignment pad after it (the
// content is arbitrary on the wire).
func BindAckBody(drep byte, maxXmit, maxRecv uint16, assoc uint32, secAddr string, padByte byte, results []Result) []byte {
	bo := order(drep)
	var b []byte
	b = bo.AppendUint16(b, maxXmit)
	b = bo.AppendUint16(b, maxRecv)
	b = bo.AppendUint32(b, assoc)
	if secAddr == "" {
		b = bo.AppendUint16(b, 0)
	} else {
		b = bo.AppendUint16(b, uint16(len(secAddr)+1))
		b = append(b, secAddr...)
		b = append(b, 0)
	}
	for (16+len(b))%4 != 0 {
		b = append(b, padByte)
	}
	b = append(b, uint8(len(results)), 0, 0, 0)
	for _, r := range results {
		b = bo.AppendUint16(b, r.Result)
		b = bo.AppendUint16(b, r.Reason)
		if r.Transfer.UUID == (UUID{}) {
			b = append(b, make([]byte, 20)...)
		} else {
			b = appendSyntax(b, bo, r.Transfer)
		}
	}
	return b
}

// Auth3Body is the 4-byte pad of an rpc_auth_3 PDU (content arbitrary).
func Auth3Body(pad [4]byte) []byte { return pad[:] }

// CallPDUOpts controls how a request or response stub is cut into fragments.
type CallPDUOpts struct {
	Drep      byte
	CallID    uint32
	ContextID uint16
	Opnum     uint16 // requests only
	MaxFrag   int    // max frag_length; 0 = 5840
	Auth      *Verifier
	// PadByte gives the content of auth padding byte i of fragment f.
	PadByte func(f, i int) byte
}

// RequestPDUs encodes a request stub into one or more request fragments.
func RequestPDUs(o CallPDUOpts, stub []byte) [][]byte { return callPDUs(PTRequest, o, stub) }

// ResponsePDUs encodes a response stub into one or more response fragments.
func ResponsePDUs(o CallPDUOpts, stub []byte) [][]byte { return callPDUs(PTResponse, o, stub) }

func callPDUs(ptype uint8, o CallPDUOpts, stub []byte) [][]byte {
	bo := order(o.Drep)
	maxFrag := o.MaxFrag
	if maxFrag == 0 {
		maxFrag = 5840
	}
	overhead := 24
	if o.Auth != nil {
		overhead += 8 + len(o.Auth.Value)
	}
	chunk := maxFrag - overhead
	if o.Auth != nil {
		chunk -= chunk % 16
	} else {
		chunk -= chunk % 8
	}
	if chunk <= 0 {
		panic("synth: max_xmit_frag too small")
	}
	var out [][]byte
	f := 0
	for off := 0; ; f++ {
		n := min(len(stub)-off, chunk)
		flags := uint8(0)
		if off == 0 {
			flags |= FlagFirst
		}
		last := off+n == len(stub)
		if last {
			flags |= FlagLast
		}
		var body []byte
		body = bo.AppendUint32(body, uint32(len(stub)-off))
		body = bo.AppendUint16(body, o.ContextID)
		if ptype == PTRequest {
			body = bo.AppendUint16(body, o.Opnum)
		} else {
			body = append(body, 0, 0) // cancel_count, reserved
		}
		body = append(body, stub[off:off+n]...)
		var v *Verifier
		if o.Auth != nil {
			vv := *o.Auth
			padLen := (16 - n%16) % 16
			vv.Pad = make([]byte, padLen)
			for i := range vv.Pad {
				if o.PadByte != nil {
					vv.Pad[i] = o.PadByte(f, i)
				}
			}
			v = &vv
		}
		out = append(out, EncodePDU(o.Drep, ptype, flags, o.CallID, body, v))
		off += n
		if last {
			break
		}
	}
	return out
}

// FaultPDU encodes a fault PDU with the given status.
func FaultPDU(drep byte, callID uint32, ctxID uint16, flags uint8, status uint32) []byte {
	bo := order(drep)
	var body []byte
	body = bo.AppendUint32(body, 32) // alloc_hint
	body = bo.AppendUint16(body, ctxID)
	body = append(body, 0, 0)
	body = bo.AppendUint32(body, status)
	body = bo.AppendUint32(body, 0)
	return EncodePDU(drep, PTFault, FlagFirst|FlagLast|flags, callID, body, nil)
}
