package evidence

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nspicap/nspicap/internal/capture"
)

// Result says what Write wrote.
type Result struct {
	// Frames counts the packets written, Handshakes those among them that
	// are TCP handshakes of the connections of the cited frames.
	Frames     int
	Handshakes int
	// Missing counts the chosen frames that were not in their file (it
	// ended before them).
	Missing int
}

// connKey is a TCP connection, its two ends in a fixed order.
type connKey struct{ a, b netip.AddrPort }

func keyOf(f *capture.Frame) connKey {
	a, b := f.Src, f.Dst
	if b.Addr().Less(a.Addr()) || b.Addr() == a.Addr() && b.Port() < a.Port() {
		a, b = b, a
	}
	return connKey{a, b}
}

// conn is what the passes learn of one connection of chosen frames.
type conn struct {
	first int64 // the first chosen frame on it
	tags  []tag
	hs    [3]int64 // the last SYN, SYN/ACK and ACK before first
}

// Write reads each input that holds chosen frames (three passes: the
// connections of the chosen frames, their handshakes, the copy) and writes
// them to w as one pcapng file, in input and frame order, with their
// original timestamps and link types, each with a comment naming its
// findings, their severity and the original file and frame.
func (p *Plan) Write(w io.Writer) (Result, error) {
	var res Result
	nw := newNGWriter(w)
	for in, path := range p.files {
		if p.index[path] != in {
			continue // the same file given twice
		}
		want := map[int64][]tag{}
		for k, t := range p.frames {
			if k.input == in {
				want[k.frame] = t
			}
		}
		if len(want) == 0 {
			continue
		}
		conns := map[connKey]*conn{}
		found := 0
		err := capture.ReadFrames(path, func(f *capture.Frame) error {
			t, ok := want[f.Number]
			if !ok {
				return nil
			}
			found++
			if !f.TCP {
				return nil
			}
			c := conns[keyOf(f)]
			if c == nil {
				c = &conn{first: f.Number}
				conns[keyOf(f)] = c
			}
			for _, x := range t {
				x.role = ""
				if !slices.Contains(c.tags, x) {
					c.tags = append(c.tags, x)
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Missing += len(want) - found
		if len(conns) > 0 {
			err = capture.ReadFrames(path, func(f *capture.Frame) error {
				if !f.TCP {
					return nil
				}
				c := conns[keyOf(f)]
				if c == nil || f.Number >= c.first {
					return nil
				}
				syn, ack := f.Flags&capture.TCPFlagSYN != 0, f.Flags&capture.TCPFlagACK != 0
				switch {
				case syn && !ack:
					c.hs = [3]int64{f.Number}
				case syn && ack:
					c.hs[1], c.hs[2] = f.Number, 0
				case ack && f.Flags&(capture.TCPFlagFIN|capture.TCPFlagRST) == 0 && c.hs[1] != 0 && c.hs[2] == 0:
					c.hs[2] = f.Number
				}
				return nil
			})
			if err != nil {
				return res, err
			}
		}
		hs := map[int64][]tag{}
		for _, c := range conns {
			for _, n := range c.hs {
				if n != 0 {
					if _, cited := want[n]; !cited {
						hs[n] = append(hs[n], c.tags...)
					}
				}
			}
		}
		err = capture.ReadFrames(path, func(f *capture.Frame) error {
			t, ok := want[f.Number]
			h, isHS := hs[f.Number]
			if !ok && !isHS {
				return nil
			}
			var c string
			if ok {
				c = comment(t, "", path, f.Number)
			} else {
				c = comment(h, "TCP handshake of the connection", path, f.Number)
				res.Handshakes++
			}
			nw.packet(in, f.LinkType, f.Time, f.Length, f.Data, c)
			res.Frames++
			return nw.err
		})
		if err != nil {
			return res, err
		}
	}
	return res, nw.flush()
}

// comment is a packet's opt_comment: "nspicap: leak (error), session_limit
// (error): NspiBind; leak.pcap frame 12".
func comment(tags []tag, role, file string, frame int64) string {
	var kinds, roles []string
	for _, t := range tags {
		k := fmt.Sprintf("%s (%s)", t.kind, t.severity)
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
		if t.role != "" && !slices.Contains(roles, t.role) {
			roles = append(roles, t.role)
		}
	}
	if role != "" {
		roles = []string{role}
	}
	s := "nspicap: " + strings.Join(kinds, ", ")
	if len(roles) > 0 {
		s += ": " + strings.Join(roles, ", ")
	}
	s += fmt.Sprintf("; original %s frame %d", file, frame)
	if len(s) > maxComment {
		s = s[:maxComment]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
