package analyze

import (
	"cmp"
	"net/netip"
	"slices"
)

// Defaults of Options.MaxRows and Options.MaxFindings.
const (
	DefaultMaxRows         = 10000
	DefaultMaxFindings     = 5000
	DefaultMaxOpenSessions = 20000
)

// Bounds of the identity state that is not a row (doc.go, "Memory"): they
// scale with Options.MaxRows, so that one flag bounds them all.

// maxNames is the number of user spellings remembered (the first of each
// user).
func (a *core) maxNames() int { return 2 * a.opt.MaxRows }

// maxNoteKeys is the number of distinct (kind, server, user, client) note
// findings.
func (a *nspiTracker) maxNoteKeys() int { return a.opt.MaxRows }

// maxAnonKeys is the number of (server, client) pairs with anonymous
// refusals waiting, and of those followed by an authenticated bind.
func (a *nspiTracker) maxAnonKeys() int { return max(a.opt.MaxRows/2, 1) }

// maxEnded is the number of recently ended sessions whose handles are
// remembered, to tell a call after the end of a session (call_after_end)
// from a call on a session bound before the capture.
func maxEnded(o Options) int { return max(4*o.MaxRows, 1) }

// maxForgot is the number of handles of forgotten sessions remembered.
func maxForgot(o Options) int { return max(4*o.MaxRows, 1) }

// maxReopen is the number of (server, client) pairs whose last bind or
// connect is remembered (dead_conns.go).
func maxReopen(o Options) int { return max(o.MaxRows, 1) }

// A row of the users or clients table is retired when the table is full and
// the row is quiet: it holds no session (none open, none bound before the
// capture and still in use), so nothing that comes later can change what
// the row has shown. Retiring renders its findings and verdict sentences
// there and then, exactly as Report would at the end, keeps its table row
// (up to Options.MaxRows retired rows are listed, the others only counted),
// keeps its timeline series while it is among the highest, and forgets the
// rest. A user that comes back after its row was retired gets a new row,
// which counts from its return.

// retired is what the Analyzer keeps of retired rows.
type retired struct {
	findings []*Finding // rendered; their vline holds the verdict sentences
	bySev    [3]int     // findings of each severity rank (sevRank)
	dropped  map[string]int
	users    []UserRow
	clients  []ClientRow
	nUsers   int // user rows retired (listed or not)
	nClients int
	rounds   int // retirement sweeps run
	// rows retired while they held sessions (Options.MaxRows reached with
	// too few quiet rows), the sessions forgotten with them, and the calls
	// later seen on those sessions
	forcedUsers, forcedClients int
	// of those, rows retired because more sessions were open at once
	// than Options.MaxOpenSessions (shedSessions), and the sweeps
	shedUsers, shedClients, shedRounds int
	forgotten, forgottenCalls          int
	forgottenOpen                      int // forgotten sessions bound in the capture (Totals.OpenAtEnd)
	// anonymous refusals followed by an authenticated bind, of retired
	// findings (the verdict counts them)
	anonExpected int
}

// maybeRetireUsers and maybeRetireClients sweep their table when it has
// reached its sweepAt size. A sweep that frees less than a quarter of the
// table waits for it to grow by a quarter again, so that sweeps cost
// O(log n) per new row.
func (a *nspiTracker) maybeRetireUsers() {
	if len(a.users) < a.userSweepAt {
		return
	}
	forced := sweep(a, a.users, func(x, y gkey) int {
		if c := x.server.Compare(y.server); c != 0 {
			return c
		}
		return cmp.Compare(x.who, y.who)
	}, a.retireUsers, func(s *sess) *group { return s.ug })
	a.rt.forcedUsers += forced
	a.userSweepAt = max(a.opt.MaxRows, len(a.users)+a.opt.MaxRows/4)
}

