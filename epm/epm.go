package epm

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// Opnums (C706 appendix O; MS-RPCE 3.1.1.5.1... the ept_* methods).
const (
	OpLookup = 2
	OpMap    = 3
)

// Status values of ept_map and ept_lookup (C706 appendix O; the DCE status
// codes of the rpc facility, 0x16c9a000 and up).
const (
	StatusOK            = 0
	StatusCantPerformOp = 0x16c9a0cd
	StatusNotRegistered = 0x16c9a0d6
)

// StatusName names an ept_map or ept_lookup status; ok is false when
// [Statuses] does not list it.
func StatusName(v uint32) (name string, ok bool) {
	name, ok = statusNames[v]
	return name, ok
}

var statusNames = dcerpc.CodeMap(Statuses)

// Statuses names the status values of ept_map and ept_lookup as C706 spells
// them. ept_s_not_registered is also what an ept_lookup that has listed
// every entry ends with.
var Statuses = []dcerpc.Code{
	{Value: StatusOK, Name: "Success"},
	{Value: StatusCantPerformOp, Name: "ept_s_cant_perform_op"},
	{Value: StatusNotRegistered, Name: "ept_s_not_registered"},
}

// limits on what one stub may make us keep.
const (
	maxTowers    = 1024
	maxTowerLen  = 4096
	maxFloors    = 16
	maxAnnotLen  = 1024
	maxFloorSide = 1024
)

// Tower is a decoded protocol tower (C706 appendix L): the interface in its
// first floor and the endpoint in the others.
type Tower struct {
	Interface dcerpc.SyntaxID
	// Transfer is the second floor's transfer syntax.
	Transfer dcerpc.SyntaxID
	// Protocol: "ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp", "ncacn_np",
	// "ncalrpc" or "protocol_0xNN".
	Protocol string
	// Port: the TCP, UDP or HTTP port (floors 0x07, 0x08, 0x1f).
	Port uint16
	// Addr: the IPv4 address (floor 0x09, or 0x20 in the ncacn_http towers
	// of Exchange 2003).
	Addr netip.Addr
	// Pipe: the named pipe of an ncacn_np tower (floor 0x0f, \PIPE\...).
	Pipe string
	// LRPC: the endpoint name of an ncalrpc tower (floor 0x10).
	LRPC string
	// NetBIOS: the host name of floor 0x11 (\\HOST in ncacn_np towers).
	NetBIOS string
}

// EndpointName is the tower's endpoint as rpcdump prints it between
// brackets: the port in decimal, the pipe or the LRPC name; "" when the
// tower has none.
func (t *Tower) EndpointName() string {
	switch {
	case t.Pipe != "":
		return t.Pipe
	case t.LRPC != "":
		return t.LRPC
	case t.Port != 0:
		return strconv.Itoa(int(t.Port))
	}
	return ""
}

// HostName is the host the tower names, as rpcdump prints it: the NetBIOS
// name for a pipe tower that carries one, "" for an LRPC tower (local to
// the machine) and for a pipe tower without a host floor, else the IP
// address (mapper's, when the tower gives 0.0.0.0 or none).
func (t *Tower) HostName(mapper netip.Addr) string {
	switch {
	case t.NetBIOS != "":
		return t.NetBIOS
	case t.Protocol == "ncalrpc", t.Protocol == "ncacn_np":
		return ""
	}
	if h := t.Host(mapper); h.IsValid() {
		return h.String()
	}
	return ""
}

// Binding is the tower as a string binding, as impacket's rpcdump prints
// it: ncacn_ip_tcp:10.0.0.1[49668], ncacn_np:\\HOST[\PIPE\atsvc],
// ncalrpc:[umpo].
func (t *Tower) Binding(mapper netip.Addr) string {
	return t.Protocol + ":" + t.HostName(mapper) + "[" + t.EndpointName() + "]"
}

// Endpoint returns addr:port, or an invalid AddrPort when the tower has no
// IP endpoint.
func (t *Tower) Endpoint() netip.AddrPort {
	if !t.Addr.IsValid() || t.Port == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(t.Addr, t.Port)
}

