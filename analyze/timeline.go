package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// The timeline tracker follows the number of sessions each user and each
// client IP held on each server over the capture, for NSPI and for the
// store, in buckets of a power of two seconds that coarsen as the capture
// goes on. The session trackers tell it every change (set); a retired row
// hands its series over (retire). Report.Timeline is its output.

// Bounds of the timeline.
const (
	maxPoints  = 64 // buckets kept per series before coarsening
	maxBuckets = 60 // buckets in the report
	// maxTimelineRows bounds the series in Report.Timeline: a busy DC has
	// thousands of users, and 60 numbers each add up.
	maxTimelineRows = 500
)

type TimelineRow struct {
	Proto         string     `json:"proto"`
	Server        string     `json:"server"`
	By            string     `json:"by"`
	User          NullString `json:"user"`
	Ticket        string     `json:"ticket,omitempty"`
	Client        string     `json:"client,omitempty"`
	ClientAddress string     `json:"client_address,omitempty"`
	Start         time.Time  `json:"start"`
	BucketSeconds int64      `json:"bucket_seconds"`
	Held          []int      `json:"held"`
	// Refused counts the binds (NSPI) or connects (EMSMDB) refused in
	// each bucket, whatever the cause; absent when there were none.
	Refused []int `json:"refused,omitempty"`
	Peak    int   `json:"peak"`
	Limit   int   `json:"limit"`
	// RatePerHour and LimitAt repeat the leak finding of the row, if any.
	RatePerHour float64    `json:"rate_per_hour,omitempty"`
	LimitAt     *time.Time `json:"limit_at,omitempty"`
}

// timeline is the timeline tracker.
type timeline struct {
	*core
	series map[any]*series
	n      int // series created (series.id)
	// retired: the series of retired rows, the highest; dropped: those
	// left out.
	retired []*series
	dropped int
}

func newTimeline(c *core) *timeline {
	return &timeline{core: c, series: map[any]*series{}}
}

// series is one row's counts over time. It is kept small (176 bytes):
// a busy DC has tens of thousands.
type series struct {
	proto    string
	server   netip.Addr
	ukey     string
	name     NullString // the user's spelling, kept when its row is retired
	client   peer
	byClient bool
	w        int64 // seconds per bucket, a power of 2
	start    int64 // bucket index of b[0]
	b        []int32
	r        *[]int32 // refusals per bucket, as long as b once one is counted; nil before
	cur      int32
	// id is the order of creation (a row that came back has a second
	// series of the same key); 2^31 series would take more events than a
	// capture holds.
	id   int32
	peak int
}

// set records that the group key now holds v sessions.
func (x *timeline) set(key any, proto string, server netip.Addr, ukey string, client peer, byClient bool, t time.Time, v int) {
	x.setIn(nil, key, proto, server, ukey, client, byClient, t, v)
}

// setIn is set with slot, when not nil, remembering the
// series of key so that the next call needs no map lookup.
func (x *timeline) setIn(slot **series, key any, proto string, server netip.Addr, ukey string, client peer, byClient bool, t time.Time, v int) {
	s, i := x.bucket(slot, key, proto, server, ukey, client, byClient, t)
	s.b[i] = max(s.b[i], int32(v))
	s.cur = int32(v)
	s.peak = max(s.peak, v)
}

// refuseIn counts a refused bind or connect of the group key at t, with
// slot as for setIn. A series that never holds a session is not reported.
func (x *timeline) refuseIn(slot **series, key any, proto string, server netip.Addr, ukey string, client peer, byClient bool, t time.Time) {
	s, i := x.bucket(slot, key, proto, server, ukey, client, byClient, t)
	if s.r == nil {
		s.r = new([]int32)
	}
	r := *s.r
	for len(r) < len(s.b) {
		r = append(r, 0)
	}
	r[i]++
	*s.r = r
}

