package rpch

import "net/netip"

// shape is an RTS PDU of MS-RPCH 2.2.4 by its flags and command types.
type shape struct {
	name  string
	flags uint16
	cmds  []uint32
}

const (
	ver  = CmdVersion
	ck   = CmdCookie
	rws  = CmdReceiveWindowSize
	ct   = CmdConnectionTimeout
	life = CmdChannelLifetime
	ka   = CmdClientKeepalive
	agid = CmdAssociationGroupID
	addr = CmdClientAddress
	dst  = CmdDestination
	ack  = CmdFlowControlAck
)

// shapes lists the PDUs told apart by flags and commands. Several PDUs of
// 2.2.4 share a shape (CONN/C1 and CONN/C2; IN_R1/A1 and IN_R2/A1; the PDUs
// of one successor cookie): the name then lists them, and only the leg and
// the direction tell which it is.
var shapes = []shape{
	{"CONN/A1", 0, []uint32{ver, ck, ck, rws}},
	{"CONN/A2", FlagOutChannel, []uint32{ver, ck, ck, life, rws}},
	{"CONN/A3", 0, []uint32{ct}},
	{"CONN/B1", 0, []uint32{ver, ck, ck, life, ka, agid}},
	{"CONN/B2", FlagInChannel, []uint32{ver, ck, ck, rws, ct, agid, addr}},
	{"CONN/B3", 0, []uint32{rws, ver}},
	{"CONN/C1 or CONN/C2", 0, []uint32{ver, rws, ct}},
	{"IN_R1/A1 or IN_R2/A1", FlagRecycleChannel, []uint32{ver, ck, ck, ck}},
	{"IN_R1/A2", FlagInChannel | FlagRecycleChannel, []uint32{ver, ck, ck, ck, rws, ct}},
	{"IN_R1/A3", 0, []uint32{dst, ver, rws, ct}},
	{"IN_R1/A5, IN_R1/A6, IN_R2/A2, IN_R2/A5 or OUT_R2/A4 (successor cookie)", 0, []uint32{ck}},
	{"IN_R2/A3 or IN_R2/A4", 0, []uint32{dst}},
	{"OUT_R2/A5", 0, []uint32{dst, CmdANCE}},
	{"IN_R1/B1", 0, []uint32{CmdEmpty}},
	{"IN_R1/B2", 0, []uint32{rws}},
	{"OUT_R1/A1, OUT_R1/A2 or OUT_R2/A2", FlagRecycleChannel, []uint32{dst}},
	{"OUT_R1/A3 or OUT_R2/A3", FlagRecycleChannel, []uint32{ver, ck, ck, ck, rws}},
	{"OUT_R1/A4", FlagRecycleChannel | FlagOutChannel, []uint32{ver, ck, ck, ck, life, rws, ct}},
	{"OUT_R2/A7", FlagOutChannel, []uint32{dst, ck, ver}},
	{"OUT_R2/A8", FlagOutChannel, []uint32{dst, ck}},
	{"FlowControlAck", FlagOtherCmd, []uint32{ack}},
	{"FlowControlAckWithDestination", FlagOtherCmd, []uint32{dst, ack}},
	{"ClientKeepalive", FlagOtherCmd, []uint32{ka}},
	{"PingTrafficSentNotify", FlagPing, []uint32{CmdPingTrafficSentNotify}},
	{"Ping", FlagPing, nil},
	{"Echo", FlagEcho, nil},
	{"OUT_R1/A11 (ANCE)", 0, []uint32{CmdANCE}},
	{"NegativeANCE", 0, []uint32{CmdNegativeANCE}},
}

// Name names the PDU of MS-RPCH 2.2.4 that p is, by its flags and command
// types, or returns "" when it is none of those this package knows.
func (p *PDU) Name() string {
next:
	for i := range shapes {
		s := &shapes[i]
		if s.flags != p.Flags || len(s.cmds) != p.N {
			continue
		}
		for j, t := range s.cmds {
			if p.Cmds[j].Type != t {
				continue next
			}
		}
		return s.name
	}
	return ""
}

// Setup is what the first RTS PDU of a channel says about it: the PDUs that
// open a channel (CONN/A1, CONN/A2, CONN/B1, CONN/B2) and those that open a
// successor channel (IN_R1/A1, IN_R1/A2, IN_R2/A1, OUT_R1/A3, OUT_R1/A4,
// OUT_R2/A3) all start with Version, the virtual connection's cookie and the
// channel's cookie; the successor's carry the predecessor's cookie then the
// successor's.
type Setup struct {
	OK bool
	// VC is the virtual connection cookie, Channel the channel's own.
	VC, Channel Cookie
	// Recycle: the channel replaces the channel Predecessor.
	Recycle     bool
	Predecessor Cookie
	// In, Out: the flags name the channel (the inside leg's CONN/B2,
	// IN_R1/A2, CONN/A2 and OUT_R1/A4 have them; on the outside leg the
	// HTTP method names the channel).
	In, Out bool
	// ClientAddress, of CONN/B2: the address of the client behind the
	// proxy.
	ClientAddress netip.Addr
}

// Setup reports what p says of a channel it opens; OK is false when p
// opens none.
func (p *PDU) Setup() Setup {
	var s Setup
	c := p.Commands()
	if len(c) < 3 || c[0].Type != CmdVersion || c[1].Type != CmdCookie || c[2].Type != CmdCookie {
		return s
	}
	s.OK = true
	s.VC, s.Channel = c[1].Cookie, c[2].Cookie
	if len(c) > 3 && c[3].Type == CmdCookie {
		s.Recycle, s.Predecessor, s.Channel = true, c[2].Cookie, c[3].Cookie
	}
	s.In = p.Flags&FlagInChannel != 0
	s.Out = p.Flags&FlagOutChannel != 0
	for _, x := range c {
		if x.Type == CmdClientAddress {
			s.ClientAddress = x.Addr
		}
	}
	return s
}
