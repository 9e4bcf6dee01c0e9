package pipeline

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/kerberos"
)

// Kerberos without keys (docs/kerberos.md): the KDC's AS-REP and TGS-REP
// name the client of each ticket they issue, in clear; the ticket's
// encrypted part reappears byte for byte in every AP-REQ that uses it. The
// runner reads the KDC exchanges on port 88 (UDP datagrams, TCP streams),
// keeps the tickets issued in a bounded table keyed by a digest of that
// encrypted part (tickets.go), and names the security context of a bind
// whose AP-REQ carries one of them (conn.NameTicket, once per context). A
// ticket the table does not hold (issued before the capture, its KDC
// exchange later in the capture than the bind, or a reply that does not
// name its client: the anonymous principal, or none) is never named: the
// context gets the ticket's label instead. A FAST-armored reply (RFC 6113)
// is read as any other: its outer cname is the client's, unless the
// client asked the KDC to hide it.

// KDCError is one KRB-ERROR the KDC answered, other than the routine ones.
type KDCError struct {
	Frame  analyze.FrameRef
	Code   int32
	Name   string // KDC_ERR_CLIENT_REVOKED, ...
	Client string // cname@crealm when the error says, else the request's
	// Service is the service principal the error names.
	Service string
}

// KerberosStats counts what the runner read of Kerberos.
type KerberosStats struct {
	// Messages: KDC messages decoded on port 88; Malformed those that did
	// not decode (or were cut).
	Messages, Malformed int64
	// Issued: tickets of AS-REPs and TGS-REPs recorded; Retired: tickets
	// dropped from the table (older than 10 hours, or the least recently
	// used beyond its bound).
	Issued, Retired int64
	// Named and Unnamed: the Kerberos security contexts (AP-REQs in binds)
	// whose ticket the table held, and those it did not.
	Named, Unnamed int64
	// Armored: AS-REPs and TGS-REPs with PA-FX-FAST (RFC 6113), read as
	// any other; Hidden: the replies whose client is the anonymous
	// principal or empty (a FAST reply that hides its client, an
	// anonymous PKINIT armor ticket): their tickets are not recorded.
	Armored, Hidden int64
}

// maxKDCErrors bounds the KRB-ERRORs a Result lists; maxPendingS4U the
// S4U requests awaiting their reply; maxKDCBuffered the bytes of partial
// messages all TCP connections to port 88 hold at once.
const (
	maxKDCErrors   = 1000
	maxPendingS4U  = 4096
	maxKDCBuffered = 1 << 20
)

// kdcState is the runner's Kerberos state.
type kdcState struct {
	tickets *ticketTable
	// pending: S4U TGS-REQs (and AS-REQs, for the client name of a
	// KRB-ERROR) by the client's address and port, awaiting the reply
	// on the same UDP flow or TCP connection.
	pending map[flowKey]kdcReq
	errors  []KDCError
	nErrors map[int32]int64
	stats   KerberosStats
	// buffered: bytes held by the partial messages of kdcStreams.
	buffered int
	// unnamed: the Origin of each ticket not issued in the capture, made
	// once and shared by every context that uses the ticket (a service
	// account binds with one ticket for hours); at most maxUnnamed.
	unnamed map[kerberos.TicketKey]*dcerpc.Origin
}

// maxUnnamed bounds kdcState.unnamed; when full it starts again.
const maxUnnamed = 4096

// flowKey is one direction-independent KDC exchange: the client's socket
// and the KDC's.
type flowKey struct{ client, kdc netip.AddrPort }

// kdcReq is what a request leaves for its reply.
type kdcReq struct {
	via    string // the acting service of an S4U request
	client string // an AS-REQ's client
}

func newKDCState() *kdcState {
	return &kdcState{tickets: newTicketTable(maxTickets, ticketMaxAge), pending: map[flowKey]kdcReq{}, nErrors: map[int32]int64{}}
}

// Datagram handles a UDP datagram to or from port 88
// (capture.DatagramHandler).
func (r *runner) Datagram(src, dst netip.AddrPort, pos capture.Pos, b []byte, cut int) {
	if cut > 0 {
		r.kdc.stats.Malformed++
		return
	}
	fl := flowKey{client: src, kdc: dst}
	if src.Port() == 88 {
		fl = flowKey{client: dst, kdc: src}
	}
	r.kdcMessage(fl, dcerpc.Pos(pos), b)
}

