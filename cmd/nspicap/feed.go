package main

import (
	"github.com/nspicap/nspicap/analyze"
)

// The analyzer runs in a goroutine of its own, behind the decoding: on the
// busy DC bench capture it takes as much time as TCP reassembly and
// DCE/RPC parsing together, so with the reader that makes three stages on
// the two cores of a small machine. Events cross in batches through a
// bounded channel from the one decoding goroutine, so the analyzer sees
// exactly the order it would see if called directly: the report is the
// same, byte for byte.

const (
	feedBatch = 256 // events per batch
	feedAhead = 8   // batches queued at most (about 1 MiB of events)
)

// feeder hands events to an analyzer running in another goroutine.
type feeder struct {
	a    *analyze.Analyzer
	size int // events per batch
	cur  *analyze.Batch
	ch   chan *analyze.Batch
	free chan *analyze.Batch
	done chan struct{}
}

// newFeeder starts the analyzer's goroutine; size is the number of events
// per batch (feedBatch).
func newFeeder(a *analyze.Analyzer, size int) *feeder {
	f := &feeder{a: a, size: size, ch: make(chan *analyze.Batch, feedAhead), free: make(chan *analyze.Batch, feedAhead+2),
		done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for b := range f.ch {
			a.AddBatch(b)
			b.Reset() // let go of the events' strings now
			select {
			case f.free <- b:
			default:
			}
		}
	}()
	return f
}

// add queues a copy of ev (analyze.Batch.Add).
func (f *feeder) add(ev analyze.Event) {
	if f.cur == nil {
		select {
		case f.cur = <-f.free:
		default:
			f.cur = new(analyze.Batch)
		}
	}
	f.cur.Add(ev)
	if f.cur.Len() >= f.size {
		f.ch <- f.cur
		f.cur = nil
	}
}

// wait hands over what is queued and returns when the analyzer has seen
// every event. The feeder is not used after.
func (f *feeder) wait() {
	if f.cur != nil && f.cur.Len() > 0 {
		f.ch <- f.cur
		f.cur = nil
	}
	close(f.ch)
	<-f.done
}
