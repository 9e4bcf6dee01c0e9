package synth

import (
	"encoding/binary"
	"unicode/utf16"
)

// NTLMSSP negotiate flags (MS-NLMP 2.2.2.5).
const (
	NTLMUnicode        = 0x00000001
	NTLMOEM            = 0x00000002
	NTLMRequestTarget  = 0x00000004
	NTLMNTLM           = 0x00000200
	NTLMAnonymous      = 0x00000800
	NTLMAlwaysSign     = 0x00008000
	NTLMTargetDomain   = 0x00010000
	NTLMESS            = 0x00080000
	NTLMTargetInfo     = 0x00800000
	NTLMVersion        = 0x02000000
	NTLM128            = 0x20000000
	NTLM56             = 0x80000000
	NTLMNegotiateFlags = NTLMUnicode | NTLMOEM | NTLMRequestTarget | NTLMNTLM | NTLMAlwaysSign | NTLMESS | NTLMVersion | NTLM128 | NTLM56
	NTLMChallengeFlags = NTLMUnicode | NTLMRequestTarget | NTLMNTLM | NTLMAlwaysSign | NTLMTargetDomain | NTLMESS | NTLMTargetInfo | NTLMVersion | NTLM128 | NTLM56
	NTLMAuthFlags      = NTLMUnicode | NTLMRequestTarget | NTLMNTLM | NTLMAlwaysSign | NTLMESS | NTLMTargetInfo | NTLMVersion | NTLM128 | NTLM56
)

var ntlmSig = []byte("NTLMSSP\x00")

// ntlmVersion: Windows 10.0.19041, NTLM revision 15.
var ntlmVersion = []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f}

// UTF16LE encodes s as UTF-16LE bytes.
func UTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// ntlmMsg builds an NTLMSSP message: fixed part (signature, type, then the
// given fixed fields with security buffers) and payload.
type ntlmMsg struct {
	fixed   []byte
	payload []byte
	bufs    []int // offsets into fixed of security buffers to patch
	datas   [][]byte
	hdrLen  int
}

// secBuf reserves an 8-byte security buffer in the fixed part for data.
func (m *ntlmMsg) secBuf(data []byte) {
	m.bufs = append(m.bufs, len(m.fixed))
	m.datas = append(m.datas, data)
	m.fixed = append(m.fixed, make([]byte, 8)...)
}

func (m *ntlmMsg) u32(v uint32) { m.fixed = binary.LittleEndian.AppendUint32(m.fixed, v) }

func (m *ntlmMsg) bytes(b []byte) { m.fixed = append(m.fixed, b...) }

// finish lays the payload out in the order the buffers were declared,
// unless order gives another order (indexes into the declared buffers).
func (m *ntlmMsg) finish(order []int) []byte {
	if order == nil {
		for i := range m.bufs {
			order = append(order, i)
		}
	}
	out := append([]byte(nil), m.fixed...)
	off := len(out)
	for _, i := range order {
		d := m.datas[i]
		p := m.bufs[i]
		binary.LittleEndian.PutUint16(out[p:], uint16(len(d)))
		binary.LittleEndian.PutUint16(out[p+2:], uint16(len(d)))
		binary.LittleEndian.PutUint32(out[p+4:], uint32(off))
		out = append(out, d...)
		off += len(d)
	}
	return out
}

// NTLMNegotiate builds an NTLMSSP NEGOTIATE message (no domain/workstation
// supplied, with VERSION).
func NTLMNegotiate(flags uint32) []byte {
	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(1)
	m.u32(flags)
	m.secBuf(nil) // domain
	m.secBuf(nil) // workstation
	m.bytes(ntlmVersion)
	return m.finish(nil)
}

// Target describes the server side of an NTLM exchange.
type Target struct {
	NbDomain  string // CONTOSO
	NbHost    string // DC01
	DNSDomain string // contoso.example
	DNSHost   string // dc01.contoso.example
	SPN       string // exchangeAB/dc01.contoso.example
}

// AVPair IDs.
const (
	avEOL        = 0
	avNbComputer = 1
	avNbDomain   = 2
	avDNSHost    = 3
	avDNSDomain  = 4
	avDNSTree    = 5
	avFlags      = 6
	avTimestamp  = 7
	avTargetName = 9
)