// ParseTower decodes tower octets. Counts are little-endian whatever the
// drep; ports and addresses are in network order (notes §4.3).
func ParseTower(b []byte) (Tower, error) {
	var t Tower
	if len(b) < 2 {
		return t, fmt.Errorf("epm: tower of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > maxFloors {
		return t, fmt.Errorf("epm: tower claims %d floors", n)
	}
	off := 2
	for i := 0; i < n; i++ {
		if off+2 > len(b) {
			return t, fmt.Errorf("epm: floor %d LHS length at tower offset %d: tower ends", i+1, off)
		}
		ll := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		if ll < 1 || off+ll > len(b) {
			return t, fmt.Errorf("epm: floor %d LHS of %d bytes at tower offset %d runs past the tower", i+1, ll, off)
		}
		lhs := b[off : off+ll]
		off += ll
		if off+2 > len(b) {
			return t, fmt.Errorf("epm: floor %d RHS length at tower offset %d: tower ends", i+1, off)
		}
		rl := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		if off+rl > len(b) {
			return t, fmt.Errorf("epm: floor %d RHS of %d bytes at tower offset %d runs past the tower", i+1, rl, off)
		}
		rhs := b[off : off+rl]
		off += rl
		switch lhs[0] {
		case 0x0d: // UUID floor
			if len(lhs) < 19 {
				continue
			}
			var u [16]byte
			copy(u[:], lhs[1:17])
			u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
			u[4], u[5] = u[5], u[4]
			u[6], u[7] = u[7], u[6]
			s := dcerpc.SyntaxID{UUID: dcerpc.UUID(u), Major: binary.LittleEndian.Uint16(lhs[17:])}
			if len(rhs) >= 2 {
				s.Minor = binary.LittleEndian.Uint16(rhs)
			}
			if i == 0 {
				t.Interface = s
			} else {
				t.Transfer = s
			}
		case 0x0b, 0x0c:
			// connection-oriented RPC, and the LRPC protocol floor of
			// ncalrpc towers: the next floor names the transport.
			if t.Protocol == "" {
				t.Protocol = "ncacn"
			}
		case 0x0a:
			t.Protocol = "ncadg"
		case 0x07, 0x08, 0x1f:
			if len(rhs) >= 2 {
				t.Port = binary.BigEndian.Uint16(rhs)
			}
			t.Protocol = map[byte]string{0x07: "ncacn_ip_tcp", 0x08: "ncadg_ip_udp", 0x1f: "ncacn_http"}[lhs[0]]
		case 0x09, 0x20:
			if len(rhs) >= 4 {
				t.Addr = netip.AddrFrom4([4]byte(rhs[:4]))
			}
		case 0x0f:
			t.Protocol, t.Pipe = "ncacn_np", cstr(rhs)
		case 0x10:
			t.Protocol, t.LRPC = "ncalrpc", cstr(rhs)
		case 0x11:
			// NetBIOS host name: not an IP endpoint
			t.NetBIOS = cstr(rhs)
		default:
			if t.Protocol == "" {
				t.Protocol = fmt.Sprintf("protocol_0x%02x", lhs[0])
			}
		}
	}
	return t, nil
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// MapRequest is what ept_map asks: the interface of its template tower.
type MapRequest struct {
	Tower Tower
}

// MapResponse is what ept_map answers.
type MapResponse struct {
	Towers []Tower
	Status uint32
}

// Entry is one ept_lookup answer.
type Entry struct {
	Object     dcerpc.UUID
	Annotation string
	Tower      Tower
	HasTower   bool
}

// LookupResponse is what ept_lookup answers.
type LookupResponse struct {
	Entries []Entry
	Status  uint32
}

// readTower reads a twr_t body: its conformance (max_count), tower_length,
// octets. In NDR64 the conformance is 8 bytes aligned to 8 (hoisted to the
// start of the structure, where it already is).
func readTower(r *ndr.Reader, field string) (Tower, error) {
	r.Count(field+".max_count", maxTowerLen, 0)
	// tower_length is an unsigned32 in both syntaxes.
	n := r.U32(field + ".tower_length")
	if r.Err() != nil {
		return Tower{}, r.Err()
	}
	if n > maxTowerLen {
		return Tower{}, fmt.Errorf("epm: %s.tower_length at stub offset %d: %d bytes > %d", field, r.Offset()-4, n, maxTowerLen)
	}
	b := r.Bytes(field+".tower_octet_string", int(n))
	if r.Err() != nil {
		return Tower{}, r.Err()
	}
	r.Align(4)
	return ParseTower(b)
}

// varyingArray reads the header of a conformant varying array (max_count,
// offset, actual_count) and returns actual_count, bounded by maxTowers and by
// the bytes left for elements of elemSize bytes.
func varyingArray(r *ndr.Reader, field string, elemSize int) int {
	r.Count(field+".max_count", maxTowers, 0)
	r.Size(field + ".offset")
	return r.Count(field+".actual_count", maxTowers, elemSize)
}

func newReader(stub []byte, le, ndr64 bool) *ndr.Reader {
	if ndr64 {
		return ndr.NewReader64(stub, le)
	}
	return ndr.NewReader(stub, le)
}

// DecodeMapRequest decodes an ept_map request stub in NDR20.
func DecodeMapRequest(stub []byte, le bool) (MapRequest, error) {
	return DecodeMapRequestSyntax(stub, le, false)
}

// DecodeMapRequestSyntax decodes an ept_map request stub in NDR20, or in
// NDR64 when ndr64 is set.
func DecodeMapRequestSyntax(stub []byte, le, ndr64 bool) (MapRequest, error) {
	r := newReader(stub, le, ndr64)
	if r.Pointer("object") != 0 {
		r.Skip("object", 16)
	}
	var q MapRequest
	if r.Pointer("map_tower") != 0 {
		t, err := readTower(r, "map_tower")
		if err != nil {
			return q, err
		}
		q.Tower = t
	}
	return q, r.Err()
}

// DecodeMapResponse decodes an ept_map response stub in NDR20 (notes
// §4.2, §9.3).
func DecodeMapResponse(stub []byte, le bool) (MapResponse, error) {
	return DecodeMapResponseSyntax(stub, le, false)
}

// DecodeMapResponseSyntax decodes an ept_map response stub in NDR20, or
// in NDR64 when ndr64 is set: referent IDs and the array's counts are then
// 8 bytes aligned to 8.
func DecodeMapResponseSyntax(stub []byte, le, ndr64 bool) (MapResponse, error) {
	var m MapResponse
	r := newReader(stub, le, ndr64)
	r.ContextHandle("entry_handle")
	r.U32("num_towers")
	n := varyingArray(r, "towers", ptrSize(ndr64))
	refs := make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		refs = append(refs, r.Pointer("towers.referent"))
	}
	for _, ref := range refs {
		if ref == 0 {
			continue
		}
		t, err := readTower(r, "tower")
		if err != nil {
			return m, err
		}
		m.Towers = append(m.Towers, t)
	}
	m.Status = r.U32("status")
	return m, r.Err()
}

// DecodeLookupResponse decodes an ept_lookup response stub in NDR20
// (notes §4.4).
func DecodeLookupResponse(stub []byte, le bool) (LookupResponse, error) {
	return DecodeLookupResponseSyntax(stub, le, false)
}

// DecodeLookupResponseSyntax decodes an ept_lookup response stub in NDR20,
// or in NDR64 when ndr64 is set: each ept_entry_t is then aligned to 8
// (its tower pointer), its referent ID and the annotation's offset and
// length are 8 bytes.
func DecodeLookupResponseSyntax(stub []byte, le, ndr64 bool) (LookupResponse, error) {
	var l LookupResponse
	r := newReader(stub, le, ndr64)
	r.ContextHandle("entry_handle")
	r.U32("num_ents")
	minEntry := 28
	if ndr64 {
		minEntry = 40
	}
	n := varyingArray(r, "entries", minEntry)
	refs := make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		var e Entry
		if ndr64 {
			r.Align(8)
		}
		e.Object = dcerpc.UUID(r.UUID("entry.object"))
		refs = append(refs, r.Pointer("entry.tower"))
		r.Size("entry.annotation.offset")
		k := r.Count("entry.annotation.length", maxAnnotLen, 1)
		e.Annotation = cstr(r.Bytes("entry.annotation", k))
		r.Align(4)
		l.Entries = append(l.Entries, e)
	}
	for i, ref := range refs {
		if ref == 0 {
			continue
		}
		t, err := readTower(r, "entry.tower")
		if err != nil {
			return l, err
		}
		l.Entries[i].Tower, l.Entries[i].HasTower = t, true
	}
	l.Status = r.U32("status")
	return l, r.Err()
}