func (a *nspiTracker) maybeRetireClients() {
	if len(a.clients) < a.clientSweepAt {
		return
	}
	forced := sweep(a, a.clients, func(x, y ckey) int {
		if c := x.server.Compare(y.server); c != 0 {
			return c
		}
		return x.client.Compare(y.client)
	}, a.retireClients, func(s *sess) *group { return s.cg })
	a.rt.forcedClients += forced
	a.clientSweepAt = max(a.opt.MaxRows, len(a.clients)+a.opt.MaxRows/4)
}

// sweep retires rows of table down to 3/4 of Options.MaxRows: first the
// quiet rows, least recently active first (ties in key order); then, if the
// table is still over MaxRows, the rows that hold sessions, in the same
// order, whose sessions are forgotten (row gives a session's row in this
// table). It returns the number of rows retired with sessions.
func sweep[K comparable](a *nspiTracker, table map[K]*group, cmpKey func(K, K) int, retire func([]K, []*group), row func(*sess) *group) int {
	type cand struct {
		k K
		g *group
	}
	order := func(x, y cand) int {
		if c := cmp.Compare(x.g.lastSeq, y.g.lastSeq); c != 0 {
			return c
		}
		return cmpKey(x.k, y.k)
	}
	// take retires cs, in order, together.
	take := func(cs []cand) {
		if len(cs) == 0 {
			return
		}
		ks, gs := make([]K, len(cs)), make([]*group, len(cs))
		for i, c := range cs {
			ks[i], gs[i] = c.k, c.g
		}
		retire(ks, gs)
	}
	var cs []cand
	for k, g := range table {
		if g.quiet() {
			cs = append(cs, cand{k, g})
		}
	}
	slices.SortFunc(cs, order)
	keep := a.opt.MaxRows * 3 / 4
	take(cs[:min(len(cs), max(len(table)-keep, 0))])
	a.rt.rounds++
	// The row about to be added must fit.
	if len(table) < a.opt.MaxRows {
		return 0
	}
	// Not enough quiet rows: the rows that hold sessions and were active
	// longest ago go too, and their sessions are forgotten.
	cs = cs[:0]
	for k, g := range table {
		cs = append(cs, cand{k, g})
	}
	slices.SortFunc(cs, order)
	cs = cs[:len(cs)-keep]
	take(cs)
	gone := make(map[*group]bool, len(cs))
	for _, c := range cs {
		gone[c.g] = true
	}
	a.forgetSessions(func(s *sess) bool { return gone[row(s)] })
	return len(gone)
}

// shedSessions makes room when more sessions are open than
// Options.MaxOpenSessions: the rows that hold the oldest open sessions are
// retired with their sessions, as sweep does for a full table, until at
// most 3/4 of MaxOpenSessions stay open. A user row goes with its
// sessions; an anonymous session goes with its client row. It runs after
// an event, so no row it retires is in use.
func (a *nspiTracker) shedSessions() {
	ss := make([]*sess, 0, len(a.open))
	for _, s := range a.open {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(x, y *sess) int { return cmp.Compare(x.seq, y.seq) })
	users, clients := map[*group]bool{}, map[*group]bool{}
	drop := len(ss) - a.opt.MaxOpenSessions*3/4
	for _, s := range ss {
		if drop <= 0 {
			break
		}
		switch {
		case s.ukey != "" && s.ug != nil && !s.ug.frozen:
			if !users[s.ug] {
				users[s.ug] = true
				drop -= s.ug.held + s.ug.ghosts
			}
		case s.cg != nil && !s.cg.frozen:
			if !clients[s.cg] {
				clients[s.cg] = true
				drop -= s.cg.held + s.cg.ghosts
			}
		default:
			drop--
		}
	}
	// Retire in key order, so that the findings rendered together come
	// out the same from one run to the next.
	uks, ugs := picked(a.users, users, cmpGkey)
	cks, cgs := picked(a.clients, clients, cmpCkey)
	if len(uks) > 0 {
		a.retireUsers(uks, ugs)
	}
	if len(cks) > 0 {
		a.retireClients(cks, cgs)
	}
	a.forgetSessions(func(s *sess) bool {
		return s.ukey != "" && users[s.ug] || clients[s.cg] || s.ug == nil && s.cg == nil
	})
	if keep := a.opt.MaxOpenSessions * 3 / 4; len(a.open) > keep {
		// Rows whose counts did not cover their sessions: forget the
		// oldest sessions themselves, so that the next event does not
		// sweep again.
		cut := a.seq + 1
		if keep > 0 {
			cut = ss[len(ss)-keep].seq
		}
		a.forgetSessions(func(s *sess) bool { return s.seq < cut })
	}
	a.rt.forcedUsers += len(uks)
	a.rt.forcedClients += len(cks)
	a.rt.shedUsers += len(uks)
	a.rt.shedClients += len(cks)
	a.rt.shedRounds++
}