// kdcMessage handles one Kerberos message of the exchange fl.
func (r *runner) kdcMessage(fl flowKey, pos dcerpc.Pos, b []byte) {
	k := r.kdc
	m, err := kerberos.Decode(b)
	if err != nil {
		k.stats.Malformed++
		return
	}
	k.stats.Messages++
	switch m.Type {
	case kerberos.ASReq:
		r.pend(fl, kdcReq{client: m.Client()})
	case kerberos.TGSReq:
		switch {
		case m.Proxy:
			// S4U2Proxy: the evidence ticket is the acting service's
			// ticket for the user (issued to that service by S4U2Self
			// or an AP-REQ): the acting service is its service name.
			r.pend(fl, kdcReq{via: m.Evidence.SName})
		case m.ForUser != "":
			// S4U2Self: the service asks a ticket to itself for the user.
			r.pend(fl, kdcReq{via: m.SName})
		default:
			delete(k.pending, fl)
		}
	case kerberos.ASRep, kerberos.TGSRep:
		req := k.pending[fl]
		delete(k.pending, fl)
		if m.Armored {
			k.stats.Armored++
		}
		if m.Hidden {
			// The outer reply does not name the client (RFC 6112, RFC
			// 6113 hide-client-names): the ticket stays unnamed.
			k.stats.Hidden++
			return
		}
		k.stats.Issued++
		k.stats.Retired += int64(k.tickets.add(m.Ticket.Key, issued{user: m.Client(), pos: pos, via: req.via}, pos.Time))
	case kerberos.KRBError:
		req := k.pending[fl]
		delete(k.pending, fl)
		if kerberos.Routine(m.ErrorCode) {
			return
		}
		k.nErrors[m.ErrorCode]++
		if len(k.errors) < maxKDCErrors {
			client := m.Client()
			if client == "" {
				client = req.client
			}
			k.errors = append(k.errors, KDCError{Frame: r.ref(pos), Code: m.ErrorCode, Name: kerberos.ErrorName(m.ErrorCode),
				Client: client, Service: m.SName})
		}
	}
}

// pend remembers a request for its reply, within bounds.
func (r *runner) pend(fl flowKey, q kdcReq) {
	p := r.kdc.pending
	if _, ok := p[fl]; !ok && len(p) >= maxPendingS4U {
		for k := range p { // drop one: an answer that never came
			delete(p, k)
			break
		}
	}
	if q == (kdcReq{}) {
		delete(p, fl)
		return
	}
	p[fl] = q
}

// NameTicket names the client of a Kerberos AP-REQ from the ticket table
// (dcerpc.TicketNamer): once per security context, at its bind.
func (k *conn) NameTicket(tok []byte, pos dcerpc.Pos) (string, *dcerpc.Origin) {
	return k.r.nameTicket(tok, pos)
}

func (r *runner) nameTicket(tok []byte, pos dcerpc.Pos) (string, *dcerpc.Origin) {
	t, ok := kerberos.APReqTicket(tok)
	if !ok {
		return "", nil
	}
	if is, ok := r.kdc.tickets.get(t.Key, pos.Time); ok {
		r.kdc.stats.Named++
		return is.user, &dcerpc.Origin{From: dcerpc.OriginTGSRep, Pos: is.pos, Via: is.via}
	}
	r.kdc.stats.Unnamed++
	k := r.kdc
	if o := k.unnamed[t.Key]; o != nil {
		return "", o
	}
	if k.unnamed == nil || len(k.unnamed) >= maxUnnamed {
		k.unnamed = make(map[kerberos.TicketKey]*dcerpc.Origin)
	}
	o := &dcerpc.Origin{Ticket: t.Label()}
	k.unnamed[t.Key] = o
	return "", o
}

