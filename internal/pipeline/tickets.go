package pipeline

import (
	"time"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/kerberos"
)

// Bounds of the ticket table: a Kerberos ticket lives 10 hours by default
// (the domain's "Maximum lifetime for service ticket" is at most that of
// the user ticket, 10 hours), and a service account reuses one for hours;
// 16384 tickets of under 300 bytes each (the entry, its map slot and the
// user's name of at most 100 bytes) are at most 5 MiB (TestTicketTableCost).
// The least recently used go first: a ticket that binds again and again
// (a service account's) stays.
const (
	maxTickets   = 1 << 14
	ticketMaxAge = 10 * time.Hour
)

// issued is what the KDC-REP that issued a ticket said: its client, the
// frame, and the acting service of a delegation.
type issued struct {
	user string
	pos  dcerpc.Pos
	via  string
}

// ticketTable holds the tickets issued in the capture, by the digest of
// their encrypted part, in least-recently-used order; across the files of
// a ring (one run). Capture time retires them: a ticket older than maxAge
// (from its KDC-REP) is dropped when met, and the least recently used goes
// when the table is full.
type ticketTable struct {
	m      map[kerberos.TicketKey]*ticketEnt
	head   ticketEnt // sentinel of the LRU list: head.next the most recent
	max    int
	maxAge time.Duration
}

type ticketEnt struct {
	key        kerberos.TicketKey
	is         issued
	prev, next *ticketEnt
}

func newTicketTable(max int, maxAge time.Duration) *ticketTable {
	t := &ticketTable{m: map[kerberos.TicketKey]*ticketEnt{}, max: max, maxAge: maxAge}
	t.head.prev, t.head.next = &t.head, &t.head
	return t
}

func (t *ticketTable) unlink(e *ticketEnt) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (t *ticketTable) front(e *ticketEnt) {
	e.prev, e.next = &t.head, t.head.next
	t.head.next.prev = e
	t.head.next = e
}

// add records a ticket issued at now and returns how many it retired.
func (t *ticketTable) add(k kerberos.TicketKey, is issued, now time.Time) int {
	if e := t.m[k]; e != nil {
		// The same ticket issued again (a retransmitted reply): keep the
		// first issue's frame.
		t.unlink(e)
		t.front(e)
		return 0
	}
	n := 0
	// Retire from the least recently used end: those too old, then one
	// if full.
	for t.head.prev != &t.head {
		old := t.head.prev
		if len(t.m) < t.max && now.Sub(old.is.pos.Time) <= t.maxAge {
			break
		}
		t.unlink(old)
		delete(t.m, old.key)
		n++
	}
	e := &ticketEnt{key: k, is: is}
	t.m[k] = e
	t.front(e)
	return n
}

// get returns the issue of a ticket used at now, if recorded and not older
// than maxAge.
func (t *ticketTable) get(k kerberos.TicketKey, now time.Time) (issued, bool) {
	e := t.m[k]
	if e == nil {
		return issued{}, false
	}
	if now.Sub(e.is.pos.Time) > t.maxAge {
		t.unlink(e)
		delete(t.m, k)
		return issued{}, false
	}
	t.unlink(e)
	t.front(e)
	return e.is, true
}

func (t *ticketTable) len() int { return len(t.m) }
