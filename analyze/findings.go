package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
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
	client netip.Addr // for anonymous leak groups
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

func (p *pass) finish() *Report {
	// Sessions still open at the end.
	for _, s := range p.sessions {
		if s.open && !s.ghost {
			p.count(s.key.server, s.ukey, s.client, func(c *Counters) { c.OpenAtEnd++ })
		}
	}
	r := &Report{
		Schema:   Schema,
		Limit:    p.limit,
		Totals:   p.total,
		Users:    []UserRow{},
		Clients:  []ClientRow{},
		Sessions: []Session{},
		Refusals: []Refusal{},
		Findings: []Finding{},
	}
	for k, g := range p.users {
		r.Users = append(r.Users, UserRow{Server: k.server.String(), User: p.name(k.who), Counters: g.c})
	}
	sort.Slice(r.Users, func(i, j int) bool {
		a, b := r.Users[i], r.Users[j]
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		// Named users by name, the anonymous row last.
		if (a.User == "") != (b.User == "") {
			return b.User == ""
		}
		return strings.ToLower(string(a.User)) < strings.ToLower(string(b.User))
	})
	for k, g := range p.clients {
		r.Clients = append(r.Clients, ClientRow{Server: k.server.String(), Client: k.who, Counters: g.c})
	}
	sort.Slice(r.Clients, func(i, j int) bool {
		a, b := r.Clients[i], r.Clients[j]
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		return addrLess(a.Client, b.Client)
	})
	var ss []*sess
	for _, s := range p.sessions {
		if !s.ghost {
			ss = append(ss, s)
		}
	}
	sort.SliceStable(ss, func(i, j int) bool {
		if !ss[i].BindTime.Equal(ss[j].BindTime) {
			return ss[i].BindTime.Before(ss[j].BindTime)
		}
		return ss[i].seq < ss[j].seq
	})
	for _, s := range ss {
		r.Sessions = append(r.Sessions, s.Session)
	}

	p.classify()
	sort.SliceStable(p.refusals, func(i, j int) bool {
		if !p.refusals[i].Time.Equal(p.refusals[j].Time) {
			return p.refusals[i].Time.Before(p.refusals[j].Time)
		}
		return p.refusals[i].seq < p.refusals[j].seq
	})
	for _, rf := range p.refusals {
		r.Refusals = append(r.Refusals, rf.Refusal)
	}

	p.infos = map[gkey]*groupInfo{}
	p.findLimits()
	p.findLeaks()
	p.findLogonFailed()
	p.findNotes()
	for _, f := range p.findings {
		r.Findings = append(r.Findings, *f)
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := &r.Findings[i], &r.Findings[j]
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
	return r
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

// classify gives each refusal its cause (see doc.go).
func (p *pass) classify() {
	byGroup := map[gkey][]*refusal{}
	var order []gkey
	for _, r := range p.refusals {
		r.followed = p.lastAuthBind[[2]netip.Addr{r.server, r.client}] > r.seq
		k := gkey{r.server, r.ukey}
		if _, ok := byGroup[k]; !ok {
			order = append(order, k)
		}
		byGroup[k] = append(byGroup[k], r)
	}
	for _, k := range order {
		g := p.users[k]
		var auth []*refusal
		for _, r := range byGroup[k] {
			switch {
			case r.Anonymous:
				r.Cause = CauseAnonymous
			case (r.Held+r.HeldBeforeCapture)*5 >= p.limit*4:
				r.Cause = CauseSessionLimit
			default:
				r.Cause = CauseOther
				auth = append(auth, r)
			}
		}
		// Refusals that begin at a steady count: the user never held more
		// than that count, and every refusal saw it.
		if len(auth) >= stableMin {
			h := auth[0].Held + auth[0].HeldBeforeCapture
			stable := h >= 2 && h >= g.peakTotal
			for _, r := range auth {
				if r.Held+r.HeldBeforeCapture != h {
					stable = false
				}
			}
			if stable {
				for _, r := range auth {
					r.Cause = CauseSessionLimit
				}
			}
		}
	}
}

func (p *pass) info(server netip.Addr, ukey string) *groupInfo {
	k := gkey{server, ukey}
	gi := p.infos[k]
	if gi == nil {
		gi = &groupInfo{server: server, ukey: ukey}
		p.infos[k] = gi
	}
	return gi
}

// newFinding builds a finding from its evidence (in capture order).
func (p *pass) newFinding(kind, sev string, server netip.Addr, ukey string, client netip.Addr, ev []evidence, msg string) *Finding {
	f := &Finding{Kind: kind, Severity: sev, User: p.name(ukey), Count: len(ev), Message: msg}
	if server.IsValid() {
		f.Server = NullString(server.String())
	}
	if client.IsValid() {
		f.Client = NullString(client.String())
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].seq < ev[j].seq })
	f.Frames = []FrameRef{}
	for i, e := range ev {
		if i < maxFrames-1 || i == len(ev)-1 {
			f.Frames = append(f.Frames, e.frame)
		}
	}
	if len(ev) > 0 {
		f.seq = ev[0].seq
	}
	if len(ev) > maxFrames {
		f.Message += fmt.Sprintf(" Frames: the first %d and the last of %d.", maxFrames-1, len(ev))
	}
	p.findings = append(p.findings, f)
	return f
}

