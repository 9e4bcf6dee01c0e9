package synth

import "net/netip"

// NSPI opnums and names (MS-OXNSPI 3.1.4.1).
const (
	OpNspiBind            = 0
	OpNspiUnbind          = 1
	OpNspiUpdateStat      = 2
	OpNspiQueryRows       = 3
	OpNspiGetPropList     = 8
	OpNspiCompareMIds     = 10
	OpNspiGetSpecialTable = 12
)

// NSPIOpName returns the MS-OXNSPI method name of an opnum.
func NSPIOpName(op uint16) string {
	switch op {
	case OpNspiBind:
		return "NspiBind"
	case OpNspiUnbind:
		return "NspiUnbind"
	case OpNspiUpdateStat:
		return "NspiUpdateStat"
	case OpNspiQueryRows:
		return "NspiQueryRows"
	case OpNspiGetPropList:
		return "NspiGetPropList"
	case OpNspiCompareMIds:
		return "NspiCompareMIds"
	case OpNspiGetSpecialTable:
		return "NspiGetSpecialTable"
	}
	return "unknown"
}

// Status values (MS-OXCDATA 2.4).
const (
	StatusSuccess        = 0x00000000
	StatusUnbindSuccess  = 0x00000001
	StatusUnbindFailure  = 0x00000002
	StatusNotFound       = 0x8004010F
	StatusLogonFailed    = 0x80040111
	FaultContextMismatch = 0x1c00001a
	FaultOpRangeError    = 0x1c010002
)

// STAT is the NSPI STAT block (9 DWORDs, 36 bytes).
type STAT struct {
	SortType, ContainerID, CurrentRec uint32
	Delta                             int32
	NumPos, TotalRecs                 uint32
	CodePage, TemplateLocale          uint32
	SortLocale                        uint32
}

// DefaultSTAT is what Outlook sends: display-name sort, code page 1252, en-US.
var DefaultSTAT = STAT{CodePage: 1252, TemplateLocale: 0x409, SortLocale: 0x409}

func (e *NDR) stat(s STAT) {
	e.U32(s.SortType)
	e.U32(s.ContainerID)
	e.U32(s.CurrentRec)
	e.U32(uint32(s.Delta))
	e.U32(s.NumPos)
	e.U32(s.TotalRecs)
	e.U32(s.CodePage)
	e.U32(s.TemplateLocale)
	e.U32(s.SortLocale)
}

// NspiBindReq: dwFlags, STAT (ref: no referent), [in,out,unique] FlatUID_r* pServerGuid.
func NspiBindReq(be bool, flags uint32, st STAT, guid *UUID) []byte {
	e := NewNDR(be)
	e.U32(flags)
	e.stat(st)
	if guid != nil {
		e.Ref()
		e.Raw(guid[:]) // FlatUID_r is 16 raw bytes
	} else {
		e.Null()
	}
	return e.B
}

// NspiBindResp: pServerGuid (unique), contextHandle, return value.
func NspiBindResp(be bool, guid *UUID, h Handle, status uint32) []byte {
	e := NewNDR(be)
	if guid != nil {
		e.Ref()
		e.Raw(guid[:])
	} else {
		e.Null()
	}
	e.Handle(h)
	e.U32(status)
	return e.B
}

// NspiUnbindReq: [in,out] contextHandle, Reserved.
func NspiUnbindReq(be bool, h Handle) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(0)
	return e.B
}

// NspiUnbindResp: contextHandle (zeroed when destroyed), return value.
func NspiUnbindResp(be bool, h Handle, status uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(status)
	return e.B
}

// NspiUpdateStatReq: hRpc, Reserved, [in,out] STAT*, [in,out,unique] long* plDelta (NULL).
func NspiUpdateStatReq(be bool, h Handle, st STAT) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(0)
	e.stat(st)
	e.Null()
	return e.B
}

// NspiUpdateStatResp: STAT, plDelta (NULL), return value.
func NspiUpdateStatResp(be bool, st STAT, status uint32) []byte {
	e := NewNDR(be)
	e.stat(st)
	e.Null()
	e.U32(status)
	return e.B
}

// NspiQueryRowsReq: hRpc, dwFlags, [in,out] STAT*, dwETableCount (0),
// lpETable (unique, NULL), Count, pPropTags (unique; NULL when tags is nil).
//
// PropertyTagArray_r is {DWORD cValues; [size_is(cValues+1),
// length_is(cValues)] DWORD aulPropTag[]}: a conformant varying structure,
// so its max_count (cValues+1) comes first, then cValues, offset, actual
// count and the tags.
func NspiQueryRowsReq(be bool, h Handle, flags uint32, st STAT, count uint32, tags []uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(flags)
	e.stat(st)
	e.U32(0)
	e.Null()
	e.U32(count)
	if tags == nil {
		e.Null()
		return e.B
	}
	e.Ref()
	e.U32(uint32(len(tags) + 1))
	e.U32(uint32(len(tags)))
	e.U32(0)
	e.U32(uint32(len(tags)))
	for _, t := range tags {
		e.U32(t)
	}
	return e.B
}

