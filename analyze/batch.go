package analyze

// Batch carries events from one goroutine to an analyzer running in another
// without an allocation per event: each type has its own slice, reused from
// batch to batch, and the order of the events is kept apart.
type Batch struct {
	order []batchRef
	nspi  []NSPICall
	store []StoreCall
	ep    []EndpointAnswer
	rfr   []ReferralCall
	end   []ConnEnd
	att   []ConnAttempt
	alias []DomainAlias
}

type batchRef struct {
	kind uint8
	i    uint32
}

const (
	bNSPI uint8 = iota
	bStore
	bEndpoint
	bReferral
	bConnEnd
	bAttempt
	bAlias
)

// Add copies ev into the batch. The event's strings are immutable and its
// slices never reused by the sender, so a shallow copy is enough.
func (b *Batch) Add(ev Event) {
	var r batchRef
	switch e := ev.(type) {
	case *NSPICall:
		r = batchRef{bNSPI, uint32(len(b.nspi))}
		b.nspi = append(b.nspi, *e)
	case *StoreCall:
		r = batchRef{bStore, uint32(len(b.store))}
		b.store = append(b.store, *e)
	case *EndpointAnswer:
		r = batchRef{bEndpoint, uint32(len(b.ep))}
		b.ep = append(b.ep, *e)
	case *ReferralCall:
		r = batchRef{bReferral, uint32(len(b.rfr))}
		b.rfr = append(b.rfr, *e)
	case *ConnEnd:
		r = batchRef{bConnEnd, uint32(len(b.end))}
		b.end = append(b.end, *e)
	case *ConnAttempt:
		r = batchRef{bAttempt, uint32(len(b.att))}
		b.att = append(b.att, *e)
	case *DomainAlias:
		r = batchRef{bAlias, uint32(len(b.alias))}
		b.alias = append(b.alias, *e)
	default:
		return
	}
	b.order = append(b.order, r)
}

// Len is the number of events in the batch.
func (b *Batch) Len() int { return len(b.order) }

// at returns the i-th event added.
func (b *Batch) at(i int) Event {
	r := b.order[i]
	switch r.kind {
	case bNSPI:
		return &b.nspi[r.i]
	case bStore:
		return &b.store[r.i]
	case bEndpoint:
		return &b.ep[r.i]
	case bReferral:
		return &b.rfr[r.i]
	case bConnEnd:
		return &b.end[r.i]
	case bAlias:
		return &b.alias[r.i]
	}
	return &b.att[r.i]
}

// Reset empties the batch for reuse, letting go of the events' strings.
func (b *Batch) Reset() {
	b.order = b.order[:0]
	clear(b.nspi)
	b.nspi = b.nspi[:0]
	clear(b.store)
	b.store = b.store[:0]
	clear(b.ep)
	b.ep = b.ep[:0]
	clear(b.rfr)
	b.rfr = b.rfr[:0]
	clear(b.end)
	b.end = b.end[:0]
	clear(b.att)
	b.att = b.att[:0]
	clear(b.alias)
	b.alias = b.alias[:0]
}

// AddBatch adds the events of b in the order they were added to it.
func (a *Analyzer) AddBatch(b *Batch) {
	for i := range b.order {
		a.Add(b.at(i))
	}
}
