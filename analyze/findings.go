package analyze

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// maxFrames bounds Finding.Frames: the first maxFrames-1 and the last.
	maxFrames = 11
	// leakMin is the number of never-unbound sessions that must be held at
	// once before a user (or an anonymous client) is said to leak.
	leakMin = 3
	// stableMin is the number of authenticated refusals at one steady count
	// that make a session limit even below 80% of the limit.
	stableMin = 3
)

const registryHint = `"NSPI max sessions per user" under HKLM\System\CurrentControlSet\Services\NTDS\Parameters`

// groupInfo gathers, per (server, user), what the verdict needs.
type groupInfo struct {
	server netip.Addr
	ukey   string
	client peer // for anonymous leak groups
	limit  *Finding
	leak   *Finding
	// firstLimitOrdinal is the ordinal of the first bind refused for the
	// session limit.
	firstLimitOrdinal int
	limitHeld         [2]int // min and max held at the refusals
	limitCount        int
	leakOpen          int
	leakNever         int
	leakClosed        int
	leakPeak          int
}

// reporter builds one Report from the state of an Analyzer, without
// changing it.
type reporter struct {
	a            *nspiTracker
	rows         rowSet // what it renders
	limit        int
	findings     []*Finding
	infos        map[gkey]*groupInfo
	anonLeaks    []*groupInfo
	anonExpected int // anonymous refusals followed by an authenticated bind
	stable       map[*group]bool
	on           int // onAuto, onNever or onAlways (verdictLine)
	logonAgg     map[string]logonAgg
}

func (p *reporter) build(streamed bool) *Report {
	a := p.a
	r := &Report{
		Schema:   Schema,
		Limit:    p.limit,
		Totals:   a.total,
		Users:    []UserRow{},
		Clients:  []ClientRow{},
		Sessions: []Session{},
		Refusals: []Refusal{},
		Findings: []Finding{},
	}
	// Sessions still open at the end.
	r.Totals.OpenAtEnd = a.held + a.rt.forgottenOpen
	// The rows are built in place: a busy DC has tens of thousands, and
	// the report is where the run's memory peaks.
	r.Users = make([]UserRow, len(a.rt.users), len(a.rt.users)+len(p.rows.users))
	copy(r.Users, a.rt.users)
	for k, g := range p.rows.users {
		c := g.c
		c.OpenAtEnd = g.held
		r.Users = append(r.Users, UserRow{Server: a.servers[k.server].name, User: a.name(k.who), Counters: c})
		a.fillRow(&r.Users[len(r.Users)-1], k.who)
	}
	if len(a.twins) > 0 {
		live := r.Users[len(a.rt.users):]
		sort.Slice(live, func(i, j int) bool {
			return live[i].Binds > live[j].Binds || live[i].Binds == live[j].Binds && live[i].User < live[j].User
		})
		r.Users = r.Users[:len(a.rt.users)+len(mergeAccountRows(live))]
	}
	// Stable: a user that came back after its row was retired has two rows,
	// the retired one first.
	sort.SliceStable(r.Users, func(i, j int) bool {
		a, b := r.Users[i], r.Users[j]
		if a.Server == b.Server && a.User == "" && b.User == "" && a.Ticket != b.Ticket {
			return a.Ticket != "" && (b.Ticket == "" || a.Ticket < b.Ticket) // tickets by label, the row without a name last
		}
		return userRowLess(a.Server, a.User, b.Server, b.User)
	})
	r.Clients = make([]ClientRow, len(a.rt.clients), len(a.rt.clients)+len(p.rows.clients))
	copy(r.Clients, a.rt.clients)
	for k, g := range p.rows.clients {
		c := g.c
		c.OpenAtEnd = g.held
		r.Clients = append(r.Clients, ClientRow{Server: a.servers[k.server].name, Client: g.clientStr, ClientAddress: addrString(k.client.behind()), Counters: c})
	}
	sort.SliceStable(r.Clients, func(i, j int) bool {
		a, b := r.Clients[i], r.Clients[j]
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		if a.Client != b.Client {
			return addrLess(a.Client, b.Client)
		}
		return addrLess(a.ClientAddress, b.ClientAddress)
	})

	// Records are in capture order: a stable sort by time keeps it for
	// equal times.
	p.stable = map[*group]bool{}
	l := newLists(a, &reporter{a: a, rows: p.rows, stable: p.stable})
	if streamed {
		r.lists = l
	} else {
		r.Sessions = make([]Session, len(l.sess))
		for j := range r.Sessions {
			r.Sessions[j] = l.session(j)
		}
		r.Refusals = make([]Refusal, len(l.refs))
		for j := range r.Refusals {
			r.Refusals[j] = l.refusal(j)
		}
	}

	p.anonExpected = a.rt.anonExpected
	for _, f := range a.rt.findings {
		c := *f
		p.findings = append(p.findings, &c)
	}
	p.findLimits()
	p.findLeaks()
	p.findLogonFailed()
	p.findNotes()
	for _, f := range p.findings {
		r.Findings = append(r.Findings, *f)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return cmpFinding(&a, &b) })
	return r
}