// ptrSize is the size of a referent ID.
func ptrSize(ndr64 bool) int {
	if ndr64 {
		return 8
	}
	return 4
}

// Host is the host a client reaches through the tower: its IPv4 address, or
// mapper (the endpoint mapper's own host) when the tower says 0.0.0.0 or
// gives none (notes §4.3).
func (t *Tower) Host(mapper netip.Addr) netip.Addr {
	if t.Addr.IsValid() && !t.Addr.IsUnspecified() {
		return t.Addr
	}
	return mapper
}

// Mapping is one interface an ept_map or ept_lookup answer speaks of.
type Mapping struct {
	Interface dcerpc.SyntaxID
	// Status is the answer's status (StatusOK, StatusNotRegistered, ...).
	Status uint32
	// Tower is where the interface listens; nil for an ept_map answered
	// without a tower, whose Interface is then the one the request asked
	// for.
	Tower      *Tower
	Annotation string // ept_lookup only
	// Asked is, for ept_map, the interface the request asked for; nil
	// when the request could not be decoded (and for ept_lookup).
	Asked *dcerpc.SyntaxID
}

// DecodeCall decodes an endpoint mapper call into what its answer maps: for
// ept_map one Mapping per returned tower, or one without a tower for the
// interface asked for when none came back; for ept_lookup one per entry that
// has a tower. ok is false when c is not an answered ept_map or ept_lookup
// whose response can be read (sealed, damaged or not decodable).
func DecodeCall(c *dcerpc.Call) (ms []Mapping, ok bool) {
	if !c.IfaceKnown || c.Iface.UUID != dcerpc.EPM || c.Request == nil || c.Response == nil || c.Response.Sealed || c.Response.Damaged {
		return nil, false
	}
	le := c.Response.LittleEndian
	switch c.Opnum {
	case OpMap:
		q, qerr := DecodeMapRequestSyntax(c.Request.Stub, c.Request.LittleEndian, c.NDR64)
		m, err := DecodeMapResponseSyntax(c.Response.Stub, le, c.NDR64)
		if err != nil {
			return nil, false
		}
		var asked *dcerpc.SyntaxID
		if qerr == nil {
			asked = &q.Tower.Interface
		}
		if len(m.Towers) == 0 {
			return []Mapping{{Interface: q.Tower.Interface, Status: m.Status, Asked: asked}}, true
		}
		for i := range m.Towers {
			ms = append(ms, Mapping{Interface: m.Towers[i].Interface, Status: m.Status, Tower: &m.Towers[i], Asked: asked})
		}
		return ms, true
	case OpLookup:
		l, err := DecodeLookupResponseSyntax(c.Response.Stub, le, c.NDR64)
		if err != nil {
			return nil, false
		}
		for i := range l.Entries {
			if e := &l.Entries[i]; e.HasTower {
				ms = append(ms, Mapping{Interface: e.Tower.Interface, Status: l.Status, Tower: &e.Tower, Annotation: e.Annotation})
			}
		}
		return ms, true
	}
	return nil, false
}