// picked returns the rows of table that are in pick, in key order.
func picked[K comparable](table map[K]*group, pick map[*group]bool, cmpKey func(K, K) int) ([]K, []*group) {
	var ks []K
	for k, g := range table {
		if pick[g] {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, cmpKey)
	gs := make([]*group, len(ks))
	for i, k := range ks {
		gs[i] = table[k]
	}
	return ks, gs
}

func cmpGkey(x, y gkey) int {
	if c := x.server.Compare(y.server); c != 0 {
		return c
	}
	return cmp.Compare(x.who, y.who)
}

func cmpCkey(x, y ckey) int {
	if c := x.server.Compare(y.server); c != 0 {
		return c
	}
	return x.client.Compare(y.client)
}

// forgetSessions stops following the open sessions of rows retired while
// they held them: the retired rows counted them as open at the end, and so
// do the totals; the rows still followed (the client row of a retired user,
// say) and the concurrency measured from then on no longer hold them. A later call or NspiUnbind on one of their handles is recognised
// and counted (Analyzer.forgotten), not taken for a session bound before the
// capture.
func (a *nspiTracker) forgetSessions(of func(*sess) bool) {
	var gone []*sess
	for _, s := range a.open {
		if of(s) {
			gone = append(gone, s)
		}
	}
	// In the order they were opened: the handles remembered are the same
	// from one run to the next.
	slices.SortFunc(gone, func(x, y *sess) int { return cmp.Compare(x.seq, y.seq) })
	conns := map[uint64]bool{}
	for _, s := range gone {
		s.open = false
		delete(a.open, s.key)
		for _, c := range s.conns {
			conns[c] = true
		}
	}
	// Each connection's list once: a connection may carry thousands of
	// the sessions forgotten.
	for c := range conns {
		if l, ok := a.connSess[c]; ok {
			if l = openOnly(l); len(l) == 0 {
				delete(a.connSess, c)
			} else {
				a.connSess[c] = l
			}
		}
	}
	for _, s := range gone {
		s.conns, s.lk = nil, nil
		// The rows and the totals stop holding it now (the totals count
		// it as open at the end): what comes later is measured without it.
		a.adjust(s, -1)
		if !s.ghost {
			a.rt.forgottenOpen++
		}
		if s.key.syn == 0 {
			a.forgot.put(HandleHash(s.key.server, s.key.handle), struct{}{})
		}
		a.rt.forgotten++
	}
}

// isForgotten tells a handle of a session forgotten by forgetSessions.
func (a *nspiTracker) isForgotten(server netip.Addr, h [20]byte) bool {
	_, ok := a.forgot.get(HandleHash(server, h))
	return ok
}

// quiet: the row holds no session, so later events cannot change it.
func (g *group) quiet() bool {
	return g.held == 0 && g.ghosts == 0 && (g.leak == nil || g.leak.nOpen == 0)
}

// maybeRetireNotes makes room in a full notes table: the notes whose latest
// call is the oldest are rendered as findings and kept with the findings of
// retired rows, down to 3/4 of the table. A note that gets calls again
// after it was retired becomes a second finding that counts from there.
func (a *nspiTracker) maybeRetireNotes() {
	if len(a.notes) < a.maxNoteKeys() {
		return
	}
	s := retiring()
	moveOldest(a.notes, s.notes, func(n *noteAcc) int { return n.ev.last.seq }, cmpNoteKey, a.maxNoteKeys()*3/4)
	p := a.reporterOf(s)
	p.findNotes()
	a.keepRetired(p)
	a.rt.rounds++
}

// maybeRetireAnon makes room in a full table of anonymous refusals followed
// by an authenticated bind, as maybeRetireNotes does for notes.
func (a *nspiTracker) maybeRetireAnon() {
	if len(a.anonDone) < a.maxAnonKeys() {
		return
	}
	s := retiring()
	moveOldest(a.anonDone, s.anonDone, func(r *refAcc) int { return r.ev.last.seq }, func(x, y refKey) int {
		if c := x.server.Compare(y.server); c != 0 {
			return c
		}
		if c := cmp.Compare(x.ukey, y.ukey); c != 0 {
			return c
		}
		return x.client.Compare(y.client)
	}, a.maxAnonKeys()*3/4)
	p := a.reporterOf(s)
	p.findLogonFailed()
	a.keepRetired(p)
	a.rt.anonExpected += p.anonExpected
	a.rt.rounds++
}

// moveOldest moves from from to to all but the keep entries whose last
// event came latest (ties in key order).
func moveOldest[K comparable, V any](from, to map[K]V, last func(V) int, cmpKey func(K, K) int, keep int) {
	keys := make([]K, 0, len(from))
	for k := range from {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y K) int {
		if c := cmp.Compare(last(from[x]), last(from[y])); c != 0 {
			return c
		}
		return cmpKey(x, y)
	})
	for _, k := range keys[:max(len(keys)-keep, 0)] {
		to[k] = from[k]
		delete(from, k)
	}
}

