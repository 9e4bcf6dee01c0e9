package rpch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// PTypeRTS is the DCE/RPC PTYPE of an RTS PDU (MS-RPCH 2.2.3.6.1).
const PTypeRTS = 20

// HeaderLen is the length of the RTS header: the 16-byte common header,
// Flags and NumberOfCommands.
const HeaderLen = 20

// RTS header flags (MS-RPCH 2.2.3.6.1).
const (
	FlagPing           = 0x0001
	FlagOtherCmd       = 0x0002
	FlagRecycleChannel = 0x0004
	FlagInChannel      = 0x0008
	FlagOutChannel     = 0x0010
	FlagEOF            = 0x0020
	FlagEcho           = 0x0040
)

// RTS command types (MS-RPCH 2.2.3.5).
const (
	CmdReceiveWindowSize     = 0
	CmdFlowControlAck        = 1
	CmdConnectionTimeout     = 2
	CmdCookie                = 3
	CmdChannelLifetime       = 4
	CmdClientKeepalive       = 5
	CmdVersion               = 6
	CmdEmpty                 = 7
	CmdPadding               = 8
	CmdNegativeANCE          = 9
	CmdANCE                  = 10
	CmdClientAddress         = 11
	CmdAssociationGroupID    = 12
	CmdDestination           = 13
	CmdPingTrafficSentNotify = 14
)

var cmdNames = [...]string{"ReceiveWindowSize", "FlowControlAck", "ConnectionTimeout", "Cookie", "ChannelLifetime",
	"ClientKeepalive", "Version", "Empty", "Padding", "NegativeANCE", "ANCE", "ClientAddress", "AssociationGroupId",
	"Destination", "PingTrafficSentNotify"}

// CommandName names a command type.
func CommandName(t uint32) string {
	if int(t) < len(cmdNames) {
		return cmdNames[t]
	}
	return fmt.Sprintf("command_%d", t)
}

// Destination values (MS-RPCH 2.2.3.3).
const (
	FDClient   = 0
	FDInProxy  = 1
	FDServer   = 2
	FDOutProxy = 3
)

// MaxCommands bounds the commands of a PDU this package reads; the PDUs
// of MS-RPCH 2.2.4 have at most 8.
const MaxCommands = 16

// maxPadding bounds the body of a Padding command.
const maxPadding = 0xffff

// Cookie is an RTS cookie (MS-RPCH 2.2.3.1): 16 opaque bytes.
type Cookie [16]byte

// String is the cookie in hex.
func (c Cookie) String() string { return fmt.Sprintf("%x", c[:]) }

// Command is one RTS command. Value holds the u32 body of the commands that
// have one (ReceiveWindowSize, ConnectionTimeout, ChannelLifetime,
// ClientKeepalive, Version, Padding's count, Destination,
// PingTrafficSentNotify, FlowControlAck's BytesReceived); Cookie holds
// the 16 bytes of Cookie, AssociationGroupId and FlowControlAck's
// ChannelCookie; Window is FlowControlAck's AvailableWindow; Addr is
// ClientAddress's address.
type Command struct {
	Type   uint32
	Value  uint32
	Window uint32
	Cookie Cookie
	Addr   netip.Addr
}

// PDU is a parsed RTS PDU.
type PDU struct {
	Flags   uint16
	N       int // commands read, = NumberOfCommands
	Cmds    [MaxCommands]Command
	FragLen int
}

// Commands returns the PDU's commands.
func (p *PDU) Commands() []Command { return p.Cmds[:p.N] }

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed RTS PDU")

func perr(field string, off int, format string, a ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrMalformed, field, off, fmt.Sprintf(format, a...))
}

// IsRTS reports whether b starts with a DCE/RPC header of PTYPE 20.
func IsRTS(b []byte) bool { return len(b) >= 3 && b[0] == 5 && b[2] == PTypeRTS }

