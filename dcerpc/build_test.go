package dcerpc

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Test PDU builders, written from C706 12.6 independently of the decoder.

type pb struct {
	le     bool
	ptype  uint8
	flags  uint8
	callID uint32
	body   []byte
	auth   []byte // auth_value
	atype  uint8
	alevel uint8
	actx   uint32
	pad    int
}

func (p pb) bytes() []byte {
	o := binary.ByteOrder(binary.LittleEndian)
	drep := byte(0x10)
	if !p.le {
		o = binary.BigEndian
		drep = 0
	}
	body := append([]byte(nil), p.body...)
	for i := 0; i < p.pad; i++ {
		body = append(body, 0xee)
	}
	n := 16 + len(body)
	if p.auth != nil {
		n += 8 + len(p.auth)
	}
	b := make([]byte, 16, n)
	b[0], b[1], b[2], b[3] = 5, 0, p.ptype, p.flags
	b[4] = drep
	o.PutUint16(b[8:], uint16(n))
	o.PutUint16(b[10:], uint16(len(p.auth)))
	o.PutUint32(b[12:], p.callID)
	b = append(b, body...)
	if p.auth != nil {
		t := make([]byte, 8)
		t[0], t[1], t[2] = p.atype, p.alevel, byte(p.pad)
		o.PutUint32(t[4:], p.actx)
		b = append(b, t...)
		b = append(b, p.auth...)
	}
	return b
}

func wireUUID(u UUID, le bool) []byte {
	b := append([]byte(nil), u[:]...)
	if le {
		b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
		b[4], b[5] = b[5], b[4]
		b[6], b[7] = b[7], b[6]
	}
	return b
}

func order2(le bool) binary.ByteOrder {
	if le {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

func bindBody(le bool, ctxID uint16, iface UUID, major, minor uint16) []byte {
	o := order2(le)
	b := make([]byte, 12)
	o.PutUint16(b[0:], 5840)
	o.PutUint16(b[2:], 5840)
	b[8] = 1
	e := make([]byte, 4)
	o.PutUint16(e[0:], ctxID)
	e[2] = 1
	b = append(b, e...)
	b = append(b, wireUUID(iface, le)...)
	v := make([]byte, 4)
	o.PutUint32(v, uint32(major)|uint32(minor)<<16)
	b = append(b, v...)
	b = append(b, wireUUID(NDR, le)...)
	v2 := make([]byte, 4)
	o.PutUint32(v2, 2)
	return append(b, v2...)
}

func bindAckBody(le bool, accept bool) []byte {
	o := order2(le)
	b := make([]byte, 8)
	o.PutUint16(b[0:], 5840)
	o.PutUint16(b[2:], 5840)
	o.PutUint32(b[4:], 0x1234)
	sa := []byte("4997\x00")
	l := make([]byte, 2)
	o.PutUint16(l, uint16(len(sa)))
	b = append(b, l...)
	b = append(b, sa...)
	for (16+len(b))%4 != 0 {
		b = append(b, 0xaa)
	}
	b = append(b, 1, 0, 0, 0)
	r := make([]byte, 4)
	if !accept {
		o.PutUint16(r[0:], 2)
		o.PutUint16(r[2:], 1)
	}
	b = append(b, r...)
	b = append(b, wireUUID(NDR, le)...)
	v := make([]byte, 4)
	o.PutUint32(v, 2)
	return append(b, v...)
}

func reqBody(le bool, ctx, opnum uint16, stub []byte) []byte {
	o := order2(le)
	b := make([]byte, 8)
	o.PutUint32(b[0:], uint32(len(stub)))
	o.PutUint16(b[4:], ctx)
	o.PutUint16(b[6:], opnum)
	return append(b, stub...)
}

func respBody(le bool, ctx uint16, stub []byte) []byte {
	o := order2(le)
	b := make([]byte, 8)
	o.PutUint32(b[0:], uint32(len(stub)))
	o.PutUint16(b[4:], ctx)
	return append(b, stub...)
}

func faultBody(le bool, status uint32) []byte {
	o := order2(le)
	b := make([]byte, 16)
	o.PutUint32(b[8:], status)
	return b
}

// recorder collects what a Conn produces.
type recorder struct {
	calls  []*Call
	anoms  []Anomaly
	logons []Security
}

func (r *recorder) Logon(_ *ConnMeta, s Security, _ Pos) { r.logons = append(r.logons, s) }

func (r *recorder) Call(c *Call)      { r.calls = append(r.calls, c) }
func (r *recorder) Anomaly(a Anomaly) { r.anoms = append(r.anoms, a) }

func (r *recorder) kinds() map[string]int {
	m := map[string]int{}
	for _, a := range r.anoms {
		m[a.Kind]++
	}
	return m
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func pos(frame int64) Pos {
	return Pos{Frame: frame, Time: t0.Add(time.Duration(frame) * time.Millisecond)}
}

func meta(fromStart bool) ConnMeta {
	return ConnMeta{ID: 1, Client: netip.MustParseAddrPort("192.0.2.10:50000"), Server: netip.MustParseAddrPort("198.51.100.5:4997"), FromStart: fromStart}
}
