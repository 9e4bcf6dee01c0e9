package main

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/nspicap/nspicap/internal/capture"
)

// chunk is one TCP payload of a template conversation.
type chunk struct {
	dir  capture.Dir
	data []byte
}

// conversation is the payload exchange of one TCP connection, taken from a
// generated sample capture, replayed many times with other addresses.
type conversation struct {
	name    string
	chunks  []chunk
	handles [][]byte // NSPI handles in it, patched per replay
}

type recorder struct {
	conv *conversation
	last capture.Dir
}

func (r *recorder) Data(dir capture.Dir, pos capture.Pos, b []byte) bool {
	n := len(r.conv.chunks)
	if n > 0 && r.last == dir {
		r.conv.chunks[n-1].data = append(r.conv.chunks[n-1].data, b...)
	} else {
		r.conv.chunks = append(r.conv.chunks, chunk{dir: dir, data: append([]byte(nil), b...)})
	}
	r.last = dir
	return true
}
func (r *recorder) Gap(capture.Dir, capture.Pos, int) {}
func (r *recorder) End(capture.Pos, capture.EndKind)  {}

// loadConversations reads the connections of a sample capture.
func loadConversations(testdata, file string) ([]*conversation, error) {
	var convs []*conversation
	infos, _ := capture.Run([]string{filepath.Join(testdata, file)}, capture.Options{Factory: func(ci capture.ConnInfo) capture.StreamHandler {
		c := &conversation{name: fmt.Sprintf("%s#%d", file, ci.ID)}
		convs = append(convs, c)
		return &recorder{conv: c}
	}})
	if infos[0].Err != nil {
		return nil, infos[0].Err
	}
	return convs, nil
}

// findHandles returns the NSPI handles a conversation's NspiBind responses
// carry: 20 bytes starting with 4 zero bytes after the 20-byte server GUID
// of an NspiBind response stub (notes §2.2); it is enough for the sample
// captures, whose handles are unique random bytes.
func findHandles(c *conversation, known [][]byte) [][]byte {
	var out [][]byte
	for _, h := range known {
		for _, ch := range c.chunks {
			if bytes.Contains(ch.data, h) {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

// replay returns the conversation's chunks with each handle replaced by a
// unique one derived from seq, so that every replay is its own session.
func (c *conversation) replay(seq uint64, buf [][]byte) [][]byte {
	buf = buf[:0]
	for _, ch := range c.chunks {
		d := ch.data
		if len(c.handles) > 0 {
			d = append([]byte(nil), d...)
			for i, h := range c.handles {
				nh := make([]byte, 20)
				copy(nh, h)
				nh[4] ^= byte(seq)
				nh[5] ^= byte(seq >> 8)
				nh[6] ^= byte(seq >> 16)
				nh[7] ^= byte(seq >> 24)
				nh[8] ^= byte(seq>>32) + byte(i)
				d = bytes.ReplaceAll(d, h, nh)
			}
		}
		buf = append(buf, d)
	}
	return buf
}
