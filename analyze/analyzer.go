package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Defaults of Options.MaxSessions and Options.MaxRefusals.
const (
	DefaultMaxSessions = 20000
	DefaultMaxRefusals = 20000
)

// Options configure an Analyzer.
type Options struct {
	// Limit is the per-user NSPI session limit of the domain controller
	// ("NSPI max sessions per user"); 0 means DefaultLimit.
	Limit int
	// MaxSessions bounds Report.Sessions: the first MaxSessions sessions
	// bound in the capture are listed, the others only counted (counters,
	// findings and verdict still cover them all). 0 means
	// DefaultMaxSessions.
	MaxSessions int
	// MaxRefusals bounds Report.Refusals in the same way; 0 means
	// DefaultMaxRefusals.
	MaxRefusals int
	// EMSMDBLimit is the Exchange store's "Maximum Allowed Sessions Per
	// User"; 0 means DefaultEMSMDBLimit.
	EMSMDBLimit int
	// MaxRows bounds the (server, user) rows and the (server, client) rows
	// followed at once: beyond, rows that hold no session are retired
	// (retire.go), and at most MaxRows retired rows of each table are
	// listed. 0 means DefaultMaxRows.
	MaxRows int
	// MaxFindings bounds the findings kept of retired rows; 0 means
	// DefaultMaxFindings.
	MaxFindings int
	// Domains are NetBIOS domains and their DNS names known to be one
	// domain (--domain): DOMAIN\user and user@REALM then name one account
	// (accounts.go), as a DomainAlias event would say.
	Domains []Domain
	// MaxOpenSessions bounds the NSPI sessions followed open at once:
	// beyond, the rows holding the oldest are retired with their sessions
	// (retire.go, shedSessions). 0 means DefaultMaxOpenSessions.
	MaxOpenSessions int
}

// Analyzer correlates NSPI events into sessions, counters and findings. It
// does no I/O. Add events in capture order, then call Report. Add does the
// correlation at once and keeps only bounded state (doc.go, "Memory"). An

// Analyzer correlates events into sessions, counters and findings. It does
// no I/O. Add events in capture order, then call Report. Add does the
// correlation at once and keeps only bounded state (doc.go, "Memory"). An
// Analyzer is not safe for concurrent use.
//
// The Analyzer is a dispatcher: each event goes to the trackers that
// follow its protocol, each tracker owns its state, its findings and its
// retirement, and Report asks each for its part.
type Analyzer struct {
	*core
	anomalies map[string]*Anomaly

	nspi  *nspiTracker     // NSPI sessions (nspi_sessions.go)
	store *storeTracker    // Exchange store sessions (store_sessions.go)
	eps   *endpointTracker // the endpoint mapper (endpoints.go)
	refs  *referralTracker // RFR referrals (referrals.go)
	dead  *deadTracker     // dead connections (dead_conns.go)
	tl    *timeline        // sessions held over time (timeline.go)
}

