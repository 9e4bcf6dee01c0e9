package synth

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FragmentOptions shape FragmentIPv4.
type FragmentOptions struct {
	// MinPayload: IPv4 packets carrying TCP with more IP payload than this
	// (TCP header included) are fragmented.
	MinPayload int
	// Pieces is the number of fragments per packet (at least 2).
	Pieces int
	// Drop, when k > 0, leaves out a fragment of the k-th packet
	// fragmented: that datagram never completes.
	Drop int
}

// FragmentIPv4 rewrites a pcap file of untagged Ethernet frames as a VPN or a
// small MTU on the path would have fragmented it: each IPv4 packet carrying
// TCP with more than o.MinPayload bytes of IP payload becomes o.Pieces
// fragments (8-byte multiples, RFC 791 section 3.2), all with the packet's
// timestamp, written out of order with a duplicate: the last fragment, a
// copy of it, then the first, then the middle ones in order. Other records
// are copied as they are.
//
// It returns the new file and, for each frame of the original (index 0 is
// frame 1), the frame of the new file at which that packet is complete: its
// own frame, or the fragment that completes its datagram (the frame tshark
// names in "Reassembled IPv4 in frame N").
func FragmentIPv4(pcap []byte, o FragmentOptions) ([]byte, []int64, error) {
	if o.Pieces < 2 {
		o.Pieces = 2
	}
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		return nil, nil, err
	}
	var frames []int64
	n, fragmented := int64(0), 0
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		frags := ipv4Fragments(data, o)
		if frags == nil || r.LinkType() != layers.LinkTypeEthernet {
			n++
			frames = append(frames, n)
			if err := w.WritePacket(ci, data); err != nil {
				return nil, nil, err
			}
			continue
		}
		fragmented++
		last := len(frags) - 1
		order := []int{last, last, 0}
		for i := 1; i < last; i++ {
			order = append(order, i)
		}
		if fragmented == o.Drop {
			order = order[:len(order)-1] // the middle one (or the first, with 2 pieces)
		}
		for _, i := range order {
			n++
			c := ci
			c.CaptureLength, c.Length = len(frags[i]), len(frags[i])
			if err := w.WritePacket(c, frags[i]); err != nil {
				return nil, nil, err
			}
		}
		frames = append(frames, n)
	}
	return out.Bytes(), frames, nil
}

// ipv4Fragments splits an Ethernet frame holding IPv4 and TCP, or returns
// nil.
func ipv4Fragments(frame []byte, o FragmentOptions) [][]byte {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return nil
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ip[9] != 6 || ihl < 20 || total > len(ip) || total < ihl ||
		binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return nil
	}
	payload := ip[ihl:total]
	if len(payload) <= o.MinPayload || len(payload) < 8*o.Pieces {
		return nil
	}
	size := (len(payload)/o.Pieces + 7) &^ 7
	var out [][]byte
	for lo := 0; lo < len(payload); lo += size {
		hi := min(lo+size, len(payload))
		f := make([]byte, 0, 14+ihl+hi-lo)
		f = append(f, frame[:14]...)
		f = append(f, ip[:ihl]...)
		h := f[14:]
		binary.BigEndian.PutUint16(h[2:4], uint16(ihl+hi-lo))
		ff := uint16(lo / 8)
		if hi < len(payload) {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:8], binary.BigEndian.Uint16(ip[6:8])&0x4000|ff)
		binary.BigEndian.PutUint16(h[10:12], 0)
		binary.BigEndian.PutUint16(h[10:12], ipChecksum(h[:ihl]))
		out = append(out, append(f, payload[lo:hi]...))
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