func appendAV(b []byte, id uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// TargetInfo builds the CHALLENGE AV pairs (without the final EOL when
// open is true, so callers can append more pairs). A target without DNS
// names (a server outside Active Directory's DNS) has no DNS pairs.
func (t Target) targetInfo(ts uint64, open bool) []byte {
	var b []byte
	b = appendAV(b, avNbDomain, UTF16LE(t.NbDomain))
	b = appendAV(b, avNbComputer, UTF16LE(t.NbHost))
	if t.DNSDomain != "" {
		b = appendAV(b, avDNSDomain, UTF16LE(t.DNSDomain))
		b = appendAV(b, avDNSHost, UTF16LE(t.DNSHost))
		b = appendAV(b, avDNSTree, UTF16LE(t.DNSDomain))
	}
	b = appendAV(b, avTimestamp, binary.LittleEndian.AppendUint64(nil, ts))
	if !open {
		b = appendAV(b, avEOL, nil)
	}
	return b
}

// NTLMChallenge builds an NTLMSSP CHALLENGE message.
func NTLMChallenge(flags uint32, t Target, serverChallenge [8]byte, ts uint64) []byte {
	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(2)
	m.secBuf(UTF16LE(t.NbDomain)) // TargetName
	m.u32(flags)
	m.bytes(serverChallenge[:])
	m.bytes(make([]byte, 8)) // reserved
	m.secBuf(t.targetInfo(ts, false))
	m.bytes(ntlmVersion)
	return m.finish(nil)
}

// Creds is an NTLM client identity.
type Creds struct {
	Domain      string
	User        string
	Workstation string
	// Anonymous builds a null-session AUTHENTICATE: empty user and domain,
	// empty NT response and a 1-byte LM response.
	Anonymous bool
}

// Name returns "DOMAIN\user", or "" for anonymous.
func (c Creds) Name() string {
	if c.Anonymous || c.User == "" {
		return ""
	}
	return c.Domain + `\` + c.User
}

// NTLMAuthenticate builds an NTLMSSP AUTHENTICATE message with an
// NTLMv2-shaped response (fake NTProofStr, real blob layout), VERSION and a
// fake MIC. fake supplies deterministic filler bytes.
func NTLMAuthenticate(c Creds, t Target, ts uint64, clientChallenge [8]byte, fake func(n int) []byte) []byte {
	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(3)
	var lm, nt []byte
	flags := uint32(NTLMAuthFlags)
	if c.Anonymous {
		lm = []byte{0}
		flags |= NTLMAnonymous
	} else {
		lm = make([]byte, 24)                                        // Windows sends 24 zero bytes when MsvAvTimestamp is present
		nt = append(fake(16), ntlmv2Blob(t, ts, clientChallenge)...) // NTProofStr + blob
	}
	domain, user := UTF16LE(c.Domain), UTF16LE(c.User)
	if c.Anonymous {
		domain, user = nil, nil
	}
	m.secBuf(lm)
	m.secBuf(nt)
	m.secBuf(domain)
	m.secBuf(user)
	m.secBuf(UTF16LE(c.Workstation))
	m.secBuf(nil) // EncryptedRandomSessionKey (no KEY_EXCH)
	m.u32(flags)
	m.bytes(ntlmVersion)
	if !c.Anonymous {
		m.bytes(fake(16)) // MIC
	}
	// payload order as Windows: domain, user, workstation, LM, NT, key
	return m.finish([]int{2, 3, 4, 0, 1, 5})
}

// --- DER / SPNEGO / Kerberos ---

func derLen(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	default:
		return []byte{0x82, byte(n >> 8), byte(n)}
	}
}

// tlv encodes one DER element.
func tlv(tag byte, parts ...[]byte) []byte {
	var c []byte
	for _, p := range parts {
		c = append(c, p...)
	}
	out := append([]byte{tag}, derLen(len(c))...)
	return append(out, c...)
}

func derInt(v int) []byte { return tlv(0x02, []byte{byte(v)}) }

func derGeneralString(s string) []byte { return tlv(0x1b, []byte(s)) }

// OIDs (DER-encoded, with tag and length).
var (
	OIDSPNEGO = []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	OIDNTLM   = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	OIDKRB5   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	OIDMSKRB5 = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
	OIDNEGOEX = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e}
)

// SPNEGOInit builds a GSS-framed NegTokenInit with the given mech OIDs and
// optimistic mechToken.
func SPNEGOInit(mechs [][]byte, mechToken []byte) []byte {
	var m []byte
	for _, o := range mechs {
		m = append(m, o...)
	}
	inner := tlv(0x30, tlv(0xa0, tlv(0x30, m)), tlv(0xa2, tlv(0x04, mechToken)))
	return tlv(0x60, OIDSPNEGO, tlv(0xa0, inner))
}

// NegState values.
const (
	NegAcceptCompleted  = 0
	NegAcceptIncomplete = 1
)

// SPNEGOResp builds a NegTokenResp. negState < 0 omits it; nil mech, token
// or mic omit those fields.
func SPNEGOResp(negState int, mech, token, mic []byte) []byte {
	var parts [][]byte
	if negState >= 0 {
		parts = append(parts, tlv(0xa0, tlv(0x0a, []byte{byte(negState)})))
	}
	if mech != nil {
		parts = append(parts, tlv(0xa1, mech))
	}
	if token != nil {
		parts = append(parts, tlv(0xa2, tlv(0x04, token)))
	}
	if mic != nil {
		parts = append(parts, tlv(0xa3, tlv(0x04, mic)))
	}
	return tlv(0xa1, tlv(0x30, parts...))
}

func encData(etype, kvno int, cipher []byte) []byte {
	parts := [][]byte{tlv(0xa0, derInt(etype))}
	if kvno >= 0 {
		parts = append(parts, tlv(0xa1, derInt(kvno)))
	}
	parts = append(parts, tlv(0xa2, tlv(0x04, cipher)))
	return tlv(0x30, parts...)
}

// KerberosAPReq builds a raw (not GSS-framed) AP-REQ with a service ticket
// for sname/host in realm and fake encrypted parts.
func KerberosAPReq(realm, service, host string, ticketCipher, authCipher []byte) []byte {
	sname := tlv(0x30,
		tlv(0xa0, derInt(2)), // KRB_NT_SRV_INST
		tlv(0xa1, tlv(0x30, derGeneralString(service), derGeneralString(host))))
	ticket := tlv(0x61, tlv(0x30,
		tlv(0xa0, derInt(5)),
		tlv(0xa1, derGeneralString(realm)),
		tlv(0xa2, sname),
		tlv(0xa3, encData(18, 5, ticketCipher))))
	return tlv(0x6e, tlv(0x30,
		tlv(0xa0, derInt(5)),
		tlv(0xa1, derInt(14)),
		tlv(0xa2, tlv(0x03, []byte{0x00, 0x20, 0x00, 0x00, 0x00})), // mutual-required
		tlv(0xa3, ticket),
		tlv(0xa4, encData(18, -1, authCipher))))
}

// KerberosAPRep builds an AP-REP with a fake encrypted part.
func KerberosAPRep(cipher []byte) []byte {
	return tlv(0x6f, tlv(0x30,
		tlv(0xa0, derInt(5)),
		tlv(0xa1, derInt(15)),
		tlv(0xa2, encData(18, -1, cipher))))
}

// KerberosGetMIC builds a fake RFC 4121 CFX GetMIC token (04 04 ...).
func KerberosGetMIC(seq uint64, cksum []byte) []byte {
	b := []byte{0x04, 0x04, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff}
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, cksum...)
}

// ntlmv2Blob is the NTLMv2 client challenge structure (MS-NLMP 2.2.2.7):
// header, timestamp, client challenge and the AV pairs (with a MIC flag and
// the target SPN).
func ntlmv2Blob(t Target, ts uint64, clientChallenge [8]byte) []byte {
	var blob []byte
	blob = append(blob, 1, 1, 0, 0, 0, 0, 0, 0)
	blob = binary.LittleEndian.AppendUint64(blob, ts)
	blob = append(blob, clientChallenge[:]...)
	blob = append(blob, 0, 0, 0, 0)
	av := t.targetInfo(ts, true)
	av = appendAV(av, avFlags, []byte{2, 0, 0, 0}) // MIC present
	av = appendAV(av, avTargetName, UTF16LE(t.SPN))
	av = appendAV(av, avEOL, nil)
	blob = append(blob, av...)
	return append(blob, 0, 0, 0, 0)
}