// oneClient returns the client when all are the same, else an invalid Addr.
func oneClient(cs []netip.Addr) netip.Addr {
	var c netip.Addr
	for i, x := range cs {
		if i == 0 {
			c = x
		} else if x != c {
			return netip.Addr{}
		}
	}
	return c
}

func (p *pass) who(ukey string) string {
	if ukey == "" {
		return "an unidentified user"
	}
	return p.names[ukey]
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

func (p *pass) findLimits() {
	byGroup := map[gkey][]*refusal{}
	var order []gkey
	for _, r := range p.refusals {
		if r.Cause != CauseSessionLimit {
			continue
		}
		k := gkey{r.server, r.ukey}
		if _, ok := byGroup[k]; !ok {
			order = append(order, k)
		}
		byGroup[k] = append(byGroup[k], r)
	}
	for _, k := range order {
		rs := byGroup[k]
		gi := p.info(k.server, k.who)
		lo, hi, before := math.MaxInt, 0, 0
		var ev []evidence
		var cs []netip.Addr
		for _, r := range rs {
			h := r.Held + r.HeldBeforeCapture
			lo, hi = min(lo, h), max(hi, h)
			before = max(before, r.HeldBeforeCapture)
			ev = append(ev, evidence{r.seq, r.ReplyFrame})
			cs = append(cs, r.client)
		}
		gi.firstLimitOrdinal = rs[0].Ordinal
		gi.limitHeld = [2]int{lo, hi}
		gi.limitCount = len(rs)
		var b strings.Builder
		fmt.Fprintf(&b, "%s was refused %s on %s with MAPI_E_LOGON_FAILED (0x80040111) while it held %s (limit %d): the domain controller's per-user NSPI session limit. The first refusal was its %s NspiBind.",
			p.who(k.who), plural(len(rs), "NspiBind", "NspiBind calls"), k.server, heldRange(lo, hi), p.limit, ordinal(rs[0].Ordinal))
		if before > 0 {
			fmt.Fprintf(&b, " That count includes %s bound before the capture began.", plural(before, "session", "sessions"))
		}
		if hi*5 < p.limit*4 {
			fmt.Fprintf(&b, " The refusals began at a steady count below the limit of %d: sessions opened before the capture are not visible here, or the limit on this DC is set lower.", p.limit)
		}
		fmt.Fprintf(&b, " The lasting fix is in the client that binds without calling NspiUnbind: make it unbind (or reuse its session), or restart it to release its sessions. As a stopgap, raise %s on the DC.", registryHint)
		f := p.newFinding(KindSessionLimit, SevError, k.server, k.who, oneClient(cs), ev, b.String())
		f.Cause = CauseSessionLimit
		gi.limit = f
	}
}

// findLeaks looks, per (server, user) and for anonymous sessions per
// (server, client), at the sessions that were never unbound.
func (p *pass) findLeaks() {
	type lg struct {
		server netip.Addr
		ukey   string
		client netip.Addr
		ss     []*sess
	}
	groups := map[gkey]*lg{}
	var order []gkey
	for _, s := range p.sessions {
		if s.ghost || s.End == EndUnbind {
			continue
		}
		k := gkey{s.key.server, s.ukey}
		if s.ukey == "" {
			k.who = "@" + s.client.String()
		}
		g := groups[k]
		if g == nil {
			g = &lg{server: s.key.server, ukey: s.ukey}
			if s.ukey == "" {
				g.client = s.client
			}
			groups[k] = g
			order = append(order, k)
		}
		g.ss = append(g.ss, s)
	}
	for _, k := range order {
		g := groups[k]
		// The number of never-unbound sessions held, after each change.
		type change struct {
			seq int
			t   time.Time
			d   int
		}
		var ch []change
		open, closed := 0, 0
		var ev []evidence
		var cs []netip.Addr
		for _, s := range g.ss {
			ch = append(ch, change{s.seq, s.BindTime, +1})
			ev = append(ev, evidence{s.seq, s.BindFrame})
			cs = append(cs, s.client)
			if s.End == EndConnectionClosed {
				closed++
				ch = append(ch, change{s.endSeq, *s.EndTime, -1})
			} else {
				open++
			}
		}
		sort.SliceStable(ch, func(i, j int) bool { return ch[i].seq < ch[j].seq })
		n, peak := 0, 0
		var xs, ys []float64
		t0 := ch[0].t
		for _, c := range ch {
			n += c.d
			peak = max(peak, n)
			xs = append(xs, c.t.Sub(t0).Hours())
			ys = append(ys, float64(n))
		}
		if peak < leakMin {
			continue
		}
		rate := slope(xs, ys)
		ug := p.users[gkey{g.server, g.ukey}]
		gi := p.info(g.server, g.ukey)
		if g.ukey == "" {
			gi = &groupInfo{server: g.server, client: g.client}
		}
		gi.leakNever, gi.leakOpen, gi.leakClosed, gi.leakPeak = len(g.ss), open, closed, peak

		who := p.who(g.ukey)
		if g.ukey == "" {
			who = "Anonymous sessions from " + g.client.String()
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
		if g.ukey == "" {
			cg := p.clients[gkey{g.server, g.client.String()}]
			fmt.Fprintf(&b, "%s to %s: %d never unbound (%s); up to %d held at once; the client made %d NspiUnbind calls in all.",
				who, g.server, len(g.ss), fate, peak, cg.c.Unbinds)
		} else {
			fmt.Fprintf(&b, "%s bound %s on %s and unbound %d: %d never unbound (%s); up to %d held at once.",
				who, plural(ug.c.BindsOK, "session", "sessions"), g.server, ug.c.Unbinds, len(g.ss), fate, peak)
		}
		sev := SevWarning
		var limitAt *time.Time
		if rate > 0 {
			rate = math.Round(rate*100) / 100
			fmt.Fprintf(&b, " They grew by %s sessions per hour.", fmtRate(rate))
		}
		heldNow := ug.held + ug.ghosts
		switch {
		case gi.limit != nil:
			sev = SevError
			fmt.Fprintf(&b, " The DC refused its binds at the limit (see session_limit).")
		case g.ukey != "" && rate > 0 && heldNow < p.limit && open > 0:
			d := time.Duration(float64(p.limit-heldNow) / rate * float64(time.Hour)).Round(time.Minute)
			at := p.lastTime.Add(d).UTC()
			limitAt = &at
			fmt.Fprintf(&b, " At that rate, holding %d now, it reaches the limit of %d in about %s (around %s).", heldNow, p.limit, fmtDur(d), at.Format("2006-01-02 15:04 UTC"))
		}
		fmt.Fprintf(&b, " Find the process that binds without calling NspiUnbind and fix it (or restart it to release its sessions); raising %s only delays the failure.", registryHint)
		f := p.newFinding(KindLeak, sev, g.server, g.ukey, oneClient(cs), ev, b.String())
		f.RatePerHour = rate
		f.LimitAt = limitAt
		gi.leak = f
		if g.ukey == "" {
			p.anonLeaks = append(p.anonLeaks, gi)
		}
	}
}

// slope is the least-squares slope of ys over xs; 0 when xs do not vary.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den <= 1e-12 {
		return 0
	}
	return (n*sxy - sx*sy) / den
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
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return "less than a minute"
}

