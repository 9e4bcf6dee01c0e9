package analyze

import (
	"slices"
	"time"
)

// lists gives a streamed report's sessions and refusals (ReportStreamed):
// the analyzer's packed records in report order, unpacked one at a time,
// so that a report listing tens of thousands of them never holds them all
// unpacked at once.
type lists struct {
	a    *nspiTracker
	p    *reporter // for the cause of a pending refusal (isStable)
	sess []int32   // indexes of Analyzer.sessions in report order
	refs []int32   // indexes of Analyzer.refusals in report order
}

// newLists orders the records: by time, and for equal times in capture
// order, in which they were recorded.
func newLists(a *nspiTracker, p *reporter) *lists {
	l := &lists{a: a, p: p, sess: ordered(a.sessions.n), refs: ordered(a.refusals.n)}
	bind := func(i int32) time.Time {
		r := a.sessions.at(int(i))
		return unpackTime(r.bindSec, r.bindNsec, r.flags&recBindZero != 0)
	}
	slices.SortStableFunc(l.sess, func(x, y int32) int { return bind(x).Compare(bind(y)) })
	at := func(i int32) time.Time {
		r := a.refusals.at(int(i))
		return unpackTime(r.timeSec, r.timeNsec, r.flags&refZeroTime != 0)
	}
	slices.SortStableFunc(l.refs, func(x, y int32) int { return at(x).Compare(at(y)) })
	return l
}

func ordered(n int) []int32 {
	ix := make([]int32, n)
	for i := range ix {
		ix[i] = int32(i)
	}
	return ix
}

func (l *lists) session(j int) Session { return l.a.session(int(l.sess[j])) }

func (l *lists) refusal(j int) Refusal {
	return l.a.refusal(int(l.refs[j]), l.p.isStable)
}

// ReportStreamed is Report without the Sessions and Refusals slices: the
// report gives them one at a time (EachSession, EachRefusal), unpacked from
// the analyzer's records as they are written. The analyzer must get no
// more events while the report is in use.
func (a *Analyzer) ReportStreamed(inputs []Input) *Report {
	return a.report(inputs, true)
}

// NumSessions is the number of sessions the report lists.
func (r *Report) NumSessions() int {
	if r.lists != nil {
		return len(r.lists.sess)
	}
	return len(r.Sessions)
}

// NumRefusals is the number of refused binds the report lists.
func (r *Report) NumRefusals() int {
	if r.lists != nil {
		return len(r.lists.refs)
	}
	return len(r.Refusals)
}

// EachSession calls f with every listed session in order, until f returns
// an error, which it returns. The Session is f's to keep.
func (r *Report) EachSession(f func(*Session) error) error {
	if r.lists == nil {
		return each(r.Sessions, 0, nil, f)
	}
	return each(nil, len(r.lists.sess), r.lists.session, f)
}

// EachRefusal calls f with every listed refused bind in order, as
// EachSession does.
func (r *Report) EachRefusal(f func(*Refusal) error) error {
	if r.lists == nil {
		return each(r.Refusals, 0, nil, f)
	}
	return each(nil, len(r.lists.refs), r.lists.refusal, f)
}

// each calls f with the elements of held, then with the n elements at
// unpacks, until f returns an error.
func each[T any](held []T, n int, at func(int) T, f func(*T) error) error {
	for i := range held {
		if err := f(&held[i]); err != nil {
			return err
		}
	}
	for j := range n {
		x := at(j)
		if err := f(&x); err != nil {
			return err
		}
	}
	return nil
}
