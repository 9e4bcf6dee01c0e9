package capture

import (
	"fmt"
	"strings"
)

// linkDecoded reports whether decodePacket reads frames of link type lt;
// the packets of other link types are counted per interface and said once
// per file (a capture of an unsupported link type used to give "No NSPI
// traffic found" and no word of why).
func linkDecoded(lt uint16) bool {
	switch lt {
	case linkNull, linkEthernet, linkRawDLT12, linkRawDLT14, linkRaw, linkLoop, linkSLL,
		linkIPv4, linkIPv6, linkNFLOG, linkSLL2:
		return true
	}
	return false
}

// maxLinkSkips bounds the interface and link type pairs counted apart; the
// packets of further pairs are counted together.
const maxLinkSkips = 64

// linkSkip counts the packets of one interface and link type that were
// not read.
type linkSkip struct {
	iface int    // the pcapng interface (0 in other formats)
	lt    uint16 // the link type
	media int32  // a NetMon frame's media type (-1: not NetMon's own)
	n     int64
}

// skipLink counts a packet of a link type decodePacket does not read.
func (s *source) skipLink(iface int, lt uint16) {
	media := int32(-1)
	if s.nm != nil && lt == 0xffff {
		m := s.nm.frameMedia
		if m >= 0xFFE0 || m >= 0xE080 && m <= 0xE08A {
			// NetMon's and Message Analyzer's own records (events,
			// filters): frames, but no traffic was left out.
			return
		}
		media = int32(m)
	}
	for i := range s.skipped {
		k := &s.skipped[i]
		if k.iface == iface && k.lt == lt && k.media == media {
			k.n++
			return
		}
	}
	if len(s.skipped) < maxLinkSkips {
		s.skipped = append(s.skipped, linkSkip{iface: iface, lt: lt, media: media, n: 1})
		return
	}
	// The last entry counts all the others.
	k := &s.skipped[maxLinkSkips-1]
	k.iface, k.lt, k.media = -1, 0, -1
	k.n++
}

// summarize gives the warnings that count over the whole file, once, when
// it ends.
func (s *source) summarize() {
	if s.prec != nil {
		if w := s.prec.summary(); w != "" {
			s.warn("%s", w)
		}
	}
	ng := strings.HasPrefix(s.info.Format, "pcapng")
	for _, k := range s.skipped {
		what := plural(k.n, "packet")
		switch {
		case k.iface < 0:
			s.warn("skipped %s of further interfaces and link types nspicap does not read", what)
		case k.media >= 0:
			s.warn("skipped %s of NetMon media type %d%s, which nspicap does not read", what, k.media, netmonMediaName(k.media))
		case ng:
			s.warn("interface %d: skipped %s of link type %d%s, which nspicap does not read", k.iface, what, k.lt, linkName(k.lt))
		default:
			s.warn("skipped %s of link type %d%s, which nspicap does not read", what, k.lt, linkName(k.lt))
		}
	}
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// linkName is " (LINKTYPE_ name)" of the tcpdump link-layer header type
// registry for link types often met, or "".
func linkName(lt uint16) string {
	name, ok := linkNames[lt]
	if !ok {
		if lt >= 147 && lt <= 162 {
			return fmt.Sprintf(" (USER%d)", lt-147)
		}
		return ""
	}
	return " (" + name + ")"
}

var linkNames = map[uint16]string{
	3:   "AX25",
	6:   "IEEE802_5",
	8:   "SLIP",
	9:   "PPP",
	10:  "FDDI",
	50:  "PPP_HDLC",
	51:  "PPP_ETHER",
	100: "ATM_RFC1483",
	104: "C_HDLC",
	105: "IEEE802_11",
	107: "FRELAY",
	117: "PFLOG",
	119: "IEEE802_11_PRISM",
	127: "IEEE802_11_RADIOTAP",
	163: "IEEE802_11_AVS",
	189: "USB_LINUX",
	192: "PPI",
	201: "BLUETOOTH_HCI_H4_WITH_PHDR",
	220: "USB_LINUX_MMAPPED",
	227: "CAN_SOCKETCAN",
	249: "USBPCAP",
	252: "WIRESHARK_UPPER_PDU",
	253: "NETLINK",
}

// netmonMediaName names the NetMon media types of networks other than
// Ethernet and IP, as Wireshark's netmon.c lists them.
func netmonMediaName(m int32) string {
	switch m {
	case 2:
		return " (Token Ring)"
	case 3:
		return " (FDDI)"
	case 4:
		return " (ATM)"
	case 5:
		return " (IEEE 1394)"
	case 6:
		return " (IEEE 802.11)"
	}
	return ""
}