// Parse reads the RTS PDU at the start of b; b must hold at least its
// frag_length bytes. Commands past the frag_length or of an unknown type
// are errors.
func Parse(b []byte) (PDU, error) {
	var p PDU
	if len(b) < HeaderLen {
		return p, perr("header", len(b), "%d bytes, an RTS header has %d", len(b), HeaderLen)
	}
	if b[0] != 5 || b[1] != 0 {
		return p, perr("rpc_vers", 0, "version %d.%d, want 5.0", b[0], b[1])
	}
	if b[2] != PTypeRTS {
		return p, perr("ptype", 2, "%d, want %d", b[2], PTypeRTS)
	}
	flen := int(binary.LittleEndian.Uint16(b[8:]))
	if flen < HeaderLen {
		return p, perr("frag_length", 8, "%d, shorter than the RTS header", flen)
	}
	if flen > len(b) {
		return p, perr("frag_length", 8, "%d, only %d bytes", flen, len(b))
	}
	if al := binary.LittleEndian.Uint16(b[10:]); al != 0 {
		return p, perr("auth_length", 10, "%d, an RTS PDU carries no authentication", al)
	}
	p.FragLen = flen
	p.Flags = binary.LittleEndian.Uint16(b[16:])
	n := int(binary.LittleEndian.Uint16(b[18:]))
	if n > MaxCommands {
		return p, perr("NumberOfCommands", 18, "%d, more than %d", n, MaxCommands)
	}
	b = b[:flen]
	off := HeaderLen
	for i := 0; i < n; i++ {
		c, m, err := parseCommand(b, off)
		if err != nil {
			return p, err
		}
		p.Cmds[i] = c
		p.N++
		off += m
	}
	return p, nil
}

// parseCommand reads the command at b[off:] and returns it and its length.
func parseCommand(b []byte, off int) (Command, int, error) {
	var c Command
	if len(b)-off < 4 {
		return c, 0, perr("CommandType", off, "command cut short, %d bytes left", len(b)-off)
	}
	c.Type = binary.LittleEndian.Uint32(b[off:])
	name := CommandName(c.Type)
	body := off + 4
	need := func(n int) error {
		if len(b)-body < n {
			return perr(name, body, "body of %d bytes, %d left", n, len(b)-body)
		}
		return nil
	}
	switch c.Type {
	case CmdReceiveWindowSize, CmdConnectionTimeout, CmdChannelLifetime, CmdClientKeepalive, CmdVersion,
		CmdDestination, CmdPingTrafficSentNotify:
		if err := need(4); err != nil {
			return c, 0, err
		}
		c.Value = binary.LittleEndian.Uint32(b[body:])
		if c.Type == CmdDestination && c.Value > FDOutProxy {
			return c, 0, perr(name, body, "destination %d, want 0 to 3", c.Value)
		}
		return c, 8, nil
	case CmdFlowControlAck:
		if err := need(24); err != nil {
			return c, 0, err
		}
		c.Value = binary.LittleEndian.Uint32(b[body:])
		c.Window = binary.LittleEndian.Uint32(b[body+4:])
		copy(c.Cookie[:], b[body+8:body+24])
		return c, 28, nil
	case CmdCookie, CmdAssociationGroupID:
		if err := need(16); err != nil {
			return c, 0, err
		}
		copy(c.Cookie[:], b[body:body+16])
		return c, 20, nil
	case CmdEmpty, CmdNegativeANCE, CmdANCE:
		return c, 4, nil
	case CmdPadding:
		if err := need(4); err != nil {
			return c, 0, err
		}
		c.Value = binary.LittleEndian.Uint32(b[body:])
		if c.Value > maxPadding || int(c.Value) > len(b)-body-4 {
			return c, 0, perr(name, body, "ConformanceCount %d, %d bytes left", c.Value, len(b)-body-4)
		}
		return c, 8 + int(c.Value), nil
	case CmdClientAddress:
		if err := need(4); err != nil {
			return c, 0, err
		}
		at := binary.LittleEndian.Uint32(b[body:])
		n := 0
		switch at {
		case 0:
			n = 4
		case 1:
			n = 16
		default:
			return c, 0, perr(name, body, "AddressType %d, want 0 (IPv4) or 1 (IPv6)", at)
		}
		if len(b)-body-4 < n+12 {
			return c, 0, perr(name, body+4, "address and padding of %d bytes, %d left", n+12, len(b)-body-4)
		}
		c.Value = at
		if n == 4 {
			c.Addr = netip.AddrFrom4([4]byte(b[body+4 : body+8]))
		} else {
			c.Addr = netip.AddrFrom16([16]byte(b[body+4 : body+20]))
		}
		return c, 8 + n + 12, nil
	}
	return c, 0, perr("CommandType", off, "unknown command type %d", c.Type)
}
