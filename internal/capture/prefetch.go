package capture

import (
	"time"
)

// Reading and decompressing a file runs in a goroutine of its own, one per
// input, ahead of the reassembly: the two use both cores of a small machine.
// Packets travel in batches whose bytes are copied into one slab, so a batch
// is valid until the consumer hands it back.

const (
	batchPackets = 512
	batchBytes   = 256 << 10
	// batchesAhead is how far each open input's reader runs ahead of the
	// reassembly, in batches. Every input gets them all: a ring of files
	// is read one file after the other, and a reader one batch ahead
	// waits on the consumer at every batch (a ring of 10 took 0.84 s with
	// a tenth of them each, 0.64 s with all). At most maxOpenInputs are
	// open, so reading holds at most 4 x (4+2) batches.
	batchesAhead = 4
)

type pkt struct {
	off, n  int // the packet's bytes in the batch slab
	ts      time.Time
	capLen  int
	wireLen int
	lt      uint16
	frame   int64
}

type batch struct {
	pkts []pkt
	buf  []byte
}

// cursor is the consumer's view of one source: its current packet.
type cursor struct {
	index int
	ch    chan *batch
	free  chan *batch
	cur   *batch
	i     int
	done  chan struct{}
}

// prefetch starts reading s in a goroutine and returns its cursor. The
// source (and its InputInfo) must not be touched by anyone else until the
// cursor reports the end.
func prefetch(s *source, ahead int) *cursor {
	// At most ahead+2 batches circulate (ahead in ch, one read from, one
	// being filled): the free list never needs more.
	c := &cursor{index: s.index, ch: make(chan *batch, ahead), free: make(chan *batch, ahead+2), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.ch)
		var b *batch
		defer func() {
			// The reader library panicked: what was read is kept, the
			// input ends with a warning.
			if p := recover(); p != nil {
				s.readFailed(p)
				if b != nil && len(b.pkts) > 0 {
					c.ch <- b
				}
			}
		}()
		for {
			b = nil
			select {
			case b = <-c.free:
				b.pkts, b.buf = b.pkts[:0], b.buf[:0]
			default:
				b = &batch{pkts: make([]pkt, 0, batchPackets), buf: make([]byte, 0, batchBytes+65536)}
			}
			for len(b.pkts) < batchPackets && len(b.buf) < batchBytes {
				if !s.next() {
					if len(b.pkts) > 0 {
						c.ch <- b
					}
					return
				}
				off := len(b.buf)
				b.buf = append(b.buf, s.data...)
				b.pkts = append(b.pkts, pkt{off: off, n: len(s.data), ts: s.ci.Timestamp, capLen: s.ci.CaptureLength,
					wireLen: s.ci.Length, lt: s.lt, frame: s.frame})
			}
			c.ch <- b
		}
	}()
	return c
}

// next moves to the next packet; it returns false at the end of the source.
func (c *cursor) next() bool {
	if c.cur != nil {
		c.i++
		if c.i < len(c.cur.pkts) {
			return true
		}
		select {
		case c.free <- c.cur:
		default:
		}
		c.cur = nil
	}
	b, ok := <-c.ch
	if !ok {
		return false
	}
	c.cur, c.i = b, 0
	return true
}

func (c *cursor) pkt() *pkt     { return &c.cur.pkts[c.i] }
func (c *cursor) data() []byte  { p := c.pkt(); return c.cur.buf[p.off : p.off+p.n] }
func (c *cursor) ts() time.Time { return c.cur.pkts[c.i].ts }

// wait blocks until the source's goroutine has finished.
func (c *cursor) wait() { <-c.done }
