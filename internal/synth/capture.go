package synth

import (
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Start is the timestamp of the first packet of every scenario.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// TCP flags.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
)

// Packet is one captured TCP segment, kept at the transport level; the link
// and network layers are serialised by the writer.
type Packet struct {
	TS       time.Time
	Iface    int
	Link     Link
	Src, Dst netip.AddrPort
	Flags    uint8
	Seq, Ack uint32
	Window   uint16
	IPID     uint16
	TTL      uint8
	SYNOpts  bool
	Payload  []byte
	// UDP makes the packet a UDP datagram (the TCP fields are unused).
	UDP bool
	// Frag, when set, makes the packet one IP fragment of a UDP datagram
	// (udpfrag.go): the TCP and UDP fields and Payload are unused.
	Frag *IPFrag
}

// Capture accumulates the packets and manifest of one scenario.
type Capture struct {
	Name      string
	Packets   []Packet
	Recording bool
	// Step is the time between consecutive packets unless the caller
	// advances the clock explicitly.
	Step     time.Duration
	now      time.Time
	rng      *rand.Rand
	ipid     map[netip.Addr]uint16
	Manifest Manifest
	conns    []*Conn
	srvGUID  UUID
}

// NewCapture starts an empty capture at Start with a seed derived from name.
func NewCapture(name string) *Capture {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	return &Capture{
		Name:      name,
		Recording: true,
		Step:      83 * time.Microsecond,
		now:       Start,
		rng:       rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)),
		ipid:      map[netip.Addr]uint16{},
		Manifest:  Manifest{Name: name},
	}
}

// Now returns the current capture clock.
func (c *Capture) Now() time.Time { return c.now }

// Advance moves the clock forward by d.
func (c *Capture) Advance(d time.Duration) { c.now = c.now.Add(d) }

// Rand returns the capture's deterministic random source.
func (c *Capture) Rand() *rand.Rand { return c.rng }

// RandBytes returns n deterministic pseudo-random bytes.
func (c *Capture) RandBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.rng.Uint32())
	}
	return b
}

// NewHandle returns a fresh non-zero NSPI context handle (attributes 0 + UUID v4 shape).
func (c *Capture) NewHandle() Handle {
	var h Handle
	copy(h[4:], c.RandBytes(16))
	h[4+7] = h[4+7]&0x0f | 0x40
	h[4+8] = h[4+8]&0x3f | 0x80
	return h
}

// serverGUID is the NSPI server's fixed GUID in this capture.
func (c *Capture) serverGUID() UUID {
	if c.srvGUID == (UUID{}) {
		c.srvGUID = c.NewGUID()
	}
	return c.srvGUID
}

// NewGUID returns a pseudo-random GUID.
func (c *Capture) NewGUID() UUID {
	var u UUID
	copy(u[:], c.RandBytes(16))
	return u
}

func (c *Capture) nextIPID(a netip.Addr) uint16 {
	v, ok := c.ipid[a]
	if !ok {
		h := fnv.New32a()
		h.Write(a.AsSlice())
		v = uint16(h.Sum32())
	}
	v++
	c.ipid[a] = v
	return v
}

// emit appends a packet if recording and returns its 1-based frame number
// (0 when not recording). The clock advances by Step.
func (c *Capture) emit(p Packet) int {
	p.TS = c.now
	c.now = c.now.Add(c.Step)
	p.IPID = c.nextIPID(p.Src.Addr())
	if !c.Recording {
		return 0
	}
	c.Packets = append(c.Packets, p)
	return len(c.Packets)
}