// New returns an Analyzer.
func New(o Options) *Analyzer {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxRefusals <= 0 {
		o.MaxRefusals = DefaultMaxRefusals
	}
	if o.EMSMDBLimit <= 0 {
		o.EMSMDBLimit = DefaultEMSMDBLimit
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	if o.MaxOpenSessions <= 0 {
		o.MaxOpenSessions = DefaultMaxOpenSessions
	}
	c := newCore(o)
	tl := newTimeline(c)
	a := &Analyzer{
		core:      c,
		anomalies: map[string]*Anomaly{},
		tl:        tl,
		nspi:      newNSPITracker(c, tl),
		store:     newStoreTracker(c, tl),
		eps:       newEndpointTracker(c),
		refs:      newReferralTracker(c),
		dead:      newDeadTracker(c),
	}
	c.live = []func(map[string]bool){a.nspi.liveNames, a.store.liveNames}
	for _, d := range o.Domains {
		c.learnAlias(d.NetBIOS, d.DNS)
	}
	return a
}

// Add correlates one event. Events must arrive in capture order.
func (a *Analyzer) Add(ev Event) {
	switch e := ev.(type) {
	case *NSPICall:
		a.advance(e.Time, e.ReplyTime)
		a.countInferred(e.Quality)
		a.dead.see(&e.Meta, &e.Identity, &e.Answer, protoNSPI, e.Op == OpOpen)
		a.nspi.add(e)
	case *StoreCall:
		a.advance(e.Time, e.ReplyTime)
		a.countInferred(e.Quality)
		a.dead.see(&e.Meta, &e.Identity, &e.Answer, protoStore, e.Op == OpOpen)
		a.store.add(e)
	case *EndpointAnswer:
		a.advance(e.Time, e.ReplyTime)
		a.eps.add(e)
	case *ReferralCall:
		a.advance(e.Time, e.ReplyTime)
		a.countInferred(e.Quality)
		a.refs.add(e)
	case *ConnEnd:
		a.advance(e.Time, time.Time{})
		a.dead.end(e, a.nspi.openOn(e.ConnID)+a.store.openOn(e.ConnID))
		a.store.connEnd(e)
		a.nspi.connEnd(e)
	case *ConnAttempt:
		a.advance(e.Time, time.Time{})
		a.eps.attempt(e)
	case *DomainAlias:
		// Not a call: it moves neither the clock nor the count of events.
		a.learnAlias(e.NetBIOS, e.DNS)
		return
	default:
		return
	}
	a.seq++
	if len(a.nspi.open) > a.opt.MaxOpenSessions {
		a.nspi.shedSessions()
	}
}

func (a *Analyzer) countInferred(q Quality) {
	if q&IfaceInferred != 0 {
		a.inferred++
	}
}

// AddAnomaly counts a decoding or capture anomaly; anomalies of the same kind
// are summed (the first message is kept). They appear in Report.Anomalies.
func (a *Analyzer) AddAnomaly(an Anomaly) {
	if an.Count == 0 {
		an.Count = 1
	}
	if cur, ok := a.anomalies[an.Kind]; ok {
		cur.Count += an.Count
		return
	}
	c := an
	a.anomalies[an.Kind] = &c
}

// Report builds the report from the events added so far. It does not change
// the Analyzer: it may be called more than once, and more events may be
// added between calls. Version is left empty for the caller to set.
func (a *Analyzer) Report(inputs []Input) *Report {
	return a.report(inputs, false)
}

// report asks each tracker for its part: the NSPI tables, lists, findings
// and verdict first, then the store, endpoint and dead connection findings
// (whose verdict sentences open the verdict), the referrals and the
// timeline.
func (a *Analyzer) report(inputs []Input, streamed bool) *Report {
	p := a.nspi.reporter()
	r := p.build(streamed)
	r.Inputs = make([]Input, len(inputs))
	for i, in := range inputs {
		in.FirstTime = utc(in.FirstTime)
		in.LastTime = utc(in.LastTime)
		in.Warnings = append(make([]string, 0, len(in.Warnings)), in.Warnings...)
		r.Inputs[i] = in
	}
	r.Anomalies = []Anomaly{}
	for _, an := range a.anomalies {
		r.Anomalies = append(r.Anomalies, *an)
	}
	sort.Slice(r.Anomalies, func(i, j int) bool { return r.Anomalies[i].Kind < r.Anomalies[j].Kind })
	r.Verdict = p.verdict(r, a.store.dropped(a.opt)...)

	a.store.rows(r)
	a.refs.list(r)
	r.Timeline = []TimelineRow{}
	var verdict []string
	add := func(f *Finding, sentence string) {
		f.Message, sentence = sentenceStart(f.Message), sentenceStart(sentence)
		p.findings = append(p.findings, f)
		r.Findings = append(r.Findings, *f)
		if sentence != "" {
			verdict = append(verdict, sentence)
		}
	}
	leaks := map[gkey]*Finding{}
	a.store.findings(p, add, leaks)
	a.eps.findings(add)
	a.dead.findings(p, add)
	sortFindings(r.Findings)

	// NSPI leaks, for the timeline.
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Kind == KindLeak && f.ukey != "" && !f.anon {
			srv, _ := netip.ParseAddr(string(f.Server))
			leaks[gkey{srv, "nspi|" + f.ukey}] = f
		}
	}
	a.tl.rows(r, a.opt.Limit, a.store.limit, leaks)
	if len(verdict) > 0 {
		// The store, endpoint and dead connection sentences name
		// problems: "No NSPI problems found" would contradict them.
		if v := r.Verdict; len(v) > 0 && strings.HasPrefix(v[0], noNSPIProblems) {
			if rest := strings.TrimPrefix(strings.TrimPrefix(v[0], noNSPIProblems), ": "); rest != "." {
				v[0] = strings.ToUpper(rest[:1]) + rest[1:]
			} else {
				v = v[1:]
			}
			r.Verdict = v
		}
		r.Verdict = append(verdict, r.Verdict...)
	}
	if nc := notCovered(r.Inputs); len(nc) > 0 {
		r.Verdict = append(nc, r.Verdict...)
	}
	return r
}

// notCovered opens the verdict with the inputs that could not be read:
// nothing of them is in the report.
func notCovered(ins []Input) []string {
	var out []string
	for _, in := range ins {
		if in.Error != "" {
			name := in.Path
			if name == "-" {
				name = "standard input"
			}
			out = append(out, fmt.Sprintf("This report does not cover %s: it could not be read (%s).", name, in.Error))
		}
	}
	return out
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
