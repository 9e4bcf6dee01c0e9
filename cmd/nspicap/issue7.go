package main

import "github.com/nspicap/nspicap/analyze"

// Extra feeds the EMSMDB, endpoint mapper and RFR events to the analyzer
// (pipeline.ExtraSink).
func (s *eventSink) Extra(ev *analyze.Event) { s.add(ev) }

// TCPEnd feeds the ends of connections that carried no data (connection
// attempts) to the analyzer (pipeline.TCPEndSink).
func (s *eventSink) TCPEnd(ev *analyze.Event) { s.add(ev) }

// emsmdbLimit sets the Exchange store's per-user session limit
// (--emsmdb-limit).
func emsmdbLimit(n int) func(*analyze.Options) {
	return func(o *analyze.Options) { o.EMSMDBLimit = n }
}
