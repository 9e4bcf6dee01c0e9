package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Bounded summaries: what the analyzer keeps per finding instead of every
// event behind it (see "Memory" in doc.go).

const (
	// maxTally bounds the distinct names a tally counts one by one (statuses,
	// faults, operations); the rest are counted together as "others".
	maxTally = 64
	// maxHandles bounds the distinct context handles a finding counts one by
	// one; beyond it the message says "more than maxHandles".
	maxHandles = 1024
	// maxConnHow is the number of recently ended connections whose end the
	// analyzer remembers for an unanswered call that comes after it.
	maxConnHow = 1 << 12
)

// evidence is one event behind a finding.
type evidence struct {
	seq   int
	frame FrameRef
	q     Quality // what the capture did not give whole
	tr    trSet   // the transport of the call
}

// evAcc holds the evidence of a finding as the report shows it: the count,
// the maxFrames-1 earliest events other than the latest, and the latest.
// Events may be added in any order.
type evAcc struct {
	n     int
	first []evidence // sorted by seq
	last  evidence
	q     Quality // of all the events added
	tr    trSet   // the transports of all the events added
}

func (a *evAcc) add(e evidence) {
	a.n++
	a.q |= e.q
	a.tr |= e.tr
	if a.n == 1 {
		a.last = e
		return
	}
	if e.seq > a.last.seq {
		e, a.last = a.last, e
	}
	const k = maxFrames - 1
	if len(a.first) == k && e.seq >= a.first[k-1].seq {
		return
	}
	i := sort.Search(len(a.first), func(i int) bool { return a.first[i].seq > e.seq })
	if len(a.first) < k {
		a.first = append(a.first, evidence{})
	}
	copy(a.first[i+1:], a.first[i:len(a.first)-1])
	a.first[i] = e
}

// merge adds the events of b: what b dropped is neither among the earliest
// nor the latest of the union.
func (a *evAcc) merge(b *evAcc) {
	if b.n == 0 {
		return
	}
	n := a.n + b.n
	q, tr := a.q|b.q, a.tr|b.tr
	for _, e := range b.first {
		a.add(e)
	}
	a.add(b.last)
	a.n, a.q, a.tr = n, q, tr
}

func (a *evAcc) clone() evAcc {
	c := *a
	c.first = append([]evidence(nil), a.first...)
	return c
}

// frames returns the frames in capture order, and the seq of the first.
func (a *evAcc) frames() ([]FrameRef, int) {
	out := make([]FrameRef, 0, len(a.first)+1)
	for _, e := range a.first {
		out = append(out, e.frame)
	}
	if a.n == 0 {
		return out, 0
	}
	out = append(out, a.last.frame)
	if len(a.first) > 0 {
		return out, a.first[0].seq
	}
	return out, a.last.seq
}

// tally counts names; tallyString renders "a ×2, b ×1" sorted by name.
type tally struct {
	m    map[string]int
	more int
}

func (t *tally) add(s string, n int) {
	if t.m == nil {
		t.m = map[string]int{}
	}
	if _, ok := t.m[s]; ok || len(t.m) < maxTally {
		t.m[s] += n
		return
	}
	t.more += n
}

func (t *tally) merge(b *tally) {
	keys := make([]string, 0, len(b.m))
	for k := range b.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.add(k, b.m[k])
	}
	t.more += b.more
}

func (t *tally) clone() tally {
	c := tally{more: t.more}
	if t.m != nil {
		c.m = make(map[string]int, len(t.m))
		for k, v := range t.m {
			c.m[k] = v
		}
	}
	return c
}

func (t *tally) String() string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys), len(keys)+1)
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, t.m[k])
	}
	if t.more > 0 {
		parts = append(parts, fmt.Sprintf("others ×%d", t.more))
	}
	return strings.Join(parts, ", ")
}

// handleSet counts distinct context handles, up to maxHandles.
type handleSet struct {
	m    map[[20]byte]struct{}
	over bool
}

func (h *handleSet) add(x [20]byte) {
	if h.over {
		return
	}
	if h.m == nil {
		h.m = map[[20]byte]struct{}{}
	}
	if _, ok := h.m[x]; ok {
		return
	}
	if len(h.m) >= maxHandles {
		h.over = true
		return
	}
	h.m[x] = struct{}{}
}

