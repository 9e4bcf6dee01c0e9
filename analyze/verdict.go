package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The verdict: the plain sentences that open the report, one per problem,
// then what limits the counts.

// verdict writes the plain sentences that open the report.
func (p *reporter) verdict(r *Report, others ...string) []string {
	out := []string{}
	more := 0
	if len(p.a.servers) == 0 {
		out = append(out, "No NSPI traffic found.")
		return p.verdictTail(r, out, others)
	}
	// A row retired and followed again (--max-rows, --max-open-sessions)
	// can give the same sentence more than once: say it once, counted.
	type said struct {
		at      int
		retired bool
	}
	seen, again := map[string]said{}, map[int]int{}
	p.logonAgg = logonAggregate(r)
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Severity == SevInfo {
			continue
		}
		line, ok := p.verdictLine(f)
		line = sentenceStart(line)
		if prev, dup := seen[line]; ok && dup {
			// The same sentence of two findings (one user's refusals
			// from two clients, counted together): said once.
			if f.retired || prev.retired {
				again[prev.at]++
			}
			continue
		}
		switch {
		case !ok:
		case len(out) == maxVerdictProblems:
			more++
		default:
			seen[line] = said{len(out), f.retired}
			out = append(out, line)
		}
	}
	for j, n := range again {
		out[j] = strings.TrimSuffix(out[j], ".") + fmt.Sprintf(" (said of %d rows, retired one after the other).", n+1)
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("And %s more: see the findings.", plural(more, "problem", "problems")))
	}
	if len(out) == 0 {
		s := noNSPIProblems + "."
		if p.anonExpected > 0 {
			s = fmt.Sprintf(noNSPIProblems+": %s without credentials %s refused as expected (the client then bound with credentials).",
				plural(p.anonExpected, "NspiBind", "NspiBind calls"), wasWere(p.anonExpected))
		}
		out = append(out, s)
	}
	return p.verdictTail(r, out, others)
}

func (p *reporter) verdictTail(r *Report, out, others []string) []string {
	if r.HasKind(KindSessionBeforeCapture) || hasKindSev(r, KindUnbindUnknownHandle, SevInfo) {
		out = append(out, "Some sessions were opened before the capture began: session counts are lower bounds.")
	}
	if n := p.a.inferred; n > 0 {
		out = append(out, fmt.Sprintf("%s whose bind was not read (a connection older than the capture, or a bind the snap length cut) %s classified by inference; `nspicap calls` marks them interface_inferred, with the evidence in inferred_from.",
			plural(n, "call", "calls"), wasWere(n)))
	}
	if r.HasKind(KindSealedCalls) {
		out = append(out, "Some NSPI calls were encrypted and not decrypted: counts are lower bounds.")
	}
	if s := snapSentence(r.Inputs); s != "" {
		out = append(out, s)
	}
	var n int64
	for _, a := range r.Anomalies {
		if !a.Notice {
			n += a.Count
		}
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("The capture had %s (listed at the end): some calls may be missing.", plural(int(n), "decoding anomaly", "decoding anomalies")))
	}
	return append(out, p.truncated(others)...)
}

// snapSentence says that the snap length cut calls, and how to capture
// whole packets; "" when it cut none.
func snapSentence(ins []Input) string {
	var calls, msgs int64
	var lens []int
	for _, in := range ins {
		if in.CutCalls == 0 && in.CutSMBMessages == 0 {
			continue
		}
		calls += in.CutCalls
		msgs += in.CutSMBMessages
		if !slices.Contains(lens, in.SnapLen) {
			lens = append(lens, in.SnapLen)
		}
	}
	if calls == 0 && msgs == 0 {
		return ""
	}
	slices.Sort(lens)
	to := make([]string, len(lens))
	for i, l := range lens {
		to[i] = strconv.Itoa(l)
	}
	var parts []string
	if calls > 0 {
		parts = append(parts, plural(int(calls), "DCE/RPC call", "DCE/RPC calls"))
	}
	if msgs > 0 {
		parts = append(parts, plural(int(msgs), "SMB message", "SMB messages")+" of named pipes (dropped, with the calls they carried)")
	}
	what := strings.Join(parts, " and ")
	return fmt.Sprintf("The capture's snap length cut packets to %s bytes and with them %s: users, statuses and counts may be incomplete (a user whose name was cut counts as an unidentified user). Capture whole packets: tcpdump -s 0; with netsh trace, leave out packettruncatebytes.",
		strings.Join(to, " and "), what)
}