// cmpFinding orders findings as the report lists them: most severe first,
// then by the event that made them.
func cmpFinding(a, b *Finding) int {
	if c := cmp.Compare(sevRank(a.Severity), sevRank(b.Severity)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return cmp.Compare(a.Message, b.Message)
}

// isStable tells whether the authenticated refusals of a user below 80% of
// the limit are session_limit all the same: at least stableMin, all at the
// same count of at least 2 that the user never exceeded.
func (p *reporter) isStable(g *group) bool {
	if g.frozen {
		return g.stable
	}
	if v, ok := p.stable[g]; ok {
		return v
	}
	rs := g.ref
	v := rs != nil && rs.auth.ev.n >= stableMin && rs.authSame && rs.authH >= 2 && rs.authH >= g.peakTotal
	p.stable[g] = v
	return v
}

func addrLess(a, b string) bool {
	pa, ea := netip.ParseAddr(a)
	pb, eb := netip.ParseAddr(b)
	if ea == nil && eb == nil {
		return pa.Less(pb)
	}
	return a < b
}

func sevRank(s string) int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

func (p *reporter) info(server netip.Addr, ukey string) *groupInfo {
	k := gkey{server, ukey}
	gi := p.infos[k]
	if gi == nil {
		gi = &groupInfo{server: server, ukey: ukey}
		p.infos[k] = gi
	}
	return gi
}

// newFinding builds a finding from its evidence.
func (p *reporter) newFinding(kind, sev string, server netip.Addr, ukey string, client peer, ev *evAcc, msg string) *Finding {
	f := p.a.evFinding(kind, sev, server, ukey, client, ev, msg)
	p.findings = append(p.findings, f)
	return f
}

func (p *reporter) who(ukey string) string {
	if ukey == "" {
		return "an unidentified user"
	}
	if t := p.a.ticketOf(ukey); t != "" {
		return ticketWho(t)
	}
	return string(p.a.name(ukey))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func ordinal(n int) string {
	suf := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suf = "st"
	case n%10 == 2:
		suf = "nd"
	case n%10 == 3:
		suf = "rd"
	}
	return fmt.Sprintf("%d%s", n, suf)
}

func heldRange(lo, hi int) string {
	if lo == hi {
		return plural(lo, "session", "sessions")
	}
	return fmt.Sprintf("%d to %d sessions", lo, hi)
}

func (p *reporter) findLimits() {
	for k, g := range p.rows.users {
		if g.ref == nil {
			continue
		}
		lim := g.ref.high.clone()
		if p.isStable(g) {
			lim.merge(&g.ref.auth)
		}
		if lim.ev.n == 0 {
			continue
		}
		gi := p.info(k.server, k.who)
		lo, hi, before, n := lim.lo, lim.hi, lim.before, lim.ev.n
		gi.firstLimitOrdinal = lim.firstOrd
		gi.limitHeld = [2]int{lo, hi}
		gi.limitCount = n
		var b strings.Builder
		fmt.Fprintf(&b, "%s was refused %s on %s with MAPI_E_LOGON_FAILED (0x80040111) while it held %s (limit %d): the domain controller's per-user NSPI session limit. The first refusal was its %s NspiBind.",
			p.who(k.who), plural(n, "NspiBind", "NspiBind calls"), k.server, heldRange(lo, hi), p.limit, ordinal(lim.firstOrd))
		if before > 0 {
			fmt.Fprintf(&b, " That count includes %s bound before the capture began.", plural(before, "session", "sessions"))
		}
		if hi*5 < p.limit*4 {
			fmt.Fprintf(&b, " The refusals began at a steady count below the limit of %d: sessions opened before the capture are not visible here, or the limit on this DC is set lower.", p.limit)
		}
		fmt.Fprintf(&b, " The lasting fix is in the client that binds without calling NspiUnbind: make it unbind (or reuse its session), or restart it to release its sessions. As a stopgap, raise %s on the DC.", registryHint)
		if isTicketKey(k.who) {
			b.WriteString(ticketAdvice)
		}
		f := p.newFinding(KindSessionLimit, SevError, k.server, k.who, lim.cl.one(), &lim.ev, sentenceStart(b.String()))
		f.Cause = CauseSessionLimit
		markInferred(f, &lim)
		gi.limit = f
	}
}

// findLeaks looks, per (server, user) and for anonymous sessions per
// (server, client), at the sessions that were never unbound. It runs after
// findLimits.
func (p *reporter) findLeaks() {
	for _, g := range p.rows.users {
		if g.leak != nil {
			p.findLeak(g.leak)
		}
	}
	for _, g := range p.rows.clients {
		if g.leak != nil {
			p.findLeak(g.leak)
		}
	}
}

func (p *reporter) findLeak(l *leakSeries) {
	res := l.result()
	if res.never == 0 || res.peak < leakMin {
		return
	}
	open, closed, peak, rate := res.open, res.closed, res.peak, res.rate
	a := p.a
	ug := p.rows.users[gkey{l.server, l.ukey}]
	gi := p.info(l.server, l.ukey)
	if l.anon() {
		gi = &groupInfo{server: l.server, client: l.client}
	}
	gi.leakNever, gi.leakOpen, gi.leakClosed, gi.leakPeak = res.never, open, closed, peak

	who := p.who(l.ukey)
	if l.anon() {
		who = "Anonymous sessions from " + l.client.String()
	}
	var b strings.Builder
	var parts []string
	if open > 0 {
		parts = append(parts, fmt.Sprintf("%d still open at the end of the capture", open))
	}
	if closed > 0 {
		parts = append(parts, fmt.Sprintf("%d released only when their connection closed", closed))
	}
	fate := strings.Join(parts, ", ")
	if l.anon() {
		cg := p.rows.clients[ckey{l.server, l.client}]
		fmt.Fprintf(&b, "%s to %s: %d never unbound (%s); up to %d held at once; the client made %d NspiUnbind calls in all.",
			who, l.server, res.never, fate, peak, cg.c.Unbinds)
	} else {
		fmt.Fprintf(&b, "%s bound %s on %s and unbound %d: %d never unbound (%s); up to %d held at once.",
			who, plural(ug.c.BindsOK, "session", "sessions"), l.server, ug.c.Unbinds, res.never, fate, peak)
	}
	if !l.anon() {
		b.WriteString(proxied(" The sessions never unbound came from ", res.client))
		if res.client.behind().IsValid() {
			b.WriteString(".")
		}
	}
	if l.ukey == "" && l.cut {
		b.WriteString(" The capture's snap length cut the user name from their binds: they are authenticated, not anonymous.")
	}
	sev := SevWarning
	var limitAt *time.Time
	switch {
	case rate > 0 && res.span < minRateSpan:
		// A burst: say what happened, a rate per hour would extrapolate.
		rate = 0
		fmt.Fprintf(&b, " They piled up within %s, too short a time to give a rate per hour.", fmtSpan(res.span))
	case rate > 0:
		rate = math.Round(rate*100) / 100
		fmt.Fprintf(&b, " They grew by %s sessions per hour.", fmtRate(rate))
	}
	heldNow := 0 // of a user; anonymous sessions have no user row
	if ug != nil {
		heldNow = ug.held + ug.ghosts
	}
	switch {
	case gi.limit != nil:
		sev = SevError
		fmt.Fprintf(&b, " The DC refused its binds at the limit (see session_limit).")
	case l.ukey != "" && rate > 0 && heldNow < p.limit && open > 0:
		d := time.Duration(float64(p.limit-heldNow) / rate * float64(time.Hour)).Round(time.Minute)
		at := a.lastTime.Add(d).UTC()
		limitAt = &at
		fmt.Fprintf(&b, " At that rate, holding %d now, it reaches the limit of %d in about %s (around %s).", heldNow, p.limit, fmtDur(d), at.Format("2006-01-02 15:04 UTC"))
	}
	fmt.Fprintf(&b, " Find the process that binds without calling NspiUnbind and fix it (or restart it to release its sessions); raising %s only delays the failure.", registryHint)
	if isTicketKey(l.ukey) {
		b.WriteString(ticketAdvice)
	}
	if res.inferred > 0 {
		fmt.Fprintf(&b, " Inferred, not decoded: %d of the %d sessions never unbound come from sealed binds without a key, taken as accepted because the client went on with NSPI calls (give --keys or --keytab to decode).", res.inferred, res.never)
	}
	f := p.newFinding(KindLeak, sev, l.server, l.ukey, res.client, &res.ev, sentenceStart(b.String()))
	f.StatusInferred = res.inferred > 0
	f.RatePerHour = rate
	f.LimitAt = limitAt
	gi.leak = f
	if l.anon() {
		f.anon = true
		p.anonLeaks = append(p.anonLeaks, gi)
	}
}

// minRateSpan is the shortest time over which a leak is given a rate per
// hour and a time to the limit: over a shorter burst, the rate of a few
// seconds would be extrapolated to hours.
const minRateSpan = 5 * time.Minute

// fmtSpan says a short duration as people read it: "0.6 s", "42 s",
// "3 min 10 s".
func fmtSpan(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(math.Round(d.Seconds()*10)/10, 'f', -1, 64) + " s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%d min %d s", int(d/time.Minute), int(d%time.Minute/time.Second))
}

