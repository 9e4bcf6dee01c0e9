package nspi

import (
	"errors"
	"fmt"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// UUID and version of the NSPI interface (MS-OXNSPI 1.9, MS-NSPI 1.9).
var (
	UUID         = dcerpc.NSPI
	VersionMajor = uint16(56)
)

// Opnums (MS-OXNSPI 3.1.4.1; MS-NSPI 3.1.4).
const (
	OpBind   = 0
	OpUnbind = 1
)

var opNames = [...]string{
	"NspiBind", "NspiUnbind", "NspiUpdateStat", "NspiQueryRows", "NspiSeekEntries",
	"NspiGetMatches", "NspiResortRestriction", "NspiDNToMId", "NspiGetPropList", "NspiGetProps",
	"NspiCompareMIds", "NspiModProps", "NspiGetSpecialTable", "NspiGetTemplateInfo", "NspiModLinkAtt",
	"NspiDeleteEntries", "NspiQueryColumns", "NspiGetNamesFromIDs", "NspiGetIDsFromNames",
	"NspiResolveNames", "NspiResolveNamesW",
}

// OpName returns the method name of an NSPI opnum, or "opnum_N".
func OpName(opnum uint16) string {
	if int(opnum) < len(opNames) {
		return opNames[opnum]
	}
	return fmt.Sprintf("opnum_%d", opnum)
}

// FlagAnonymousLogin is NspiBind's fAnonymousLogin (MS-OXNSPI 2.2.1.8).
const FlagAnonymousLogin = 0x00000020

// Op is what nspicap reads of one NSPI call.
type Op struct {
	Opnum uint16
	Name  string
	// BindFlags is NspiBind's dwFlags; CodePage its STAT.CodePage.
	BindFlags uint32
	CodePage  uint32
	HasBind   bool
	// Handle: for NspiBind the handle the server returned (HasHandle only
	// when the response was decoded); for every other opnum the handle in
	// the request.
	Handle    [20]byte
	HasHandle bool
	// ServerGUID from the NspiBind response, when present.
	ServerGUID    dcerpc.UUID
	HasServerGUID bool
	// Status is the return value: the last 4 bytes of the response stub.
	Status    uint32
	HasStatus bool
	// Err is set when a stub could not be decoded (too short, sealed).
	Err error
}

// ErrSealed is returned for stubs encrypted at auth level privacy.
var ErrSealed = errors.New("stub is sealed (auth level privacy)")

// ErrTruncated is returned for stubs that were not captured whole.
var ErrTruncated = errors.New("stub was not captured whole")

// IsNSPI reports whether a call was made on the NSPI interface.
func IsNSPI(c *dcerpc.Call) bool { return c.IfaceKnown && c.Iface.UUID == UUID }

// Decode reads an NSPI call. It never decodes a sealed stub, nor one in
// NDR64 (Err is then ndr.ErrNDR64).
func Decode(c *dcerpc.Call) Op {
	op := Op{Opnum: c.Opnum, Name: OpName(c.Opnum)}
	if c.NDR64 {
		// Outlook speaks NDR20 to NSPI; an NDR64 stub is left unread
		// rather than read as NDR20 (the pipeline reports it).
		op.Err = ndr.ErrNDR64
		return op
	}
	if rq := c.Request; rq != nil {
		switch {
		case rq.Sealed:
			op.Err = ErrSealed
		default:
			// A damaged or incomplete request may still hold its first
			// fields (the handle is the first 20 bytes).
			r := ndr.NewReader(rq.Stub, rq.LittleEndian)
			if c.Opnum == OpBind {
				op.BindFlags = r.U32("dwFlags")
				r.Skip("pStat", 24)
				op.CodePage = r.U32("pStat.CodePage")
				r.Skip("pStat.locales", 8)
				if r.Pointer("pServerGuid") != 0 {
					r.Skip("pServerGuid", 16)
				}
				op.HasBind = r.Err() == nil
			} else {
				op.Handle = r.ContextHandle("hRpc")
				op.HasHandle = r.Err() == nil
			}
			if r.Err() != nil {
				if rq.Damaged || !rq.Complete || rq.Truncated {
					op.Err = fmt.Errorf("%s request: %w", op.Name, ErrTruncated)
				} else {
					op.Err = fmt.Errorf("%s request: %w", op.Name, r.Err())
				}
			}
		}
	}
	if rs := c.Response; rs != nil {
		switch {
		case rs.Sealed:
			op.Err = ErrSealed
		case rs.StatusLost || !rs.Complete:
			op.Err = fmt.Errorf("%s response: the return value was not captured: %w", op.Name, ErrTruncated)
		case rs.Len < 4:
			op.Err = fmt.Errorf("%s response: stub of %d bytes has no return value", op.Name, rs.Len)
		default:
			op.Status = order(rs.LittleEndian).Uint32(rs.Tail[:])
			op.HasStatus = true
			if c.Opnum == OpBind && !rs.Damaged && !rs.Truncated {
				r := ndr.NewReader(rs.Stub, rs.LittleEndian)
				if r.Pointer("pServerGuid") != 0 {
					op.ServerGUID = r.UUID("pServerGuid")
					// Only a GUID actually read from the stub (a short
					// stub leaves the zero value and an error).
					op.HasServerGUID = r.Err() == nil
				}
				op.Handle = r.ContextHandle("contextHandle")
				r.U32("return value")
				if r.Err() == nil {
					op.HasHandle = true
				} else {
					op.Err = fmt.Errorf("NspiBind response: %w", r.Err())
				}
			}
		}
	}
	return op
}

// ZeroHandle reports whether h is the NULL context handle.
func ZeroHandle(h [20]byte) bool { return h == [20]byte{} }