func (h *handleSet) merge(b *handleSet) {
	for x := range b.m {
		h.add(x)
	}
	h.over = h.over || b.over
}

func (h *handleSet) clone() handleSet {
	c := handleSet{over: h.over}
	if h.m != nil {
		c.m = make(map[[20]byte]struct{}, len(h.m))
		for k := range h.m {
			c.m[k] = struct{}{}
		}
	}
	return c
}

// text returns "3 context handles" (or "more than 1024 context handles")
// and whether it is more than one.
func (h *handleSet) text() (string, bool) {
	if h.over {
		return fmt.Sprintf("more than %d context handles", maxHandles), true
	}
	return plural(len(h.m), "context handle", "context handles"), len(h.m) != 1
}

// clientTrack tells whether all the events of a finding came from one client.
type clientTrack struct {
	c     peer
	n     int
	mixed bool
}

func (t *clientTrack) add(c peer) {
	if t.n == 0 {
		t.c = c
	} else if c != t.c {
		t.mixed = true
	}
	t.n++
}

func (t *clientTrack) merge(b *clientTrack) {
	if b.n == 0 {
		return
	}
	t.add(b.c)
	t.n += b.n - 1
	t.mixed = t.mixed || b.mixed
}

// one returns the client when all are the same, else an invalid one.
func (t *clientTrack) one() peer {
	if t.mixed {
		return peer{}
	}
	return t.c
}

// noteAcc gathers the calls behind one finding of the note kinds
// (bind_failed, unbind_failed, unbind_unknown_handle, session_before_capture,
// call_after_end, unanswered_call).
type noteAcc struct {
	ev      evAcc
	what    tally
	handles handleSet
}

func (n *noteAcc) merge(b *noteAcc) {
	n.ev.merge(&b.ev)
	n.what.merge(&b.what)
	n.handles.merge(&b.handles)
}

func (n *noteAcc) clone() *noteAcc {
	return &noteAcc{ev: n.ev.clone(), what: n.what.clone(), handles: n.handles.clone()}
}

// refAcc gathers refused binds (MAPI_E_LOGON_FAILED) behind one finding.
type refAcc struct {
	ev     evAcc
	lo, hi int // held (with those bound before the capture) at the refusals
	before int // most held that were bound before the capture
	cl     clientTrack
	// the earliest refusal by time, then seq
	firstT   time.Time
	firstSeq int
	firstOrd int
	inferred int // refusals whose outcome was inferred (a sealed bind without a key)
}

func (r *refAcc) add(rf *refusal) {
	if rf.StatusInferred {
		r.inferred++
	}
	h := rf.Held + rf.HeldBeforeCapture
	if r.ev.n == 0 {
		r.lo, r.hi = h, h
	}
	r.lo, r.hi = min(r.lo, h), max(r.hi, h)
	r.before = max(r.before, rf.HeldBeforeCapture)
	r.cl.add(rf.client)
	r.first(rf.Time, rf.seq, rf.Ordinal)
	r.ev.add(evidence{rf.seq, rf.ReplyFrame, rf.q, rf.tr.set()})
}

func (r *refAcc) first(t time.Time, seq, ord int) {
	if r.ev.n == 0 || t.Before(r.firstT) || (t.Equal(r.firstT) && seq < r.firstSeq) {
		r.firstT, r.firstSeq, r.firstOrd = t, seq, ord
	}
}

func (r *refAcc) merge(b *refAcc) {
	r.inferred += b.inferred
	if b.ev.n == 0 {
		return
	}
	if r.ev.n == 0 {
		r.lo, r.hi = b.lo, b.hi
	}
	r.lo, r.hi = min(r.lo, b.lo), max(r.hi, b.hi)
	r.before = max(r.before, b.before)
	r.cl.merge(&b.cl)
	r.first(b.firstT, b.firstSeq, b.firstOrd)
	r.ev.merge(&b.ev)
}

func (r *refAcc) clone() refAcc {
	c := *r
	c.ev = r.ev.clone()
	return c
}

// recentSet remembers the last size keys added to it. Its ring grows as
// keys come, so an empty set costs nothing.
type recentSet[K comparable, V any] struct {
	m    map[K]recentVal[V]
	ring []K
	size int
	n    int // keys added so far
}

type recentVal[V any] struct {
	v   V
	pos int
}