// bucket returns the series of key, created when new, and the index in
// s.b of the bucket of t, coarsening the series to keep it within maxPoints.
func (x *timeline) bucket(slot **series, key any, proto string, server netip.Addr, ukey string, client peer, byClient bool, t time.Time) (*series, int64) {
	var s *series
	if slot != nil {
		s = *slot
	}
	if s == nil {
		s = x.series[key]
	}
	if s == nil {
		x.n++
		s = &series{id: int32(x.n), proto: proto, server: server, ukey: ukey, client: client, byClient: byClient, w: 1}
		x.series[key] = s
	}
	if slot != nil {
		*slot = s
	}
	sec := int64(t.Sub(x.t0) / time.Second)
	if sec < 0 {
		sec = 0
	}
	idx := sec / s.w
	if s.b == nil {
		s.start = idx
		s.b = []int32{s.cur}
	}
	if idx < s.start {
		idx = s.start // events out of time order
	}
	for idx-s.start >= maxPoints {
		// Coarsen: merge pairs of buckets, the most held and the sum of
		// the refusals.
		ns := s.start / 2
		var nb, nr []int32
		for i, v := range s.b {
			j := int((s.start+int64(i))/2 - ns)
			for len(nb) <= j {
				nb = append(nb, 0)
			}
			nb[j] = max(nb[j], v)
			if s.r != nil {
				for len(nr) <= j {
					nr = append(nr, 0)
				}
				if i < len(*s.r) {
					nr[j] += (*s.r)[i]
				}
			}
		}
		s.w *= 2
		s.start, s.b = ns, nb
		if s.r != nil {
			*s.r = nr
		}
		idx = sec / s.w
	}
	for int64(len(s.b)) <= idx-s.start {
		s.b = append(s.b, s.cur)
	}
	return s, idx - s.start
}

// retire moves the series of a retired row among the retired series,
// keeping the maxTimelineRows highest; name is the user's.
func (x *timeline) retire(key any, name NullString) {
	s := x.series[key]
	if s == nil {
		return
	}
	s.name = name
	delete(x.series, key)
	if s.peak == 0 {
		return
	}
	x.retired = append(x.retired, s)
	if len(x.retired) >= 2*maxTimelineRows {
		slices.SortStableFunc(x.retired, seriesOrder)
		x.dropped += len(x.retired) - maxTimelineRows
		clear(x.retired[maxTimelineRows:])
		x.retired = x.retired[:maxTimelineRows]
	}
}