// DefaultPropTags is the column set of the NspiQueryRows calls: PR_ENTRYID,
// PR_DISPLAY_NAME_A, PR_SMTP_ADDRESS_A, PR_OBJECT_TYPE.
var DefaultPropTags = []uint32{0x0FFF0102, 0x3001001E, 0x39FE001E, 0x0FFE0003}

// NspiQueryRowsResp: STAT, ppRows (NULL), return value.
func NspiQueryRowsResp(be bool, st STAT, status uint32) []byte {
	e := NewNDR(be)
	e.stat(st)
	e.Null()
	e.U32(status)
	return e.B
}

// NspiGetPropListReq: hRpc, dwFlags, dwMId, CodePage.
func NspiGetPropListReq(be bool, h Handle, flags, mid, codePage uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(flags)
	e.U32(mid)
	e.U32(codePage)
	return e.B
}

// NspiGetPropListResp: ppPropTags (NULL), return value.
func NspiGetPropListResp(be bool, status uint32) []byte {
	e := NewNDR(be)
	e.Null()
	e.U32(status)
	return e.B
}

// NspiCompareMIdsReq: hRpc, Reserved, STAT*, MId1, MId2.
func NspiCompareMIdsReq(be bool, h Handle, st STAT, mid1, mid2 uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(0)
	e.stat(st)
	e.U32(mid1)
	e.U32(mid2)
	return e.B
}

// NspiCompareMIdsResp: plResult (ref), return value.
func NspiCompareMIdsResp(be bool, result int32, status uint32) []byte {
	e := NewNDR(be)
	e.U32(uint32(result))
	e.U32(status)
	return e.B
}

// NspiGetSpecialTableReq: hRpc, dwFlags, STAT*, [in,out] DWORD* lpVersion.
func NspiGetSpecialTableReq(be bool, h Handle, flags uint32, st STAT, version uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(flags)
	e.stat(st)
	e.U32(version)
	return e.B
}

// NspiGetSpecialTableResp: lpVersion, ppRows (NULL), return value.
func NspiGetSpecialTableResp(be bool, version, status uint32) []byte {
	e := NewNDR(be)
	e.U32(version)
	e.Null()
	e.U32(status)
	return e.B
}

// --- RFR (MS-OXABREF) ---

// RfrGetNewDSAReq: ulFlags, pUserDN (ref string), ppszUnused and ppszServer
// (unique pointers to NULL unique string pointers).
func RfrGetNewDSAReq(be bool, userDN string) []byte {
	e := NewNDR(be)
	e.U32(0)
	e.CString(userDN)
	e.Ref() // ppszUnused -> NULL
	e.Null()
	e.Ref() // ppszServer -> NULL
	e.Null()
	return e.B
}

// RfrGetNewDSAResp: ppszUnused (-> NULL), ppszServer (-> string), return.
func RfrGetNewDSAResp(be bool, server string, status uint32) []byte {
	e := NewNDR(be)
	e.Ref()
	e.Null()
	e.Ref()
	e.Ref()
	e.CString(server)
	e.U32(status)
	return e.B
}

// --- EPM ---

// Tower builds an ncacn_ip_tcp tower octet string for iface at addr:port.
func Tower(iface SyntaxID, port uint16, addr netip.Addr) []byte {
	var b []byte
	le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	le16(5)
	uuidFloor := func(s SyntaxID) {
		le16(19)
		b = append(b, 0x0d)
		b = append(b, s.UUID.Wire(false)...)
		le16(s.Major)
		le16(2)
		le16(s.Minor)
	}
	uuidFloor(iface)
	uuidFloor(SyntaxNDR)
	le16(1)
	b = append(b, 0x0b)
	le16(2)
	le16(0)
	le16(1)
	b = append(b, 0x07)
	le16(2)
	b = append(b, byte(port>>8), byte(port))
	le16(1)
	b = append(b, 0x09)
	le16(4)
	a := addr.As4()
	b = append(b, a[:]...)
	return b
}

func (e *NDR) tower(t []byte) {
	e.U32(uint32(len(t)))
	e.U32(uint32(len(t)))
	e.Raw(t)
	e.Align(4)
}

// EptMapReq: object (unique, nil UUID), map_tower (unique), entry_handle, max_towers.
func EptMapReq(be bool, tower []byte) []byte {
	e := NewNDR(be)
	e.U32(1) // Windows uses small referent IDs for EPM pointers
	e.UUID(UUID{})
	e.U32(2)
	e.tower(tower)
	e.Handle(Handle{})
	e.U32(4)
	return e.B
}

// EptMapResp: entry_handle, num_towers, towers (conformant varying array of
// twr_p_t with deferred pointees), status.
func EptMapResp(be bool, towers [][]byte, status uint32) []byte {
	e := NewNDR(be)
	e.Handle(Handle{})
	e.U32(uint32(len(towers)))
	e.U32(4)
	e.U32(0)
	e.U32(uint32(len(towers)))
	for i := range towers {
		e.U32(uint32(3 + i)) // full-pointer referent IDs, as Windows (protocol notes §9.3)
	}
	for _, t := range towers {
		e.tower(t)
	}
	e.U32(status)
	return e.B
}