func (p *pass) findLogonFailed() {
	type key struct {
		server   netip.Addr
		ukey     string
		client   netip.Addr
		cause    string
		followed bool
	}
	groups := map[key][]*refusal{}
	var order []key
	for _, r := range p.refusals {
		if r.Cause == CauseSessionLimit {
			continue
		}
		k := key{r.server, r.ukey, r.client, r.Cause, r.Cause == CauseAnonymous && r.followed}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range order {
		rs := groups[k]
		var ev []evidence
		lo, hi := math.MaxInt, 0
		for _, r := range rs {
			ev = append(ev, evidence{r.seq, r.ReplyFrame})
			h := r.Held + r.HeldBeforeCapture
			lo, hi = min(lo, h), max(hi, h)
		}
		var sev, msg string
		n := plural(len(rs), "NspiBind", "NspiBind calls")
		switch {
		case k.cause == CauseAnonymous && k.followed:
			sev = SevInfo
			msg = fmt.Sprintf("%s without credentials from %s to %s %s refused with MAPI_E_LOGON_FAILED, and the client then bound with credentials, as Outlook does. Expected; nothing to do.",
				n, k.client, k.server, wasWere(len(rs)))
		case k.cause == CauseAnonymous:
			sev = SevWarning
			msg = fmt.Sprintf("%s without credentials from %s to %s %s refused with MAPI_E_LOGON_FAILED, and the client did not bind with credentials afterwards in the capture. Check that the client authenticates (its logon network security setting, and that it can get NTLM or Kerberos credentials for the DC).",
				n, k.client, k.server, wasWere(len(rs)))
		default:
			sev = SevError
			if g := p.users[gkey{k.server, k.ukey}]; g != nil && g.lastOKSeq > rs[len(rs)-1].seq {
				sev = SevWarning
			}
			msg = fmt.Sprintf("%s by %s from %s to %s %s refused with MAPI_E_LOGON_FAILED while the user held only %s (limit %d): not the session limit. Check the account (disabled, locked out, expired password, logon restrictions) and the DC's Directory Service event log (set the NTDS diagnostics value \"4 MAPI Interface Events\" to 5 to log the reason).",
				n, p.who(k.ukey), k.client, k.server, wasWere(len(rs)), heldRange(lo, hi), p.limit)
			if sev == SevWarning {
				msg += " A later bind by the same user succeeded."
			}
		}
		f := p.newFinding(KindLogonFailed, sev, k.server, k.ukey, k.client, ev, msg)
		f.Cause = k.cause
		if k.cause == CauseAnonymous && k.followed {
			p.anonExpected += len(rs)
		}
	}
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// tally returns "a ×2, b ×1" sorted by name.
func tally(items []string) string {
	m := map[string]int{}
	for _, s := range items {
		m[s]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

type noteGroup struct {
	server netip.Addr
	ukey   string
	client netip.Addr
	sev    string
	notes  []note
}

// groupNotes groups notes by (server, user, client) and a severity computed
// per note, in order of first appearance.
func groupNotes(ns []note, sevOf func(n note) string) []*noteGroup {
	type key struct {
		server netip.Addr
		ukey   string
		client netip.Addr
		sev    string
	}
	m := map[key]*noteGroup{}
	var out []*noteGroup
	for _, n := range ns {
		sev := ""
		if sevOf != nil {
			sev = sevOf(n)
		}
		k := key{n.server, n.ukey, n.client, sev}
		g := m[k]
		if g == nil {
			g = &noteGroup{server: n.server, ukey: n.ukey, client: n.client, sev: sev}
			m[k] = g
			out = append(out, g)
		}
		g.notes = append(g.notes, n)
	}
	return out
}

func (g *noteGroup) evidence() []evidence {
	ev := make([]evidence, len(g.notes))
	for i, n := range g.notes {
		ev[i] = n.evidence
	}
	return ev
}

func (g *noteGroup) whats() []string {
	w := make([]string, len(g.notes))
	for i, n := range g.notes {
		w[i] = n.what
	}
	return w
}

func (g *noteGroup) handles() int {
	m := map[[20]byte]bool{}
	for _, n := range g.notes {
		m[n.handle] = true
	}
	return len(m)
}

func (p *pass) byWhom(ukey string) string {
	if ukey == "" {
		return ""
	}
	return " by " + p.names[ukey]
}

func (p *pass) findNotes() {
	for _, g := range groupNotes(p.bindFailed, nil) {
		msg := fmt.Sprintf("%s%s from %s to %s failed other than by a logon refusal (%s). Check the client's RPC authentication and the account's rights for AccessDenied, the DC's health for faults.",
			plural(len(g.notes), "NspiBind", "NspiBind calls"), p.byWhom(g.ukey), g.client, g.server, tally(g.whats()))
		p.newFinding(KindBindFailed, SevWarning, g.server, g.ukey, g.client, g.evidence(), msg)
	}
	for _, g := range groupNotes(p.unbindFailed, nil) {
		msg := fmt.Sprintf("%s%s from %s to %s failed (%s). A fault leaves the session open on the server; UnbindFailure (2) means the server no longer knew the handle.",
			plural(len(g.notes), "NspiUnbind", "NspiUnbind calls"), p.byWhom(g.ukey), g.client, g.server, tally(g.whats()))
		p.newFinding(KindUnbindFailed, SevWarning, g.server, g.ukey, g.client, g.evidence(), msg)
	}
	for _, g := range groupNotes(p.unbindUnknown, func(n note) string {
		if n.ended || n.what == "failed" {
			return SevWarning
		}
		return SevInfo
	}) {
		var msg string
		if g.sev == SevWarning {
			msg = fmt.Sprintf("%s%s from %s to %s named %s that %s not open: unbound or run down already, or refused by the server (UnbindFailure). A client that unbinds a handle twice has a bug in its session bookkeeping.",
				plural(len(g.notes), "NspiUnbind", "NspiUnbind calls"), p.byWhom(g.ukey), g.client, g.server, plural(g.handles(), "context handle", "context handles"), wasWere(g.handles()))
		} else {
			msg = fmt.Sprintf("%s%s from %s to %s named %s the capture never saw bound: sessions opened before the capture began. They are not in the session list nor in the peaks; start the capture before the client to see them.",
				plural(len(g.notes), "NspiUnbind", "NspiUnbind calls"), p.byWhom(g.ukey), g.client, g.server, plural(g.handles(), "context handle", "context handles"))
		}
		p.newFinding(KindUnbindUnknownHandle, g.sev, g.server, g.ukey, g.client, g.evidence(), msg)
	}
	for _, g := range groupNotes(p.callUnknown, func(n note) string {
		switch {
		case !n.ended:
			return "before"
		case n.fault:
			return "after_fault"
		}
		return "after"
	}) {
		n := plural(len(g.notes), "NSPI call", "NSPI calls")
		hs := plural(g.handles(), "context handle", "context handles")
		kind, sev := KindCallAfterEnd, SevWarning
		var msg string
		switch g.sev {
		case "before":
			kind, sev = KindSessionBeforeCapture, SevInfo
			msg = fmt.Sprintf("%s%s from %s to %s used %s the capture never saw bound: sessions opened before the capture began. The session counts and peaks of this user are lower bounds; start the capture before the client to see the binds.",
				n, p.byWhom(g.ukey), g.client, g.server, hs)
		case "after_fault":
			sev = SevInfo
			msg = fmt.Sprintf("%s%s from %s to %s used %s after %s session ended, and the server answered with a fault: it had freed the session, as expected once NspiUnbind ran or the connections closed. The client then has to bind again; nothing to do unless this repeats.",
				n, p.byWhom(g.ukey), g.client, g.server, hs, itsTheir(g.handles()))
		default:
			msg = fmt.Sprintf("%s%s from %s to %s used %s after %s session ended (NspiUnbind, or its connections closed), and the server did not refuse them: the server kept the session alive on a connection the capture did not see, or the client uses a session it released.",
				n, p.byWhom(g.ukey), g.client, g.server, hs, itsTheir(g.handles()))
		}
		p.newFinding(kind, sev, g.server, g.ukey, g.client, g.evidence(), msg)
	}
	for _, g := range groupNotes(p.unanswered, func(n note) string {
		switch p.connEnd[n.conn] {
		case "fin", "rst":
			return SevWarning
		}
		return SevInfo
	}) {
		ops := make([]string, len(g.notes))
		for i, n := range g.notes {
			ops[i] = n.op
		}
		msg := fmt.Sprintf("%s from %s to %s got no answer in the capture (%s).",
			plural(len(g.notes), "NSPI call", "NSPI calls"), g.client, g.server, tally(ops))
		if g.sev == SevWarning {
			msg += " Their connection closed before the answer: the server dropped them or the client gave up; look at the server's load and at the frames around them."
		} else {
			msg += " The capture ended, or stopped following the connection, before the answer: capture longer to see it."
		}
		p.newFinding(KindUnansweredCall, g.sev, g.server, "", g.client, g.evidence(), msg)
	}
	var servers []netip.Addr
	for s := range p.sealed {
		servers = append(servers, s)
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].Less(servers[j]) })
	for _, s := range servers {
		ev := p.sealed[s]
		msg := fmt.Sprintf("%s to %s %s encrypted (RPC privacy) and not decrypted: their status and context handles could not be read, so sessions on them are not counted and the numbers for this server are lower bounds.",
			plural(len(ev), "NSPI call", "NSPI calls"), s, wasWere(len(ev)))
		p.newFinding(KindSealedCalls, SevInfo, s, "", netip.Addr{}, ev, msg)
	}
}

func itsTheir(n int) string {
	if n == 1 {
		return "its"
	}
	return "their"
}

// verdict writes the plain sentences that open the report.
func (p *pass) verdict(r *Report) []string {
	out := []string{}
	on := func(server netip.Addr) string {
		if len(p.servers) > 1 {
			return " on " + server.String()
		}
		return ""
	}
	if len(p.servers) == 0 {
		out = append(out, "No NSPI traffic found.")
		return p.verdictTail(r, out)
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Severity == SevInfo {
			continue
		}
		server, _ := netip.ParseAddr(string(f.Server))
		ukey := strings.ToLower(string(f.User))
		gi := p.infos[gkey{server, ukey}]
		ug := p.users[gkey{server, ukey}]
		switch f.Kind {
		case KindSessionLimit:
			if gi.leak != nil {
				out = append(out, fmt.Sprintf("%s leaks NSPI sessions%s: %s, %s; binds were refused from the %s on (limit %d).",
					p.who(ukey), on(server), plural(ug.c.Binds, "bind", "binds"), plural(ug.c.Unbinds, "unbind", "unbinds"), ordinal(gi.firstLimitOrdinal), p.limit))
			} else {
				out = append(out, fmt.Sprintf("%s hit the NSPI session limit%s: %s refused while it held %s (limit %d).",
					p.who(ukey), on(server), plural(gi.limitCount, "bind", "binds"), heldRange(gi.limitHeld[0], gi.limitHeld[1]), p.limit))
			}
		case KindLeak:
			if f.User == "" {
				out = append(out, fmt.Sprintf("%s leaks anonymous NSPI sessions%s: %d never unbound, up to %d held at once.",
					f.Client, on(server), f.Count, p.anonPeak(server, string(f.Client))))
				continue
			}
			if gi.limit != nil {
				continue // said with the limit
			}
			s := fmt.Sprintf("%s leaks NSPI sessions%s: %s, %s, ",
				p.who(ukey), on(server), plural(ug.c.Binds, "bind", "binds"), plural(ug.c.Unbinds, "unbind", "unbinds"))
			if gi.leakOpen > 0 {
				s += fmt.Sprintf("%d still open at the end", gi.leakOpen)
			} else {
				s += fmt.Sprintf("up to %d held at once until their connection closed", gi.leakPeak)
			}
			if f.LimitAt != nil {
				d := f.LimitAt.Sub(p.lastTime.UTC()).Round(time.Minute)
				s += fmt.Sprintf("; at %s sessions/hour it reaches the limit of %d in about %s", fmtRate(f.RatePerHour), p.limit, fmtDur(d))
			}
			out = append(out, s+".")
		case KindLogonFailed:
			if f.Cause == CauseAnonymous {
				out = append(out, fmt.Sprintf("%s bound without credentials%s and was refused, and did not retry with credentials.", f.Client, on(server)))
			} else {
				out = append(out, fmt.Sprintf("%s could not log on%s: %s refused with MAPI_E_LOGON_FAILED while it held few sessions; not the session limit, check the account and the DC.",
					p.who(ukey), on(server), plural(f.Count, "bind", "binds")))
			}
		default:
			// bind_failed, unbind_failed, unbind_unknown_handle,
			// call_after_end, unanswered_call: the first sentence of the
			// message says it.
			out = append(out, firstSentence(f.Message))
		}
	}
	if len(out) == 0 {
		s := "No NSPI problems found."
		if p.anonExpected > 0 {
			s = fmt.Sprintf("No NSPI problems found: %s without credentials %s refused as expected (the client then bound with credentials).",
				plural(p.anonExpected, "NspiBind", "NspiBind calls"), wasWere(p.anonExpected))
		}
		out = append(out, s)
	}
	return p.verdictTail(r, out)
}

func (p *pass) verdictTail(r *Report, out []string) []string {
	if r.HasKind(KindSessionBeforeCapture) || hasKindSev(r, KindUnbindUnknownHandle, SevInfo) {
		out = append(out, "Some sessions were opened before the capture began: session counts are lower bounds.")
	}
	if r.HasKind(KindSealedCalls) {
		out = append(out, "Some NSPI calls were encrypted and not decrypted: counts are lower bounds.")
	}
	if len(r.Anomalies) > 0 {
		var n int64
		for _, a := range r.Anomalies {
			n += a.Count
		}
		out = append(out, fmt.Sprintf("The capture had %d decoding anomalies (listed at the end): some calls may be missing.", n))
	}
	return out
}

func hasKindSev(r *Report, kind, sev string) bool {
	for i := range r.Findings {
		if r.Findings[i].Kind == kind && r.Findings[i].Severity == sev {
			return true
		}
	}
	return false
}

func (p *pass) anonPeak(server netip.Addr, client string) int {
	for _, gi := range p.anonLeaks {
		if gi.server == server && gi.client.String() == client {
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
