package analyze

import (
	"fmt"
	"net/netip"
	"time"
)

// The referrals tracker lists what RFR (MS-OXABREF 3.1.4.1) answered: the
// directory server (RfrGetNewDSA) or mailbox server
// (RfrGetFQDNFromServerDN) each client was sent to, identical answers to
// one client counted in one row. A client behind an RPC proxy
// (Meta.ClientAddress) is a client of its own, with the proxy beside it, as
// in the client rows. It makes no finding.

// maxReferrals bounds the distinct referral rows.
const maxReferrals = 1000

type Referral struct {
	Server string `json:"server"`
	Client string `json:"client"`
	// ClientAddress: as in ClientRow (the client behind the RPC proxy
	// Client; each such client has its own rows).
	ClientAddress string     `json:"client_address,omitempty"`
	User          NullString `json:"user"`
	Op            string     `json:"op"`
	DN            string     `json:"dn,omitempty"`
	ReferredTo    string     `json:"referred_to"`
	Status        string     `json:"status"`
	Count         int        `json:"count"`
	Frame         FrameRef   `json:"frame"`
	ReplyFrame    FrameRef   `json:"reply_frame"`
	Time          time.Time  `json:"time"`
}

// TimelineRow is the number of sessions one user (By "user") or one client
// IP (By "client") held on one server over the capture: Held[i] is the most

// referralTracker is the referrals tracker.
type referralTracker struct {
	*core
	rows  map[rfrKey]*Referral
	order []rfrKey
}

func newReferralTracker(c *core) *referralTracker {
	return &referralTracker{core: c, rows: map[rfrKey]*Referral{}}
}

type rfrKey struct {
	server       netip.Addr
	client       peer // with the client behind an RPC proxy
	ukey, op, to string
	status       uint32
}

func (t *referralTracker) add(ev *ReferralCall) {
	if !ev.Answered || ev.HasFault || !ev.HasStatus {
		return
	}
	server := ev.Server.Addr().Unmap()
	ukey := t.idKey(&ev.Identity, true)
	k := rfrKey{server, peerOf(&ev.Meta), ukey, ev.Name, ev.Referral, ev.Status}
	if r := t.rows[k]; r != nil {
		r.Count++
		return
	}
	if len(t.rows) >= maxReferrals {
		return
	}
	t.rows[k] = &Referral{Server: server.String(), Client: ev.Client.Addr().Unmap().String(), ClientAddress: addrString(ev.ClientAddress.Unmap()),
		User: t.name(ukey), Op: ev.Name, DN: ev.DN,
		ReferredTo: ev.Referral, Status: fmt.Sprintf("0x%08x", ev.Status), Count: 1, Frame: ev.Frame, ReplyFrame: ev.replyFrame(ev.Frame), Time: utc(ev.Time)}
	t.order = append(t.order, k)
}

// list adds the referrals to r, in the order first seen.
func (t *referralTracker) list(r *Report) {
	r.Referrals = []Referral{}
	for _, k := range t.order {
		r.Referrals = append(r.Referrals, *t.rows[k])
	}
}
