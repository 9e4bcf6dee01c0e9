package capture

import (
	"net/netip"
	"time"
)

// Frame is one record of a capture file as stored, for tools that copy
// records (the evidence file) rather than reassemble them.
type Frame struct {
	// Number is the 1-based record number in its file (Wireshark's frame
	// number, the Frame of a FrameRef).
	Number int64
	// LinkType is the LINKTYPE_* value of the record's interface (0xffff
	// when a pcapng record's interface is unknown).
	LinkType uint16
	// Interface is the pcapng interface index (0 for other formats).
	Interface int
	// Time is the record's timestamp, Length its length on the wire.
	Time   time.Time
	Length int
	// Data is the record's bytes as captured; it is valid until the
	// callback returns.
	Data []byte
	// TCP says that the record holds a TCP segment (not a non-first IP
	// fragment); Src, Dst and Flags are then set, and Payload is the
	// number of TCP payload bytes captured.
	TCP      bool
	Src, Dst netip.AddrPort
	Flags    uint8
	Payload  int
}

// TCP flags of Frame.Flags (RFC 9293 section 3.1).
const (
	TCPFlagFIN = flagFIN
	TCPFlagSYN = flagSYN
	TCPFlagRST = flagRST
	TCPFlagACK = flagACK
)

// ReadFrames reads the capture file path (pcap, pcapng, NetMon, gzip
// compressed or not; not standard input) with the readers Run uses and calls
// f for each record, in file order, with the frame numbers Run gives. It
// stops at f's first error and returns it, or the *FileError that kept the
// file from being opened. Problems part way (a truncated record) end the
// reading as Run's warnings do; they are not returned.
func ReadFrames(path string, f func(*Frame) error) error {
	if path == "-" {
		return &FileError{"stdin", "standard input cannot be read a second time"}
	}
	var info InputInfo
	s, err := openSource(0, path, nil, nil, &info)
	if err != nil {
		return err
	}
	defer s.close()
	var fr Frame
	var p tcpPacket
	for {
		var more bool
		if err := safeCall(func() error { more = s.next(); return nil }); err != nil {
			return &FileError{path, lowerErr(err)}
		}
		if !more {
			break
		}
		fr = Frame{Number: s.frame, LinkType: s.lt, Interface: s.ci.InterfaceIndex, Time: s.ci.Timestamp,
			Length: s.ci.Length, Data: s.data}
		if fr.Length < len(s.data) {
			fr.Length = len(s.data)
		}
		p = tcpPacket{}
		if decodePacket(s.lt, s.data, max(0, s.ci.Length-len(s.data)), &p) == decTCP {
			fr.TCP, fr.Src, fr.Dst, fr.Flags, fr.Payload = true, p.src, p.dst, p.flags, len(p.payload)
		}
		if err := f(&fr); err != nil {
			return err
		}
	}
	return nil
}