// seriesOrder: highest peak first, then a fixed order of the keys.
func seriesOrder(x, y *series) int {
	if c := cmp.Compare(y.peak, x.peak); c != 0 {
		return c
	}
	if c := cmp.Compare(x.proto, y.proto); c != 0 {
		return c
	}
	if c := x.server.Compare(y.server); c != 0 {
		return c
	}
	if x.byClient != y.byClient {
		if x.byClient {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(x.ukey, y.ukey); c != 0 {
		return c
	}
	if c := x.client.Compare(y.client); c != 0 {
		return c
	}
	return cmp.Compare(x.id, y.id)
}

// rows adds the timeline to r: nspiLimit and storeLimit are the limits of
// the two protocols, leaks the leak findings by (server, proto+"|"+user).
func (x *timeline) rows(r *Report, nspiLimit, storeLimit int, leaks map[gkey]*Finding) {
	all := make([]*series, 0, len(x.series)+len(x.retired))
	for _, s := range x.series {
		if s.peak > 0 {
			all = append(all, s)
		}
	}
	all = append(all, x.retired...)
	if !x.started || len(all) == 0 {
		return
	}
	span := int64(x.lastTime.Sub(x.t0) / time.Second)
	w := int64(1)
	for span/w+1 > maxBuckets {
		w *= 2
	}
	for _, s := range all {
		w = max(w, s.w)
	}
	nb := int(span/w + 1)
	// With more series than the report keeps, build only the highest
	// (seriesOrder: by peak, ties in a fixed order).
	omitted := x.dropped
	// In creation order, so that the two series of a row that came back
	// after it was retired keep theirs through the stable sorts.
	slices.SortFunc(all, func(x, y *series) int { return cmp.Compare(x.id, y.id) })
	if len(all) > maxTimelineRows {
		slices.SortStableFunc(all, seriesOrder)
		omitted += len(all) - maxTimelineRows
		all = all[:maxTimelineRows]
	}
	for _, s := range all {
		held := make([]int, nb)
		lastJ := -1
		for i, v := range s.b {
			j := int((s.start + int64(i)) * s.w / w)
			if j >= nb {
				j = nb - 1
			}
			held[j] = max(held[j], int(v))
			lastJ = j
		}
		for j := lastJ + 1; j < nb; j++ {
			held[j] = int(s.cur)
		}
		var refused []int
		var refs []int32
		if s.r != nil {
			refs = *s.r
		}
		for i, v := range refs {
			if v == 0 {
				continue
			}
			if refused == nil {
				refused = make([]int, nb)
			}
			j := min(int((s.start+int64(i))*s.w/w), nb-1)
			refused[j] += int(v)
		}
		row := TimelineRow{Proto: s.proto, Server: s.server.String(), By: "user", Start: utc(x.t0), BucketSeconds: w, Held: held, Refused: refused, Peak: s.peak, Limit: nspiLimit}
		if s.proto == "emsmdb" {
			row.Limit = storeLimit
		}
		if s.byClient {
			row.By, row.Client, row.ClientAddress = "client", s.client.sock.String(), addrString(s.client.behind())
		} else {
			row.User = x.name(s.ukey)
			row.Ticket = x.ticketOf(s.ukey)
			if s.name != "" {
				row.User = s.name
			}
			if f := leaks[gkey{s.server, s.proto + "|" + s.ukey}]; f != nil {
				row.RatePerHour, row.LimitAt = f.RatePerHour, f.LimitAt
			}
		}
		r.Timeline = append(r.Timeline, row)
	}
	r.Timeline = mergeTimeline(r.Timeline)
	if omitted > 0 {
		// The series that climbed highest are kept (the ones a reader
		// needs); the counters and findings still cover everybody.
		r.Anomalies = append(r.Anomalies, Anomaly{Kind: AnomalyTimelineTruncated, Count: int64(omitted), Notice: true,
			Message: fmt.Sprintf("the timeline lists the %d series that held the most sessions; %d more are left out (their counters and findings are complete)", maxTimelineRows, omitted)})
		sort.Slice(r.Anomalies, func(i, j int) bool { return r.Anomalies[i].Kind < r.Anomalies[j].Kind })
	}
	sort.SliceStable(r.Timeline, func(i, j int) bool {
		a, b := r.Timeline[i], r.Timeline[j]
		if a.Proto != b.Proto {
			return a.Proto > b.Proto // nspi before emsmdb
		}
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		if a.By != b.By {
			return a.By > b.By // user before client
		}
		if a.By == "client" {
			if a.Client != b.Client {
				return addrLess(a.Client, b.Client)
			}
			return addrLess(a.ClientAddress, b.ClientAddress)
		}
		if a.User == "" && b.User == "" && a.Ticket != b.Ticket {
			return a.Ticket != "" && (b.Ticket == "" || a.Ticket < b.Ticket)
		}
		return userRowLess(a.Server, a.User, b.Server, b.User)
	})
}

// mergeTimeline makes one row of the series of a row that was retired and
// came back (--max-rows, --max-open-sessions): its periods follow one
// another, and what a retired period still held counts as held until the
// end, so the sessions held are the sum of the periods' in each bucket.
func mergeTimeline(rows []TimelineRow) []TimelineRow {
	type key struct{ proto, server, by, who, addr string }
	at := map[key]int{}
	out := rows[:0]
	for _, row := range rows {
		k := key{row.Proto, row.Server, row.By, row.Client, row.ClientAddress}
		if row.By == "user" {
			k.who = strings.ToLower(string(row.User)) + "\x00" + row.Ticket
		}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, row)
			continue
		}
		m := &out[i]
		for j := range m.Held {
			m.Held[j] += row.Held[j]
			m.Peak = max(m.Peak, m.Held[j])
		}
		if row.Refused != nil {
			if m.Refused == nil {
				m.Refused = make([]int, len(m.Held))
			}
			for j := range m.Refused {
				m.Refused[j] += row.Refused[j]
			}
		}
		m.Peak = max(m.Peak, row.Peak)
	}
	return out
}
