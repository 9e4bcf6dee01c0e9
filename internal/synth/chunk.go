package synth

import (
	"slices"
	"strconv"
)

// Chunked transfer coding (RFC 9112 7.1) on the outside leg of RPC over
// HTTP: each send is written as chunks whose sizes do not follow the PDUs
// (chunkSizes), some with a chunk extension, in TCP segments cut inside
// chunk-size lines and between the CR and LF that end chunk data.

// chunkSizes are the sizes of successive chunks (the last chunk of a send
// holds what is left).
var chunkSizes = []int{3, 17, 64, 9, 250, 1, 40, 123}

// sendChunked writes prefix (an HTTP head, or nothing) then data as chunks
// on d of cn, and returns the stream range from the first to the last byte
// of data (so that CompleteFrame is the frame that completes the data).
func (v *HTTPVC) sendChunked(cn *Conn, d Dir, prefix, data []byte) (start, end uint64) {
	enc := append([]byte(nil), prefix...)
	var cuts []int
	first, last := -1, 0
	for off := 0; off < len(data); {
		n := min(chunkSizes[v.nChunk%len(chunkSizes)], len(data)-off)
		v.nChunk++
		line := strconv.FormatInt(int64(n), 16)
		if v.nChunk%4 == 1 {
			line += ";seq=" + strconv.Itoa(v.nChunk) // an extension, to be skipped
		}
		if v.nChunk%2 == 0 {
			cuts = append(cuts, len(enc)+1) // inside the chunk-size line
		}
		enc = append(enc, line+"\r\n"...)
		if first < 0 {
			first = len(enc)
		}
		enc = append(enc, data[off:off+n]...)
		last = len(enc)
		if v.nChunk%3 == 0 {
			cuts = append(cuts, len(enc)+1) // between CR and LF
		}
		enc = append(enc, "\r\n"...)
		off += n
	}
	s, _ := cn.SendPlan(d, enc, planCuts(len(enc), cuts, cn.MSS))
	return s + uint64(first), s + uint64(last)
}

// EndChunked writes the last chunk, with a chunk extension and a trailer
// field, of the chunked body that d carries: the end of the RPC_IN_DATA
// body (C2S) or of the RPC_OUT_DATA response (S2C).
func (v *HTTPVC) EndChunked(d Dir) {
	cn := v.In
	if d == S2C {
		cn = v.Out
	}
	cn.Send(d, []byte("0;end=1\r\nX-Channel-End: recycled\r\n\r\n"))
}

// planCuts segments n bytes at the offsets cuts (and every mss bytes).
func planCuts(n int, cuts []int, mss int) []Seg {
	cuts = append(slices.Clone(cuts), n)
	slices.Sort(cuts)
	var p []Seg
	from := 0
	for _, c := range cuts {
		for from < c && c <= n {
			l := min(c-from, mss)
			p = append(p, Seg{Off: from, Len: l})
			from += l
		}
	}
	return p
}
