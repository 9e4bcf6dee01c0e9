package analyze

import (
	"net/netip"
	"time"
)

// maxPending bounds the points a leak series holds back (see leakSeries),
// and maxPendingAll those of all series together.
var (
	maxPending    = 4096
	maxPendingAll = 1 << 18
)

// A leak series follows, for one (server, user) or, for anonymous sessions,
// one (server, client IP) (sessions authenticated by an unknown user, as
// when the snap length cut the user's name, follow the user ""), the number of sessions never unbound that are
// held: +1 at the bind of each such session, -1 when its connections close
// (doc.go, "Leaks"). Whether a session is never unbound is known only when
// it ends, so the value at a point of the series is final only once every
// session bound before that point has ended. The series therefore folds
// points into running least-squares sums (lsums) in capture order as soon as
// they are final, and holds back the others (buf): those at or after the
// bind of the oldest session still open. What it keeps is bounded by the
// sessions open in the group plus maxPending points.
//
// When more than maxPending points are held back (a session stays open
// while thousands of others come and go), or more than maxPendingAll in all
// series of the Analyzer, the series switches to summaries:
// each open session carries a segment that sums the points between its bind
// and the next open session's bind, with the values relative to the start
// of the segment, so that the bind of a session that turns out never
// unbound shifts all that follows without touching it. The sums are then
// the same up to floating-point rounding (they are added in another order);
// the series goes back to exact points once no session of the group is
// open.
type leakSeries struct {
	server netip.Addr
	ukey   string
	client peer // anonymous series: the client
	// cut: some of its sessions were bound by a user whose name the
	// capture's snap length cut (Identity.Cut).
	cut bool

	tref   time.Time // x origin of segments: the first bind of the group
	hasRef bool

	closed   int   // sessions never unbound that ended with their connections
	inferred int   // of those, sessions whose bind outcome was inferred
	ev       evAcc // their binds
	cl       clientTrack

	// The open sessions of the group in bind order.
	head, tail *sess
	nOpen      int

	fin   lsums   // the final points
	buf   []point // held back points (exact mode), sorted by seq, from bufAt
	bufAt int
	over  bool // summary mode
	all   *int // points held back by all the series of the Analyzer
}

// anon reports whether the series follows the anonymous sessions of a
// client.
func (l *leakSeries) anon() bool { return l.client.IsValid() }

type point struct {
	seq int
	t   time.Time
	d   int
}

// lsums are the least-squares sums of the final points: x in hours since
// the first point t0, y the number held after the point.
type lsums struct {
	started bool
	t0      time.Time
	y, peak int
	n       int
	sx, sy  float64
	sxx     float64
	sxy     float64
	lastX   float64 // x of the last point: the hours the series spans
}

// fold adds the next point in capture order, as slope did over the whole
// series.
func (f *lsums) fold(p point) {
	if !f.started {
		f.started, f.t0 = true, p.t
	}
	f.y += p.d
	f.peak = max(f.peak, f.y)
	x := p.t.Sub(f.t0).Hours()
	y := float64(f.y)
	f.lastX = x
	f.n++
	f.sx += x
	f.sy += y
	f.sxx += x * x
	f.sxy += x * y
}

// foldSeg adds a segment whose points all follow those already folded.
func (f *lsums) foldSeg(s *segment, tref time.Time) {
	if s.n == 0 {
		return
	}
	if !f.started {
		f.started, f.t0 = true, s.firstT
	}
	d := tref.Sub(f.t0).Hours() // x = x(segment) + d
	n := float64(s.n)
	base := float64(f.y)
	sx := s.sx + n*d
	f.sxx += s.sxx + 2*d*s.sx + n*d*d
	f.sxy += s.sxyRel + d*s.syRel + base*sx
	f.sy += s.syRel + n*base
	f.sx += sx
	f.lastX = s.lastX + d
	f.n += s.n
	f.peak = max(f.peak, f.y+s.maxRel)
	f.y += s.sumD
}

// slope is the least-squares slope of y over x; 0 when x does not vary.
func (f *lsums) slope() float64 {
	n := float64(f.n)
	if n < 2 {
		return 0
	}
	den := n*f.sxx - f.sx*f.sx
	if den <= 1e-12 {
		return 0
	}
	return (n*f.sxy - f.sx*f.sy) / den
}

// segment sums consecutive points: x in hours since the series' tref, y
// relative to the value before the first point.
type segment struct {
	n      int
	sumD   int
	sx     float64
	sxx    float64
	syRel  float64
	sxyRel float64
	maxRel int
	lastX  float64 // x of the last point
	firstT time.Time
}

func pointSeg(x float64, p point) segment {
	return segment{n: 1, sumD: p.d, sx: x, sxx: x * x, syRel: float64(p.d), sxyRel: x * float64(p.d), maxRel: p.d, lastX: x, firstT: p.t}
}

// then appends b's points after a's.
func (a *segment) then(b *segment) {
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		a.firstT = b.firstT
		a.maxRel = a.sumD + b.maxRel
	} else {
		a.maxRel = max(a.maxRel, a.sumD+b.maxRel)
	}
	shift := float64(a.sumD)
	a.syRel += b.syRel + float64(b.n)*shift
	a.sxyRel += b.sxyRel + shift*b.sx
	a.sx += b.sx
	a.sxx += b.sxx
	a.lastX = b.lastX
	a.n += b.n
	a.sumD += b.sumD
}

func (l *leakSeries) x(t time.Time) float64 { return t.Sub(l.tref).Hours() }

