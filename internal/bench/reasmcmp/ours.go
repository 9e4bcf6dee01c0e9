package main

import (
	"github.com/nspicap/nspicap/internal/capture"
)

// runOurs reads the files with internal/capture (reading goroutine, hand
// decoding, hand reassembly) and hands every connection's bytes to col.
// opts.Factory is replaced.
func runOurs(paths []string, col *collector, opts capture.Options) ([]capture.InputInfo, capture.Stats) {
	opts.Factory = func(ci capture.ConnInfo) capture.StreamHandler {
		col.conns++
		return &ourConn{col: col, dirs: [2]*stream{
			col.open(dirKey{ci.Client, ci.Server}),
			col.open(dirKey{ci.Server, ci.Client}),
		}}
	}
	infos, st := capture.Run(paths, opts)
	col.finish()
	return infos, st
}

// ourConn is the StreamHandler of one connection.
type ourConn struct {
	col  *collector
	dirs [2]*stream // by capture.Dir
}

func (h *ourConn) Data(d capture.Dir, pos capture.Pos, b []byte) bool {
	h.col.data(h.dirs[d], b, pos.Frame)
	return true
}

func (h *ourConn) Gap(d capture.Dir, pos capture.Pos, n int) { h.col.hole(h.dirs[d], int64(n)) }

func (h *ourConn) End(pos capture.Pos, how capture.EndKind) {
	h.col.end(h.dirs[0])
	h.col.end(h.dirs[1])
}