// kdcAnomaly turns the KRB-ERRORs into one anomaly: the count, and per
// code its name, meaning, first clients and frames.
func (r *runner) kdcAnomaly() {
	k := r.kdc
	var n int64
	codes := make([]int32, 0, len(k.nErrors))
	for c, x := range k.nErrors {
		codes = append(codes, c)
		n += x
	}
	if n == 0 {
		return
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	var parts []string
	for _, c := range codes {
		var s strings.Builder
		fmt.Fprintf(&s, "%s x%d", kerberos.ErrorName(c), k.nErrors[c])
		if m := kerberos.ErrorMeaning(c); m != "" {
			fmt.Fprintf(&s, " (%s)", m)
		}
		var who, frames []string
		for _, e := range k.errors {
			if e.Code != c {
				continue
			}
			if len(frames) < 5 {
				frames = append(frames, fmt.Sprintf("%s#%d", e.Frame.File, e.Frame.Frame))
			}
			if e.Client != "" && len(who) < 3 && !contains(who, e.Client) {
				who = append(who, e.Client)
			}
		}
		if len(who) > 0 {
			fmt.Fprintf(&s, " for %s", strings.Join(who, ", "))
		}
		fmt.Fprintf(&s, " at frames %s", strings.Join(frames, ", "))
		parts = append(parts, s.String())
	}
	first := k.errors[0].Frame
	r.anoms[AnomalyKDCError] = &Anomaly{Kind: AnomalyKDCError, Count: n, First: first,
		Example: "the KDC refused Kerberos requests: " + strings.Join(parts, "; ")}
	r.order = append(r.order, AnomalyKDCError)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// kdcStream reads the Kerberos messages of a TCP connection to port 88
// (RFC 4120 7.2.2): each is preceded by its length as 4 bytes; a message
// may span segments, and a segment may hold several. A message's frame is
// the one that completes it (where Wireshark shows it reassembled). A gap
// ends the reading of its direction (no resynchronisation on a length
// prefix).
type kdcStream struct {
	r   *runner
	fl  flowKey
	dir [2]kdcDir
}

type kdcDir struct {
	buf  []byte // the partial record: mark and message bytes so far
	need int    // bytes of the record (mark included) once the mark is read
	dead bool
}

func (r *runner) newKDCStream(ci capture.ConnInfo) *kdcStream {
	fl := flowKey{client: ci.Client, kdc: ci.Server}
	if ci.Client.Port() == 88 {
		fl = flowKey{client: ci.Server, kdc: ci.Client}
	}
	return &kdcStream{r: r, fl: fl}
}

func (s *kdcStream) Data(dir capture.Dir, pos capture.Pos, b []byte) bool {
	d := &s.dir[dir]
	k := s.r.kdc
	for len(b) > 0 && !d.dead {
		if d.need == 0 {
			n := min(4-len(d.buf), len(b))
			d.buf = append(d.buf, b[:n]...)
			b = b[n:]
			if len(d.buf) < 4 {
				break
			}
			l, err := kerberos.RecordLen(d.buf)
			if err != nil {
				s.stop(d)
				break
			}
			d.need = 4 + l
		}
		n := min(d.need-len(d.buf), len(b))
		if len(d.buf) == 4 && n == d.need-4 {
			// The whole message in this segment: read it in place.
			s.r.kdcMessage(s.fl, dcerpc.Pos(pos), b[:n])
			b = b[n:]
			d.buf, d.need = d.buf[:0], 0
			continue
		}
		if k.buffered+n > maxKDCBuffered {
			s.stop(d)
			break
		}
		k.buffered += n
		d.buf = append(d.buf, b[:n]...)
		b = b[n:]
		if len(d.buf) == d.need {
			s.r.kdcMessage(s.fl, dcerpc.Pos(pos), d.buf[4:])
			s.release(d)
		}
	}
	return !(s.dir[0].dead && s.dir[1].dead)
}

// release frees the message buffer of a direction.
func (s *kdcStream) release(d *kdcDir) {
	if len(d.buf) > 4 {
		s.r.kdc.buffered -= len(d.buf) - 4
	}
	d.buf, d.need = nil, 0
}

// stop ends the reading of a direction: a bad record mark, a gap, or the
// bound on buffered bytes.
func (s *kdcStream) stop(d *kdcDir) {
	s.r.kdc.stats.Malformed++
	s.release(d)
	d.dead = true
}

func (s *kdcStream) Gap(dir capture.Dir, pos capture.Pos, n int) {
	if d := &s.dir[dir]; !d.dead {
		s.stop(d)
	}
}

func (s *kdcStream) End(pos capture.Pos, how capture.EndKind) {
	for i := range s.dir {
		s.release(&s.dir[i])
	}
}

// isKDC says whether a TCP connection is Kerberos (either port 88).
func isKDC(ci capture.ConnInfo) bool { return ci.Server.Port() == 88 || ci.Client.Port() == 88 }
