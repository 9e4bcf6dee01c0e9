package evidence

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/nspicap/nspicap/analyze"
)

// MaxPerGroup bounds the frames written per (finding kind, user): the first
// and the last MaxPerGroup/2 of them. The TCP handshakes of their
// connections come on top (at most three frames per connection).
const MaxPerGroup = 50

// Identity is a frame that named a user on a connection to a server: an
// NTLM AUTHENTICATE, the Kerberos frame a keytab or a TGS-REP named the user
// from.
type Identity struct {
	Frame  analyze.FrameRef
	Server string // the server IP
	User   string
}

// Cut says that the frames of one (finding kind, user) were more than
// MaxPerGroup: Kept of Total were written.
type Cut struct {
	Kind  string
	User  string
	Total int
	Kept  int
}

// tag is why a frame is written: a finding and the role of the frame in it.
type tag struct {
	kind, severity, role string
}

type frameKey struct {
	input int
	frame int64
}

// Plan is the set of frames to write, with why, chosen from a report.
type Plan struct {
	files  []string
	index  map[string]int
	frames map[frameKey][]tag
	// Cuts lists the groups that had more than MaxPerGroup frames, in
	// the order of the report's findings.
	Cuts []Cut
}

// Empty reports whether no finding cited a frame.
func (p *Plan) Empty() bool { return len(p.frames) == 0 }

type groupKey struct{ kind, user string }

// NewPlan chooses the frames behind every finding of r: the frames the
// finding cites; for leak, the binds and ends of the user's sessions on the
// server; for session_limit and logon_failed, the refused binds and their
// answers; for emsmdb_leak, the store sessions' connects and ends; for
// every finding of a user, the frames in ids that named the user on that
// server. files are the inputs in the order they were given (FrameRef.File
// names one of them).
func NewPlan(r *analyze.Report, files []string, ids []Identity) *Plan {
	p := &Plan{files: files, index: map[string]int{}, frames: map[frameKey][]tag{}}
	for i, f := range files {
		if _, ok := p.index[f]; !ok {
			p.index[f] = i
		}
	}
	groups := map[groupKey][]frameTag{}
	var order []groupKey
	add := func(f *analyze.Finding, ref analyze.FrameRef, role string) {
		if ref.Frame == 0 {
			return
		}
		g := groupKey{f.Kind, string(f.User)}
		groups[g] = append(groups[g], frameTag{ref: ref, t: tag{f.Kind, f.Severity, role}})
	}
	// The findings by what selects their further frames, so that each list
	// of the report is walked once.
	leaks := map[string][]*analyze.Finding{}   // server, user (or client when anonymous)
	refused := map[string][]*analyze.Finding{} // server, user
	ems := map[string][]*analyze.Finding{}     // server, user
	byUser := map[string][]*analyze.Finding{}  // server, lower-case user
	for i := range r.Findings {
		f := &r.Findings[i]
		g := groupKey{f.Kind, string(f.User)}
		if _, ok := groups[g]; !ok {
			groups[g] = nil
			order = append(order, g)
		}
		for _, ref := range f.Frames {
			add(f, ref, "cited by the finding")
		}
		k := string(f.Server) + "\x00" + string(f.User)
		switch f.Kind {
		case analyze.KindLeak:
			if f.User == "" {
				k = string(f.Server) + "\x00\x00" + string(f.Client)
			}
			leaks[k] = append(leaks[k], f)
		case analyze.KindSessionLimit, analyze.KindLogonFailed:
			refused[k] = append(refused[k], f)
		case analyze.KindEMSMDBLeak:
			ems[k] = append(ems[k], f)
		}
		if f.User != "" {
			k := string(f.Server) + "\x00" + strings.ToLower(string(f.User))
			byUser[k] = append(byUser[k], f)
		}
	}
	if len(leaks) > 0 {
		r.EachSession(func(s *analyze.Session) error {
			k := s.Server + "\x00" + string(s.User)
			if s.User == "" {
				k = s.Server + "\x00\x00" + hostOf(s.Client)
			}
			for _, f := range leaks[k] {
				add(f, s.BindFrame, "NspiBind")
				if s.EndFrame != nil {
					add(f, *s.EndFrame, "end of the session ("+s.End+")")
				}
			}
			return nil
		})
	}
	if len(refused) > 0 {
		r.EachRefusal(func(x *analyze.Refusal) error {
			for _, f := range refused[x.Server+"\x00"+string(x.User)] {
				if f.Cause == "" || x.Cause == f.Cause {
					add(f, x.Frame, "NspiBind refused")
					add(f, x.ReplyFrame, "its MAPI_E_LOGON_FAILED answer")
				}
			}
			return nil
		})
	}
	for _, s := range r.EMSMDBSessions {
		for _, f := range ems[s.Server+"\x00"+string(s.User)] {
			add(f, s.ConnectFrame, s.Op)
			if s.EndFrame != nil {
				add(f, *s.EndFrame, "end of the store session ("+s.End+")")
			}
		}
	}
	for _, id := range ids {
		for _, f := range byUser[id.Server+"\x00"+strings.ToLower(id.User)] {
			add(f, id.Frame, "names the user")
		}
	}
	// The frame that named the user of a finding: the NTLM AUTHENTICATE,
	// the AP-REQ a keytab decrypted, the KDC's TGS-REP, the HTTP request.
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.IdentityFrame != nil {
			add(f, *f.IdentityFrame, "names the user ("+f.IdentityFrom+")")
		}
	}
	for _, g := range order {
		l := groups[g]
		for i := range l {
			l[i].key = p.key(l[i].ref)
		}
		slices.SortStableFunc(l, func(a, b frameTag) int {
			return cmp.Or(cmp.Compare(a.key.input, b.key.input), cmp.Compare(a.key.frame, b.key.frame))
		})
		// Distinct frames, in capture order; a frame's tags stay together.
		var distinct []frameKey
		for i := range l {
			if i == 0 || l[i].key != l[i-1].key {
				distinct = append(distinct, l[i].key)
			}
		}
		keep := map[frameKey]bool{}
		for i, k := range distinct {
			if len(distinct) <= MaxPerGroup || i < MaxPerGroup/2 || i >= len(distinct)-MaxPerGroup/2 {
				keep[k] = true
			}
		}
		if len(distinct) > MaxPerGroup {
			p.Cuts = append(p.Cuts, Cut{Kind: g.kind, User: g.user, Total: len(distinct), Kept: MaxPerGroup})
		}
		for _, ft := range l {
			if keep[ft.key] && ft.key.input >= 0 && !slices.Contains(p.frames[ft.key], ft.t) {
				p.frames[ft.key] = append(p.frames[ft.key], ft.t)
			}
		}
	}
	return p
}

type frameTag struct {
	ref analyze.FrameRef
	t   tag
	key frameKey
}

// key is the input index and frame of ref (input -1 when ref names no
// input).
func (p *Plan) key(ref analyze.FrameRef) frameKey {
	i, ok := p.index[ref.File]
	if !ok {
		i = -1
	}
	return frameKey{i, ref.Frame}
}

// hostOf is the address of an ip:port, or s when it is not one.
func hostOf(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String()
	}
	return s
}
