package capture

import (
	"net/netip"
	"time"
)

// Dir is the direction of bytes on a TCP connection.
type Dir uint8

const (
	// ClientToServer is the direction from ConnInfo.Client to ConnInfo.Server.
	ClientToServer Dir = 0
	// ServerToClient is the direction from ConnInfo.Server to ConnInfo.Client.
	ServerToClient Dir = 1
)

// Pos says where bytes came from: the input file (index into the inputs as
// given on the command line), the 1-based frame number within that file (as
// Wireshark numbers it) and the capture time of that frame.
type Pos struct {
	File  int
	Frame int64
	Time  time.Time
}

// EndKind says how a connection ended.
type EndKind uint8

const (
	// EndFIN: both sides (or one side, and then the capture ended) sent FIN.
	EndFIN EndKind = iota + 1
	// EndRST: a reset was seen.
	EndRST
	// EndOfCapture: the capture ended with the connection still open.
	EndOfCapture
	// EndEvicted: the connection was dropped because of a tracking limit
	// (Options.MaxConns), or because a SYN with a new initial sequence
	// number started another connection on the same 4-tuple before this
	// one was seen to end.
	EndEvicted
)

func (k EndKind) String() string {
	switch k {
	case EndFIN:
		return "fin"
	case EndRST:
		return "rst"
	case EndOfCapture:
		return "end_of_capture"
	case EndEvicted:
		return "evicted"
	}
	return "unknown"
}

// ConnInfo describes a TCP connection when it is first seen.
type ConnInfo struct {
	// ID numbers connections in the order they were first seen, from 1.
	ID uint64
	// Client and Server: taken from the SYN when it is in the capture;
	// otherwise guessed (the side with the higher, ephemeral-looking port is
	// the client). Layers above may know better and swap them.
	Client, Server netip.AddrPort
	// SawSYN reports whether the roles come from the handshake.
	SawSYN bool
	// First is the first packet of the connection in the capture.
	First Pos
}

// StreamHandler receives the reassembled bytes of one TCP connection, in
// order, per direction. Slices passed to Data are borrowed: they are valid
// only during the call.
type StreamHandler interface {
	// Data delivers in-order bytes of one direction; pos is the packet that
	// carried their first byte. It returns false when the handler wants no
	// more bytes of this connection (it is not DCE/RPC): the capture layer
	// then drops the connection's packets after one lookup, and calls End
	// no more.
	Data(dir Dir, pos Pos, b []byte) bool
	// Gap says that n bytes of dir were not captured before the next Data
	// (n < 0 when the size is unknown). pos is the packet at which the loss
	// was noticed.
	Gap(dir Dir, pos Pos, n int)
	// End is called once when the connection ends: FIN, RST, end of
	// capture, or eviction. pos is the packet that ended it (for end of
	// capture, the last packet of the connection).
	End(pos Pos, how EndKind)
}

// Cutter is implemented by a StreamHandler that tells bytes the snap length
// cut (the packet's captured length is below its length on the wire) from
// bytes lost: such bytes are reported with Cut instead of Gap. The handler
// is asked once per cut packet, never for whole ones.
type Cutter interface {
	// Cut says that the snap length cut the last n bytes of the segment
	// whose captured bytes Data just delivered (n > 0); pos is its packet.
	Cut(dir Dir, pos Pos, n int)
}

// Factory makes the handler for a new connection. It is called on the first
// SYN or data-carrying packet of the connection (so a connection with no
// payload still gets a handler and an End), before any other call for it. It
// may return nil to ignore the connection entirely.
type Factory func(c ConnInfo) StreamHandler

// DatagramHandler receives the UDP datagrams to or from port 88 (Kerberos,
// RFC 4120 7.2.1), in capture order. Other UDP traffic is not decoded past
// its IP header. A datagram that came in IP fragments is not reassembled
// (Kerberos clients switch to TCP for messages that do not fit one, on
// KRB_ERR_RESPONSE_TOO_BIG).
type DatagramHandler interface {
	// Datagram delivers one datagram's payload, borrowed for the call.
	// cut is the number of its bytes the snap length cut (0 when whole).
	Datagram(src, dst netip.AddrPort, pos Pos, b []byte, cut int)
}