func cmpNoteKey(x, y noteKey) int {
	if c := cmp.Compare(x.kind, y.kind); c != 0 {
		return c
	}
	if c := x.server.Compare(y.server); c != 0 {
		return c
	}
	if c := cmp.Compare(x.ukey, y.ukey); c != 0 {
		return c
	}
	if c := x.client.Compare(y.client); c != 0 {
		return c
	}
	return cmp.Compare(x.sub, y.sub)
}

// pruneNames forgets the spelling of users that no row, open session or
// note being followed refers to: their rows have been rendered.
func (c *core) pruneNames() {
	live := make(map[string]bool, len(c.names))
	for _, f := range c.live {
		f(live)
	}
	for k := range c.names {
		if !live[k] {
			delete(c.names, k)
		}
	}
	for k, to := range c.redirect {
		if !live[to] {
			delete(c.redirect, k)
		}
	}
	clear(c.spell) // it would hide a user that comes back
}

// rowSet is what a reporter renders: all the tracker's rows, notes and
// refusals, or only those being retired.
type rowSet struct {
	users    map[gkey]*group
	clients  map[ckey]*group
	anonWait map[ckey]*anonWait
	anonDone map[refKey]*refAcc
	notes    map[noteKey]*noteAcc
	unans    map[uint64]*connNotes
}

// reporter returns a reporter of all of the tracker's findings.
func (a *nspiTracker) reporter() *reporter {
	return a.reporterOf(rowSet{users: a.users, clients: a.clients, anonWait: a.anonWait, anonDone: a.anonDone, notes: a.notes, unans: a.unans})
}

// retiring returns an empty rowSet, for the rows, notes or refusals being
// retired.
func retiring() rowSet {
	return rowSet{
		users: map[gkey]*group{}, clients: map[ckey]*group{},
		anonWait: map[ckey]*anonWait{}, anonDone: map[refKey]*refAcc{},
		notes: map[noteKey]*noteAcc{}, unans: map[uint64]*connNotes{},
	}
}

