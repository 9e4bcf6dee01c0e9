package capture

import "slices"

// segBlock is the most segments one block of a segList holds.
const segBlock = 64

// segList is one direction's out-of-order segments, sorted by sequence
// number (seqLT; all of them lie within 2^31 after the direction's next
// expected byte, so the order is total). It is a list of sorted blocks of
// at most segBlock segments: finding a segment's place is a binary search
// over the blocks and then within one, and inserting it moves at most a
// block's segments (or, when a full block splits, the block headers), so
// that the cost of a segment does not grow with the number buffered
// (measured: 300,000 one-byte segments in reverse order were each
// inserted at the front of one slice). Segments in order, or in reverse
// order, fill blocks appended at the end, or at the front.
//
// Only the ends are sparse: blocks are made by splitting a full one in two
// halves, or at an end, and lose segments only at the front, so the memory
// per segment stays within twice its size, as a slice grown by append.
type segList struct {
	blocks [][]segment // each sorted and non-empty; in order
	n      int
}

func (l *segList) len() int { return l.n }

// front is the segment with the lowest sequence number; the list must not
// be empty.
func (l *segList) front() *segment { return &l.blocks[0][0] }

// popFront removes the front segment.
func (l *segList) popFront() {
	b := l.blocks[0]
	b[0] = segment{}
	if len(b) == 1 {
		l.blocks[0] = nil
		l.blocks = l.blocks[1:]
	} else {
		l.blocks[0] = b[1:]
	}
	l.n--
	if l.n == 0 {
		l.blocks = nil
	}
}

// find returns where a segment starting at seq goes: block bi, index j,
// after every segment that starts at or before seq. prev is the segment
// before that place (nil when there is none).
func (l *segList) find(seq uint32) (bi, j int, prev *segment) {
	if l.n == 0 {
		return 0, 0, nil
	}
	// The first block whose last segment starts after seq.
	bi, _ = slices.BinarySearchFunc(l.blocks, seq, func(b []segment, seq uint32) int {
		if seqLT(seq, b[len(b)-1].seq) {
			return 1
		}
		return -1
	})
	if bi == len(l.blocks) {
		bi--
		b := l.blocks[bi]
		return bi, len(b), &b[len(b)-1]
	}
	b := l.blocks[bi]
	j, _ = slices.BinarySearchFunc(b, seq, func(g segment, seq uint32) int {
		if seqLT(seq, g.seq) {
			return 1
		}
		return -1
	})
	switch {
	case j > 0:
		prev = &b[j-1]
	case bi > 0:
		// Between two blocks: the end of the previous one is the same
		// place, and may have room.
		bi--
		b = l.blocks[bi]
		j, prev = len(b), &b[len(b)-1]
	}
	return bi, j, prev
}

// insertAt inserts g at the place find returned.
func (l *segList) insertAt(bi, j int, g segment) {
	l.n++
	if len(l.blocks) == 0 {
		l.blocks = append(l.blocks, []segment{g})
		return
	}
	b := l.blocks[bi]
	switch {
	case len(b) < segBlock:
		l.blocks[bi] = slices.Insert(b, j, g)
	case j == len(b) && bi == len(l.blocks)-1:
		l.blocks = append(l.blocks, []segment{g})
	case j == 0 && bi == 0:
		l.blocks = slices.Insert(l.blocks, 0, []segment{g})
	default:
		// Split the full block in two halves.
		half := len(b) / 2
		right := slices.Clone(b[half:])
		clear(b[half:])
		left := b[:half]
		if j <= half {
			left = slices.Insert(left, j, g)
		} else {
			right = slices.Insert(right, j-half, g)
		}
		l.blocks[bi] = left
		l.blocks = slices.Insert(l.blocks, bi+1, right)
	}
}