// truncated says which lists of the report were cut at Options.MaxSessions
// or Options.MaxRefusals.
func (p *reporter) truncated(others []string) []string {
	a := p.a
	var cut []string
	if a.nSessions > a.sessions.n {
		cut = append(cut, fmt.Sprintf("the first %d of %d sessions", a.sessions.n, a.nSessions))
	}
	if a.nRefusals > a.refusals.n {
		cut = append(cut, fmt.Sprintf("the first %d of %d refused binds", a.refusals.n, a.nRefusals))
	}
	var out []string
	if len(cut) > 0 {
		out = append(out, fmt.Sprintf("The report lists only %s, in capture order; the counters, findings and this verdict count them all.", strings.Join(cut, " and ")))
	}
	rt := &a.rt
	shed := rt.shedUsers + rt.shedClients
	if shed > 0 {
		out = append(out, fmt.Sprintf("More NSPI sessions were open at once than nspicap follows (--max-open-sessions %d): %s and %s holding the oldest of them were retired with their sessions (%s). Those sessions count as open at the end, in the rows and the totals, whatever became of them later; a user that came back got a new row. Raise --max-open-sessions to follow them.",
			a.opt.MaxOpenSessions, plural(rt.shedUsers, "user row", "user rows"), plural(rt.shedClients, "client row", "client rows"),
			plural(rt.shedRounds, "time", "times")))
	}
	if rt.nUsers+rt.nClients > shed {
		qu, qc := rt.nUsers-rt.forcedUsers, rt.nClients-rt.forcedClients
		fu, fc := rt.forcedUsers-rt.shedUsers, rt.forcedClients-rt.shedClients
		s := fmt.Sprintf("The capture has more users or clients than nspicap follows at once (--max-rows %d): %s and %s that held no session were retired on the way, their findings written when they were retired.",
			a.opt.MaxRows, plural(qu, "user row", "user rows"), plural(qc, "client row", "client rows"))
		if fu+fc > 0 {
			s += fmt.Sprintf(" Too few rows were free of sessions, so %s and %s were retired while they held sessions: their %s count as open at the end, in the rows and the totals, whatever became of them later (%s seen on them afterwards not followed). Their counts and findings are only as sure as that; raise --max-rows to follow them.",
				plural(fu, "user row", "user rows"), plural(fc, "client row", "client rows"),
				plural(rt.forgotten, "session", "sessions"), plural(rt.forgottenCalls, "call", "calls"))
		}
		if n := rt.nUsers - len(rt.users) + rt.nClients - len(rt.clients); n > 0 {
			s += fmt.Sprintf(" %s of them are not listed in the tables (the totals count them).", plural(n, "row", "rows"))
		}
		out = append(out, s)
	}
	out = append(out, others...)
	if n := a.anonDropped; n > 0 {
		out = append(out, fmt.Sprintf("%s (anonymous refusals beyond the distinct server and client pairs nspicap follows at once) are counted in the totals but not in the findings.", plural(n, "call", "calls")))
	}
	if len(rt.dropped) > 0 {
		kinds := make([]string, 0, len(rt.dropped))
		n := 0
		for k, c := range rt.dropped {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, c))
			n += c
		}
		sort.Strings(kinds)
		out = append(out, fmt.Sprintf("The report leaves out %s of retired rows beyond --max-findings %d, the least severe first (%s).",
			plural(n, "finding", "findings"), a.opt.MaxFindings, strings.Join(kinds, ", ")))
	}
	return out
}

// logonAgg sums the authenticated logon_failed findings of one user on
// one server (one per client): the verdict says them in one sentence.
type logonAgg struct {
	n     int
	later bool // a later bind of the user succeeded after every refusal
}

func logonAggregate(r *Report) map[string]logonAgg {
	m := map[string]logonAgg{}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Kind != KindLogonFailed || f.Cause != CauseOther || f.retired {
			continue
		}
		k := string(f.Server) + "|" + strings.ToLower(string(f.User))
		a, seen := m[k]
		a.n += f.Count
		a.later = (a.later || !seen) && f.Severity == SevWarning
		m[k] = a
	}
	return m
}

// sentenceStart capitalises a sentence that begins with "an unidentified
// user" (names from the capture are left as they are).
func sentenceStart(s string) string {
	if strings.HasPrefix(s, "an unidentified") {
		return "A" + s[1:]
	}
	return s
}

func hasKindSev(r *Report, kind, sev string) bool {
	for i := range r.Findings {
		if r.Findings[i].Kind == kind && r.Findings[i].Severity == sev {
			return true
		}
	}
	return false
}

// noNSPIProblems opens the verdict of a capture without NSPI problems.
const noNSPIProblems = "No NSPI problems found"

// maxVerdictProblems bounds the sentences of the verdict that name a
// problem; the findings list them all.
const maxVerdictProblems = 100

// How verdict sentences name the server: when the report has several
// servers (onAuto), never, or always (for findings rendered before the end,
// which do not know yet).
const (
	onAuto = iota
	onNever
	onAlways
)

// verdictLine is the verdict's sentence for a finding that is not info, or
// false when another sentence says it.
// markInferred labels a finding made of refusals some of which were
// inferred from sealed binds rather than decoded.
func markInferred(f *Finding, acc *refAcc) {
	if acc.inferred == 0 {
		return
	}
	f.StatusInferred = true
	which := fmt.Sprintf("%d of these %d binds were", acc.inferred, acc.ev.n)
	switch {
	case acc.ev.n == 1:
		which = "the bind was"
	case acc.inferred == acc.ev.n:
		which = fmt.Sprintf("all %d binds were", acc.ev.n)
	}
	f.Message += fmt.Sprintf(" Inferred, not decoded: %s sealed without a key and taken as refused because the client bound again or closed at once; the status itself is not known (give --keys or --keytab to decode).", which)
}