func newRecentSet[K comparable, V any](size int) recentSet[K, V] {
	return recentSet[K, V]{m: map[K]recentVal[V]{}, size: size}
}

func (s *recentSet[K, V]) put(k K, v V) {
	if len(s.ring) < s.size {
		s.ring = append(s.ring, k)
	} else {
		i := s.n % s.size
		old := s.ring[i]
		if e, ok := s.m[old]; ok && e.pos == s.n-s.size {
			delete(s.m, old)
		}
		s.ring[i] = k
	}
	s.m[k] = recentVal[V]{v, s.n}
	s.n++
}

func (s *recentSet[K, V]) get(k K) (V, bool) {
	e, ok := s.m[k]
	return e.v, ok
}

// HandleHash is FNV-1a over a server address (as 16 bytes) and an NSPI
// context handle: the key of a session where a hash of 64 bits is enough.
func HandleHash(server netip.Addr, h [20]byte) uint64 {
	const prime = 1099511628211
	x := uint64(14695981039346656037)
	a := server.As16()
	for _, b := range a {
		x = (x ^ uint64(b)) * prime
	}
	for _, b := range h {
		x = (x ^ uint64(b)) * prime
	}
	return x
}

// chunked is an append-only list stored in fixed-size chunks, so that
// growing it never copies (or holds twice) what it already has.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

const chunkLen = 4096

func (c *chunked[T]) add(v T) int {
	if c.n%chunkLen == 0 {
		c.chunks = append(c.chunks, nil)
	}
	last := &c.chunks[len(c.chunks)-1]
	if len(*last) == cap(*last) && cap(*last) < chunkLen {
		// Small lists stay small; a chunk grows up to chunkLen, then the
		// next one starts.
		grown := make([]T, len(*last), min(max(2*cap(*last), 16), chunkLen))
		copy(grown, *last)
		*last = grown
	}
	*last = append(*last, v)
	c.n++
	return c.n - 1
}

func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// frameList keeps the first maxFrames-1 frames added and the last, in the
// order added, and the seq of the first.
type frameList struct {
	n     int
	seq   int
	first []FrameRef
	last  FrameRef
}

func (l *frameList) add(seq int, f FrameRef) {
	if f.Frame == 0 {
		return
	}
	if l.n == 0 {
		l.seq = seq
	}
	l.n++
	if len(l.first) < maxFrames-1 {
		l.first = append(l.first, f)
		return
	}
	l.last = f
}

func (l *frameList) frames() []FrameRef {
	out := append([]FrameRef{}, l.first...)
	if l.n > len(l.first) {
		out = append(out, l.last)
	}
	return out
}

// framesFinding builds a finding from a frameList.
func (c *core) framesFinding(kind, sev string, server netip.Addr, ukey string, client peer, fl *frameList, msg string) *Finding {
	f := &Finding{Kind: kind, Severity: sev, User: c.name(ukey), Count: fl.n, Message: msg, seq: fl.seq}
	c.fillIdentity(f, ukey)
	if server.IsValid() {
		f.Server = NullString(server.String())
	}
	f.setClient(client)
	f.Frames = fl.frames()
	if fl.n > maxFrames {
		f.Message += fmt.Sprintf(" Frames: the first %d and the last of %d.", maxFrames-1, fl.n)
	}
	return f
}

// evFinding builds a finding from an evAcc, marked with the quality of its
// evidence.
func (c *core) evFinding(kind, sev string, server netip.Addr, ukey string, client peer, ev *evAcc, msg string) *Finding {
	f := &Finding{Kind: kind, Severity: sev, User: c.name(ukey), Count: ev.n, Message: msg, Transports: ev.tr.names()}
	c.fillIdentity(f, ukey)
	if server.IsValid() {
		f.Server = NullString(server.String())
	}
	f.setClient(client)
	f.Frames, f.seq = ev.frames()
	if ev.n > maxFrames {
		f.Message += fmt.Sprintf(" Frames: the first %d and the last of %d.", maxFrames-1, ev.n)
	}
	f.markQuality(ev.q)
	return f
}

// sortFindings orders findings as the report lists them: most severe
// first, then by the event that made them.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if sevRank(a.Severity) != sevRank(b.Severity) {
			return sevRank(a.Severity) < sevRank(b.Severity)
		}
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Message < b.Message
	})
}
