package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// sparkLevels are the characters of a timeline, from none held to the
// limit: plain ASCII, so that the report stays readable in any terminal,
// e-mail or ticket.
const sparkLevels = " .:-=+*#%@"

// sparkMinPeak: the table shows the timeline of a user only when it held at
// least this many sessions at once (the JSON has every row).
const sparkMinPeak = 3

// Sparkline renders held counts on a scale of 0..max(limit, peak): one
// character per bucket, '@' at the top of the scale.
func Sparkline(held []int, limit int) string {
	top := limit
	for _, v := range held {
		top = max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	n := len(sparkLevels) - 1
	for _, v := range held {
		i := 0
		if v > 0 {
			i = min(1+v*(n-1)/top, n)
		}
		b.WriteByte(sparkLevels[i])
	}
	return b.String()
}

// writeExtText writes the sections beyond NSPI: Exchange store sessions,
// referrals and the timeline. It writes nothing when they are empty.
func writeExtText(w io.Writer, r *analyze.Report, ff frameFmt) error {
	var servers []string
	seen := map[string]bool{}
	for _, u := range r.EMSMDBUsers {
		if !seen[u.Server] {
			seen[u.Server] = true
			servers = append(servers, u.Server)
		}
	}
	for _, c := range r.EMSMDBClients {
		if !seen[c.Server] {
			seen[c.Server] = true
			servers = append(servers, c.Server)
		}
	}
	for _, server := range servers {
		fmt.Fprintln(w)
		var names []string
		var cs []analyze.EMSMDBCounters
		for _, u := range r.EMSMDBUsers {
			if u.Server == server {
				name := string(u.User)
				if name == "" {
					name = noIdentity
				}
				names = append(names, name)
				cs = append(cs, u.EMSMDBCounters)
			}
		}
		fmt.Fprintf(w, "EMSMDB (Exchange store) users on %s\n", safetext.Escape(server))
		if err := writeEMSMDBTable(w, "USER", names, cs); err != nil {
			return err
		}
		names, cs = nil, nil
		for _, c := range r.EMSMDBClients {
			if c.Server == server {
				names = append(names, clientLabel(c.Client, c.ClientAddress))
				cs = append(cs, c.EMSMDBCounters)
			}
		}
		fmt.Fprintf(w, "\nEMSMDB (Exchange store) clients on %s\n", safetext.Escape(server))
		if err := writeEMSMDBTable(w, "CLIENT", names, cs); err != nil {
			return err
		}
	}
	if len(servers) > 0 {
		fmt.Fprintln(w)
		writeWrapped(w, fmt.Sprintf("CONN: EcDoConnect(Ex) calls; OK: answered 0; LIMIT: refused with ecMaxObjsExceeded (0x4DE) or MAPI_E_SESSION_LIMIT (0x80040112), the per-user session limit (%d); LOGON: ecLoginFailure (0x80040111); FAIL: other status or fault; UNK: no answer, or encrypted. DISC: EcDoDisconnect calls. CALLS: other EMSMDB calls. OPEN, CLOSED, PEAK: as for NSPI.", r.EMSMDBLimit), "", "")
	}
	if len(r.Referrals) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "REFERRALS")
		for _, x := range r.Referrals {
			to := x.ReferredTo
			if to == "" {
				to = "(no name)"
			}
			who := clientLabel(x.Client, x.ClientAddress)
			if x.User != "" {
				who += " (" + string(x.User) + ")"
			}
			s := fmt.Sprintf("%s was sent to %s by %s on %s", who, to, x.Op, x.Server)
			if x.Status != "0x00000000" {
				s += ", status " + x.Status
			}
			if x.Count > 1 {
				s += fmt.Sprintf(", %d times", x.Count)
			}
			s += "; frame " + ff.one(x.ReplyFrame)
			writeWrapped(w, s, "  ", "    ")
		}
	}
	var rows []analyze.TimelineRow
	for _, t := range r.Timeline {
		if t.By == "user" && t.Peak >= sparkMinPeak {
			rows = append(rows, t)
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "TIMELINE (most sessions held per bucket; '@' = the limit, or the peak if higher)")
		for _, t := range rows {
			name := string(t.User)
			switch {
			case name == "" && t.Ticket != "":
				name = "(ticket " + t.Ticket + ")"
			case name == "":
				name = noIdentity
			}
			fmt.Fprintf(w, "  %s %s %s\n", safetext.Escape(strings.ToUpper(t.Proto)), safetext.Escape(t.Server), safetext.Escape(name))
			fmt.Fprintf(w, "    |%s|\n", Sparkline(t.Held, t.Limit))
			s := fmt.Sprintf("peak %d of %d; %s per character from %s", t.Peak, t.Limit, bucketText(t.BucketSeconds), timelineSpan(&t))
			if t.RatePerHour > 0 {
				s += fmt.Sprintf("; +%s sessions/hour", strconv.FormatFloat(t.RatePerHour, 'f', 1, 64))
			}
			if t.LimitAt != nil {
				s += "; limit at about " + t.LimitAt.Format("2006-01-02 15:04 UTC")
			}
			writeWrapped(w, s, "    ", "    ")
		}
	}
	return nil
}

// timelineSpan is where a timeline row starts, as a time of day; with the
// dates of its start and end when they differ (a capture over more than a
// day).
func timelineSpan(t *analyze.TimelineRow) string {
	start := t.Start.UTC()
	end := start.Add(time.Duration(int64(len(t.Held))*t.BucketSeconds) * time.Second)
	if y1, m1, d1 := start.Date(); true {
		if y2, m2, d2 := end.Add(-time.Nanosecond).Date(); y1 != y2 || m1 != m2 || d1 != d2 {
			return start.Format("2006-01-02 15:04:05") + " to " + end.Format("2006-01-02 15:04:05 UTC")
		}
	}
	return start.Format("15:04:05 UTC")
}

func bucketText(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int64(d/time.Minute), int64(d%time.Minute/time.Second))
	}
	return strconv.FormatInt(sec, 10) + "s"
}

func writeEMSMDBTable(w io.Writer, first string, names []string, cs []analyze.EMSMDBCounters) error {
	header := []string{first, "CONN", "OK", "LIMIT", "LOGON", "FAIL", "UNK", "DISC", "CALLS", "OPEN", "CLOSED", "PEAK"}
	nameWidth := textWidth - 1 - 2
	for _, h := range header[1:] {
		nameWidth -= 1 + len(h)
	}
	nameWidth = max(nameWidth, 12)
	rows := make([][]string, len(cs))
	for i, c := range cs {
		rows[i] = []string{wrapName(safetext.Escape(names[i]), nameWidth), countText(c.Connects), countText(c.ConnectsOK), countText(c.SessionLimit),
			countText(c.LogonFailed), countText(c.FailedOther), countText(c.Unknown), countText(c.Disconnects), countText(c.OtherCalls),
			countText(c.OpenAtEnd), countText(c.ClosedWithoutDisconnect), countText(c.PeakConcurrent)}
	}
	align := make(tw.Alignment, len(header))
	for i := range align {
		align[i] = tw.AlignRight
	}
	align[0] = tw.AlignLeft
	return renderPlain(w, header, align, rows)
}