// opened follows a session bound in the group (in capture order).
func (l *leakSeries) opened(s *sess) {
	if !l.hasRef {
		l.hasRef, l.tref = true, s.bindT
	}
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.nOpen++
	if l.over {
		s.seg = &segment{}
	}
}

func (l *leakSeries) unlink(s *sess) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
	l.nOpen--
}

// ended follows the end of an open session of the group: never says it was
// not unbound (its connections closed); seq and t are those of the end.
func (l *leakSeries) ended(s *sess, never bool, seq int, t time.Time) {
	prev := s.prev
	l.unlink(s)
	bind := point{s.seq, s.bindT, +1}
	end := point{seq, t, -1}
	if never {
		l.closed++
		l.ev.add(evidence{s.seq, s.bindFrame, s.q, s.tr.set()})
		l.cl.add(s.cg.client)
		if s.inferred {
			l.inferred++
		}
	}
	if l.over {
		var seg segment
		if never {
			seg = pointSeg(l.x(bind.t), bind)
		}
		seg.then(s.seg)
		s.seg = nil
		if prev != nil {
			prev.seg.then(&seg)
		} else {
			l.fin.foldSeg(&seg, l.tref)
		}
		if never {
			e := pointSeg(l.x(end.t), end)
			if l.tail != nil {
				l.tail.seg.then(&e)
			} else {
				l.fin.foldSeg(&e, l.tref)
			}
		}
		if l.head == nil {
			l.over = false
		}
		return
	}
	before := len(l.buf) - l.bufAt
	if never {
		// The bind goes after the points of its seq already held (the end of
		// a session it replaced), the end after everything.
		pts := l.buf[l.bufAt:]
		i, j := 0, len(pts)
		for i < j {
			h := int(uint(i+j) >> 1)
			if pts[h].seq <= bind.seq {
				i = h + 1
			} else {
				j = h
			}
		}
		i += l.bufAt
		l.buf = append(l.buf, point{})
		copy(l.buf[i+1:], l.buf[i:])
		l.buf[i] = bind
		l.buf = append(l.buf, end)
	}
	l.settle(before)
}

// settle folds the points that are final and bounds what is held back;
// before is the number held back before the change.
func (l *leakSeries) settle(before int) {
	for l.bufAt < len(l.buf) && (l.head == nil || l.buf[l.bufAt].seq < l.head.seq) {
		l.fin.fold(l.buf[l.bufAt])
		l.buf[l.bufAt] = point{}
		l.bufAt++
	}
	switch {
	case l.bufAt == len(l.buf):
		l.buf, l.bufAt = l.buf[:0], 0
		if cap(l.buf) > 64 {
			l.buf = nil
		}
	case l.bufAt >= 64 && l.bufAt*2 >= len(l.buf):
		n := copy(l.buf, l.buf[l.bufAt:])
		clear(l.buf[n:])
		l.buf, l.bufAt = l.buf[:n], 0
	}
	n := len(l.buf) - l.bufAt
	*l.all += n - before
	if n > maxPending || (n > 0 && *l.all > maxPendingAll) {
		*l.all -= n
		l.summarize()
	}
}

// release gives back the points the series holds back, when it is dropped
// with sessions still open (retire.go).
func (l *leakSeries) release() {
	if l == nil {
		return
	}
	*l.all -= len(l.buf) - l.bufAt
	l.buf, l.bufAt = nil, 0
}

// summarize switches to segments (see leakSeries).
func (l *leakSeries) summarize() {
	pts := l.buf[l.bufAt:]
	i := 0
	for ; i < len(pts) && pts[i].seq <= l.head.seq; i++ {
		l.fin.fold(pts[i])
	}
	for s := l.head; s != nil; s = s.next {
		seg := &segment{}
		for ; i < len(pts) && (s.next == nil || pts[i].seq <= s.next.seq); i++ {
			p := pointSeg(l.x(pts[i].t), pts[i])
			seg.then(&p)
		}
		s.seg = seg
	}
	l.buf, l.bufAt, l.over = nil, 0, true
}

// leakResult is what a leak finding says about a series at the end of the
// capture: the sessions still open are never unbound.
type leakResult struct {
	never, open, closed, peak int
	inferred                  int // sessions never unbound whose bind was inferred
	rate                      float64
	span                      time.Duration // from the series' first point to its last
	ev                        evAcc
	client                    peer
}

// result does not change the series.
func (l *leakSeries) result() leakResult {
	fin := l.fin
	ev := l.ev.clone()
	cl := l.cl
	if l.over {
		for s := l.head; s != nil; s = s.next {
			seg := pointSeg(l.x(s.bindT), point{s.seq, s.bindT, +1})
			seg.then(s.seg)
			fin.foldSeg(&seg, l.tref)
		}
	} else {
		pts := l.buf[l.bufAt:]
		i := 0
		for s := l.head; s != nil; s = s.next {
			for ; i < len(pts) && pts[i].seq <= s.seq; i++ {
				fin.fold(pts[i])
			}
			fin.fold(point{s.seq, s.bindT, +1})
		}
		for ; i < len(pts); i++ {
			fin.fold(pts[i])
		}
	}
	inferred := l.inferred
	for s := l.head; s != nil; s = s.next {
		ev.add(evidence{s.seq, s.bindFrame, s.q, s.tr.set()})
		cl.add(s.cg.client)
		if s.inferred {
			inferred++
		}
	}
	return leakResult{
		never: l.closed + l.nOpen, open: l.nOpen, closed: l.closed, inferred: inferred,
		peak: fin.peak, rate: fin.slope(), span: time.Duration(fin.lastX * float64(time.Hour)), ev: ev, client: cl.one(),
	}
}