func fmtRate(r float64) string {
	s := fmt.Sprintf("%.2f", r)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%02dm", h, m)
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute", "minutes")
	}
	return "less than a minute"
}

func (p *reporter) findLogonFailed() {
	for k, g := range p.rows.users {
		if g.ref == nil || p.isStable(g) {
			continue
		}
		for client, acc := range g.ref.other {
			n := acc.ev.n
			sev := SevError
			if g.lastOKSeq > acc.ev.last.seq {
				sev = SevWarning
			}
			held := "only " + heldRange(acc.lo, acc.hi)
			if acc.hi == 0 {
				held = "no session"
			}
			msg := fmt.Sprintf("%s by %s from %s to %s %s refused with MAPI_E_LOGON_FAILED while the user held %s (limit %d): not the session limit. Check the account (disabled, locked out, expired password, logon restrictions) and the DC's Directory Service event log (set the NTDS diagnostics value \"4 MAPI Interface Events\" to 5 to log the reason).",
				plural(n, "NspiBind", "NspiBind calls"), p.who(k.who), client, k.server, wasWere(n), held, p.limit)
			if sev == SevWarning {
				// The account works: say so, as the verdict does.
				msg = fmt.Sprintf("%s by %s from %s to %s %s refused with MAPI_E_LOGON_FAILED while the user held %s (limit %d), and a later bind by the same user succeeded: not the session limit, and the account can log on. Look at the account and the DC's Directory Service event log (the NTDS diagnostics value \"4 MAPI Interface Events\" at 5 logs the reason) only if this repeats.",
					plural(n, "NspiBind", "NspiBind calls"), p.who(k.who), client, k.server, wasWere(n), held, p.limit)
			}
			f := p.newFinding(KindLogonFailed, sev, k.server, k.who, client, &acc.ev, msg)
			f.Cause = CauseOther
			markInferred(f, acc)
		}
	}
	anon := func(k refKey, acc *refAcc, followed bool) {
		n := acc.ev.n
		var sev, msg string
		if followed {
			sev = SevInfo
			msg = fmt.Sprintf("%s without credentials from %s to %s %s refused with MAPI_E_LOGON_FAILED, and the client then bound with credentials, as Outlook does. Expected; nothing to do.",
				plural(n, "NspiBind", "NspiBind calls"), k.client, k.server, wasWere(n))
			p.anonExpected += n
		} else {
			sev = SevWarning
			msg = fmt.Sprintf("%s without credentials from %s to %s %s refused with MAPI_E_LOGON_FAILED, and the client did not bind with credentials afterwards in the capture. Check that the client authenticates (its logon network security setting, and that it can get NTLM or Kerberos credentials for the DC).",
				plural(n, "NspiBind", "NspiBind calls"), k.client, k.server, wasWere(n))
		}
		f := p.newFinding(KindLogonFailed, sev, k.server, k.ukey, k.client, &acc.ev, msg)
		f.Cause = CauseAnonymous
		markInferred(f, acc)
	}
	for k, acc := range p.rows.anonDone {
		anon(k, acc, true)
	}
	for ck, w := range p.rows.anonWait {
		for _, u := range w.users {
			anon(refKey{ck.server, u, ck.client}, w.accs[u], false)
		}
	}
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func (p *reporter) byWhom(ukey string) string {
	if ukey == "" {
		return ""
	}
	return " by " + string(p.a.name(ukey))
}

func (p *reporter) findNotes() {
	a := p.a
	notes := p.rows.notes
	if len(p.rows.unans) > 0 {
		// The unanswered calls of connections that have not ended: info.
		notes = make(map[noteKey]*noteAcc, len(p.rows.notes))
		for k, n := range p.rows.notes {
			notes[k] = n
		}
		conns := make([]uint64, 0, len(p.rows.unans))
		for c := range p.rows.unans {
			conns = append(conns, c)
		}
		sort.Slice(conns, func(i, j int) bool { return conns[i] < conns[j] })
		copied := map[noteKey]bool{}
		for _, c := range conns {
			cn := p.rows.unans[c]
			for i, k := range cn.keys {
				k.sub = SevInfo
				n := notes[k]
				switch {
				case n == nil:
					n = cn.accs[i].clone()
					notes[k] = n
				case !copied[k]:
					n = n.clone()
					notes[k] = n
					n.merge(cn.accs[i])
				default:
					n.merge(cn.accs[i])
				}
				copied[k] = true
			}
		}
	}
	for k, g := range notes {
		n := g.ev.n
		switch k.kind {
		case noteBindFailed:
			msg := fmt.Sprintf("%s%s from %s to %s failed other than by a logon refusal (%s). Check the client's RPC authentication and the account's rights for MAPI_E_NO_ACCESS, the DC's health for faults.",
				plural(n, "NspiBind", "NspiBind calls"), p.byWhom(k.ukey), k.client, k.server, g.what.String())
			p.newFinding(KindBindFailed, SevWarning, k.server, k.ukey, k.client, &g.ev, msg)
		case noteUnbindFailed:
			msg := fmt.Sprintf("%s%s from %s to %s failed (%s). A fault leaves the session open on the server; UnbindFailure (2) means the server no longer knew the handle.",
				plural(n, "NspiUnbind", "NspiUnbind calls"), p.byWhom(k.ukey), k.client, k.server, g.what.String())
			p.newFinding(KindUnbindFailed, SevWarning, k.server, k.ukey, k.client, &g.ev, msg)
		case noteUnbindUnknown:
			hs, many := g.handles.text()
			var msg string
			if k.sub == SevWarning {
				ww := "was"
				if many {
					ww = "were"
				}
				msg = fmt.Sprintf("%s%s from %s to %s named %s that %s not open: unbound or run down already, or refused by the server (UnbindFailure). A client that unbinds a handle twice has a bug in its session bookkeeping.",
					plural(n, "NspiUnbind", "NspiUnbind calls"), p.byWhom(k.ukey), k.client, k.server, hs, ww)
			} else {
				msg = fmt.Sprintf("%s%s from %s to %s named %s the capture never saw bound: sessions opened before the capture began. They are not in the session list nor in the peaks; start the capture before the client to see them.",
					plural(n, "NspiUnbind", "NspiUnbind calls"), p.byWhom(k.ukey), k.client, k.server, hs)
			}
			p.newFinding(KindUnbindUnknownHandle, k.sub, k.server, k.ukey, k.client, &g.ev, msg)
		case noteCallUnknown:
			calls := plural(n, "NSPI call", "NSPI calls")
			hs, many := g.handles.text()
			its := "its"
			if many {
				its = "their"
			}
			kind, sev := KindCallAfterEnd, SevWarning
			var msg string
			switch k.sub {
			case "before":
				kind, sev = KindSessionBeforeCapture, SevInfo
				msg = fmt.Sprintf("%s%s from %s to %s used %s the capture never saw bound: sessions opened before the capture began. The session counts and peaks of this user are lower bounds; start the capture before the client to see the binds.",
					calls, p.byWhom(k.ukey), k.client, k.server, hs)
			case "after_fault":
				sev = SevInfo
				msg = fmt.Sprintf("%s%s from %s to %s used %s after %s session ended, and the server answered with a fault: it had freed the session, as expected once NspiUnbind ran or the connections closed. The client then has to bind again; nothing to do unless this repeats.",
					calls, p.byWhom(k.ukey), k.client, k.server, hs, its)
			default:
				msg = fmt.Sprintf("%s%s from %s to %s used %s after %s session ended (NspiUnbind, or its connections closed), and the server did not refuse them: the server kept the session alive on a connection the capture did not see, or the client uses a session it released.",
					calls, p.byWhom(k.ukey), k.client, k.server, hs, its)
			}
			p.newFinding(kind, sev, k.server, k.ukey, k.client, &g.ev, msg)
		case noteUnanswered:
			msg := fmt.Sprintf("%s from %s to %s got no answer in the capture (%s).",
				plural(n, "NSPI call", "NSPI calls"), k.client, k.server, g.what.String())
			if k.sub == SevWarning {
				msg += " Their connection closed before the answer: the server dropped them or the client gave up; look at the server's load and at the frames around them."
			} else {
				msg += " The capture ended, or stopped following the connection, before the answer: capture longer to see it."
			}
			p.newFinding(KindUnansweredCall, k.sub, k.server, "", k.client, &g.ev, msg)
		}
	}
	for addr, s := range a.servers {
		n := s.sealed.n
		if n == 0 {
			continue
		}
		msg := fmt.Sprintf("%s to %s %s encrypted (RPC privacy) and not decrypted: their status and context handles could not be read, so sessions on them are not counted and the numbers for this server are lower bounds.",
			plural(n, "NSPI call", "NSPI calls"), addr, wasWere(n))
		p.newFinding(KindSealedCalls, SevInfo, addr, "", peer{}, &s.sealed, msg)
	}
}

func (p *reporter) anonPeak(server netip.Addr, client peer) int {
	for _, gi := range p.anonLeaks {
		if gi.server == server && gi.client == client {
			return gi.leakPeak
		}
	}
	return 0
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// userRowLess orders rows by server, then named users by name
// (case-insensitive), the row of calls without a name last.
func userRowLess(serverA string, userA NullString, serverB string, userB NullString) bool {
	if serverA != serverB {
		return addrLess(serverA, serverB)
	}
	if (userA == "") != (userB == "") {
		return userB == ""
	}
	return strings.ToLower(string(userA)) < strings.ToLower(string(userB))
}
