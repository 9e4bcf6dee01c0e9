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
	for i := range r.Findings {
		f := &r.Findings[i]
		g := groupKey{f.Kind, string(f.User)}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		add := func(ref analyze.FrameRef, role string) {
			if ref.Frame == 0 {
				return
			}
			groups[g] = append(groups[g], frameTag{ref: ref, t: tag{f.Kind, f.Severity, role}})
		}
		for _, ref := range f.Frames {
			add(ref, "cited by the finding")
		}
		switch f.Kind {
		case analyze.KindLeak:
			r.EachSession(func(s *analyze.Session) error {
				if s.Server != string(f.Server) || s.User != f.User || f.User == "" && !sameHost(s.Client, string(f.Client)) {
					return nil
				}
				add(s.BindFrame, "NspiBind")
				if s.EndFrame != nil {
					add(*s.EndFrame, "end of the session ("+s.End+")")
				}
				return nil
			})
		case analyze.KindSessionLimit, analyze.KindLogonFailed:
			r.EachRefusal(func(x *analyze.Refusal) error {
				if x.Server != string(f.Server) || x.User != f.User || f.Cause != "" && x.Cause != f.Cause {
					return nil
				}
				add(x.Frame, "NspiBind refused")
				add(x.ReplyFrame, "its MAPI_E_LOGON_FAILED answer")
				return nil
			})
		case analyze.KindEMSMDBLeak:
			for _, s := range r.EMSMDBSessions {
				if s.Server != string(f.Server) || s.User != f.User {
					continue
				}
				add(s.ConnectFrame, s.Op)
				if s.EndFrame != nil {
					add(*s.EndFrame, "end of the store session ("+s.End+")")
				}
			}
		}
		if f.User != "" {
			for _, id := range ids {
				if id.Server == string(f.Server) && strings.EqualFold(id.User, string(f.User)) {
					add(id.Frame, "names the user")
				}
			}
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

// sameHost reports whether the address of the ip:port a is the address b.
func sameHost(a, b string) bool {
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return a == b
	}
	bb, err := netip.ParseAddr(b)
	if err != nil {
		return a == b
	}
	return ap.Addr() == bb
}