// verdictLine is the verdict's sentence for f, labelled when f rests on
// inferred outcomes; ok is false when f has none of its own.
func (p *reporter) verdictLine(f *Finding) (string, bool) {
	line, ok := p.verdictLine1(f)
	if ok && f.StatusInferred && !f.retired {
		hint := ""
		if strings.HasSuffix(line, ticketVerdictHint) {
			line, hint = strings.TrimSuffix(line, ticketVerdictHint), ticketVerdictHint
		}
		line = strings.TrimSuffix(line, ".") + " (inferred from sealed binds, not decoded)." + hint
	}
	return line, ok
}

func (p *reporter) verdictLine1(f *Finding) (string, bool) {
	if f.retired {
		i := 0
		if p.multiServer() {
			i = 1
		}
		return f.vline[i], f.vok[i]
	}
	server, _ := netip.ParseAddr(string(f.Server))
	on := ""
	if p.multiServer() {
		on = " on " + server.String()
	}
	ukey := f.ukey
	gi := p.infos[gkey{server, ukey}]
	ug := p.rows.users[gkey{server, ukey}]
	switch f.Kind {
	case KindSessionLimit:
		hint := ""
		if isTicketKey(ukey) {
			hint = ticketVerdictHint
		}
		if gi.leak != nil {
			return fmt.Sprintf("%s leaks NSPI sessions%s: %s, %s; binds were refused from the %s on (limit %d)%s.%s",
				p.who(ukey), on, plural(ug.c.Binds, "bind", "binds"), plural(ug.c.Unbinds, "unbind", "unbinds"), ordinal(gi.firstLimitOrdinal), p.limit,
				proxied("; the sessions never unbound came from ", gi.leak.cl), hint), true
		}
		return fmt.Sprintf("%s hit the NSPI session limit%s: %s refused while it held %s (limit %d)%s.%s",
			p.who(ukey), on, plural(gi.limitCount, "bind", "binds"), heldRange(gi.limitHeld[0], gi.limitHeld[1]), p.limit,
			proxied("; the refused binds came from ", f.cl), hint), true
	case KindLeak:
		if f.anon {
			return fmt.Sprintf("%s leaks anonymous NSPI sessions%s: %d never unbound, up to %d held at once.",
				f.cl, on, f.Count, p.anonPeak(server, f.cl)), true
		}
		if gi.limit != nil {
			return "", false // said with the limit
		}
		s := fmt.Sprintf("%s leaks NSPI sessions%s: %s, %s, ",
			p.who(ukey), on, plural(ug.c.Binds, "bind", "binds"), plural(ug.c.Unbinds, "unbind", "unbinds"))
		if gi.leakOpen > 0 {
			s += fmt.Sprintf("%d still open at the end", gi.leakOpen)
		} else {
			s += fmt.Sprintf("up to %d held at once until their connection closed", gi.leakPeak)
		}
		if f.LimitAt != nil {
			d := f.LimitAt.Sub(p.a.lastTime.UTC()).Round(time.Minute)
			s += fmt.Sprintf("; at %s sessions/hour it reaches the limit of %d in about %s", fmtRate(f.RatePerHour), p.limit, fmtDur(d))
		}
		if isTicketKey(ukey) {
			return s + proxied("; the sessions never unbound came from ", f.cl) + "." + ticketVerdictHint, true
		}
		return s + proxied("; the sessions never unbound came from ", f.cl) + ".", true
	case KindLogonFailed:
		if f.Cause == CauseAnonymous {
			return fmt.Sprintf("%s bound without credentials%s and was refused, and did not retry with credentials.", f.cl, on), true
		}
		n, later := f.Count, f.Severity == SevWarning
		if agg, ok := p.logonAgg[string(f.Server)+"|"+ukey]; ok {
			n, later = agg.n, agg.later
		}
		if later {
			return fmt.Sprintf("%s had %s refused with MAPI_E_LOGON_FAILED%s while it held few sessions, then bound successfully: not the session limit; look at the account only if this repeats.",
				p.who(ukey), plural(n, "bind", "binds"), on), true
		}
		return fmt.Sprintf("%s could not log on%s: %s refused with MAPI_E_LOGON_FAILED while it held few sessions; not the session limit, check the account and the DC.",
			p.who(ukey), on, plural(n, "bind", "binds")), true
	}
	// bind_failed, unbind_failed, unbind_unknown_handle, call_after_end,
	// unanswered_call: the first sentence of the message says it.
	return firstSentence(f.Message), true
}

// proxied names the client behind an RPC proxy, after prefix; "" when the
// client is not one (a direct client is named in the finding, as over TCP).
func proxied(prefix string, c peer) string {
	if !c.behind().IsValid() {
		return ""
	}
	return prefix + c.String()
}

func (p *reporter) multiServer() bool {
	switch p.on {
	case onNever:
		return false
	case onAlways:
		return true
	}
	return len(p.a.servers) > 1
}