// reporterOf returns a reporter of the findings of rows.
func (a *nspiTracker) reporterOf(rows rowSet) *reporter {
	return &reporter{a: a, rows: rows, limit: a.opt.Limit, infos: map[gkey]*groupInfo{}, stable: map[*group]bool{}}
}

// retireUsers retires the given user rows, in that order: their findings
// are rendered together, by a reporter that sees only them.
func (a *nspiTracker) retireUsers(ks []gkey, gs []*group) {
	s := retiring()
	for i, k := range ks {
		s.users[k] = gs[i]
	}
	p := a.reporterOf(s)
	p.findLimits()
	p.findLeaks()
	p.findLogonFailed()
	a.keepRetired(p)
	for i, k := range ks {
		g := gs[i]
		g.stable = p.isStable(g)
		g.frozen = true
		g.leak.release()
		g.ref, g.leak = nil, nil
		c := g.c
		c.OpenAtEnd = g.held
		if len(a.rt.users) < a.opt.MaxRows {
			a.rt.users = append(a.rt.users, UserRow{Server: a.servers[k.server].name, User: a.name(k.who), Counters: c})
		}
		a.rt.nUsers++
		a.tl.retire(g, a.name(k.who))
		g.ser = nil
		delete(a.users, k)
	}
}

// retireClients retires the given client rows, as retireUsers does.
func (a *nspiTracker) retireClients(ks []ckey, gs []*group) {
	s := retiring()
	for i, k := range ks {
		s.clients[k] = gs[i]
	}
	p := a.reporterOf(s)
	p.findLeaks()
	a.keepRetired(p)
	for i, k := range ks {
		g := gs[i]
		g.frozen = true
		g.leak.release()
		g.leak = nil
		if len(a.rt.clients) < a.opt.MaxRows {
			c := g.c
			c.OpenAtEnd = g.held
			a.rt.clients = append(a.rt.clients, ClientRow{Server: a.servers[k.server].name, Client: g.clientStr, ClientAddress: addrString(k.client.behind()), Counters: c})
		}
		a.rt.nClients++
		a.tl.retire(g, "")
		g.ser = nil
		delete(a.clients, k)
	}
}

// keepRetired keeps the findings p rendered, with their verdict sentences
// for a report of one server and of several, up to Options.MaxFindings:
// beyond, a finding of lower severity makes room for one of higher, and
// what is left out is counted by kind.
func (a *nspiTracker) keepRetired(p *reporter) {
	slices.SortStableFunc(p.findings, cmpFinding)
	for _, f := range p.findings {
		p.on = onNever
		f.vline[0], f.vok[0] = p.verdictLine(f)
		p.on = onAlways
		f.vline[1], f.vok[1] = p.verdictLine(f)
		f.retired = true
		a.rt.keep(f, a.opt.MaxFindings)
	}
}

// keep adds f to the retired findings, up to max: beyond, f replaces the
// last kept finding of the lowest severity if that is lower than f's, and
// what is left out is counted by kind.
func (rt *retired) keep(f *Finding, max int) {
	rank := sevRank(f.Severity)
	if len(rt.findings) < max {
		rt.findings = append(rt.findings, f)
		rt.bySev[rank]++
		return
	}
	if rt.dropped == nil {
		rt.dropped = map[string]int{}
	}
	low := 2
	for low > 0 && rt.bySev[low] == 0 {
		low--
	}
	if low <= rank {
		rt.dropped[f.Kind]++
		return
	}
	worst := len(rt.findings) - 1
	for sevRank(rt.findings[worst].Severity) != low {
		worst--
	}
	rt.dropped[rt.findings[worst].Kind]++
	rt.bySev[low]--
	rt.findings = append(rt.findings[:worst], rt.findings[worst+1:]...)
	rt.findings = append(rt.findings, f)
	rt.bySev[rank]++
}
