package rfr

import (
	"encoding/binary"
	"fmt"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// Opnums (MS-OXABREF 3.1.4).
const (
	OpGetNewDSA           = 0
	OpGetFQDNFromServerDN = 1
	maxName               = 2048
)

// Op is what nspicap reads of one RFR call.
type Op struct {
	Opnum uint16
	Name  string
	// UserDN: RfrGetNewDSA's pUserDN; ServerDN: RfrGetFQDNFromServerDN's
	// szMailboxServerDN.
	UserDN, ServerDN string
	// Server is the name the server answered: the NSPI server (a global
	// catalog) for RfrGetNewDSA, the mailbox server FQDN for
	// RfrGetFQDNFromServerDN.
	Server    string
	Status    uint32
	HasStatus bool
	Err       error
}

// optString reads a unique pointer to a unique pointer to a string, the
// shape of [in,out,unique,string] char** (protocol-notes §5).
func optString(r *ndr.Reader, field string) string {
	if r.Pointer(field) == 0 {
		return ""
	}
	if r.Pointer(field+".inner") == 0 {
		return ""
	}
	return r.ConformantVaryingString(field, maxName)
}

// Decode reads an RFR call; sealed stubs are not decoded, nor stubs in
// NDR64 (Err is then ndr.ErrNDR64).
func Decode(c *dcerpc.Call) Op {
	op := Op{Opnum: c.Opnum, Name: dcerpc.OpName(dcerpc.RFR, c.Opnum)}
	if op.Name == "" {
		op.Name = fmt.Sprintf("opnum_%d", c.Opnum)
	}
	if c.NDR64 {
		op.Err = ndr.ErrNDR64 // read NDR20 only: never as NDR20
		return op
	}
	if rq := c.Request; rq != nil && !rq.Sealed {
		r := ndr.NewReader(rq.Stub, rq.LittleEndian)
		r.U32("ulFlags")
		switch c.Opnum {
		case OpGetNewDSA:
			op.UserDN = r.ConformantVaryingString("pUserDN", maxName)
		case OpGetFQDNFromServerDN:
			r.U32("cbMailboxServerDN")
			op.ServerDN = r.ConformantVaryingString("szMailboxServerDN", maxName)
		}
		if r.Err() != nil {
			op.Err = fmt.Errorf("%s request: %w", op.Name, r.Err())
		}
	}
	if rs := c.Response; rs != nil && !rs.Sealed && rs.Complete && !rs.StatusLost && rs.Len >= 4 {
		if rs.LittleEndian {
			op.Status = binary.LittleEndian.Uint32(rs.Tail[:])
		} else {
			op.Status = binary.BigEndian.Uint32(rs.Tail[:])
		}
		op.HasStatus = true
		if !rs.Damaged && !rs.Truncated {
			r := ndr.NewReader(rs.Stub, rs.LittleEndian)
			switch c.Opnum {
			case OpGetNewDSA:
				optString(r, "ppszUnused")
				op.Server = optString(r, "ppszServer")
			case OpGetFQDNFromServerDN:
				if r.Pointer("ppszServerFQDN") != 0 {
					op.Server = r.ConformantVaryingString("ppszServerFQDN", maxName)
				}
			}
			if r.Err() != nil && op.Err == nil {
				op.Err = fmt.Errorf("%s response: %w", op.Name, r.Err())
			}
		}
	}
	return op
}
