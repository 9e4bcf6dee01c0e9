package synth

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The KDC's side of Kerberos (RFC 4120 3.1, 3.3, 5.4; MS-SFU for S4U): the
// AS and TGS exchanges that issue the tickets the binds use, over UDP or
// TCP (7.2.1, 7.2.2), and KRB-ERRORs. The tickets are real (their
// encrypted part is the service key's encryption of the EncTicketPart, as
// the binds of seal_kerberos.go carry them, so a keytab decrypts them);
// the encrypted parts of the replies, which only the client's key opens,
// are random bytes of a plausible length.

// KrbTicket is a service ticket a KDC issued: the ticket as the KDC-REP
// and every AP-REQ carry it, its session key and its client.
type KrbTicket struct {
	User, Realm string
	Ticket      messages.Ticket
	Session     types.EncryptionKey
	// RepFrame is the frame where the KDC reply that issued the ticket is
	// complete (0: not in the capture, or lost).
	RepFrame int
}

// IssueTicket issues a ticket for user@svc.Realm to svc, encrypted with the
// service's key of etype, with a session key of sessionEtype, at the
// capture's clock. Its keys and confounders come from the capture's source.
func (c *Capture) IssueTicket(user string, svc KrbService, etype, sessionEtype int32) *KrbTicket {
	return c.issueTicket(user, svc, etype, sessionEtype, nil, 0)
}

// IssueTicketPAC is IssueTicket with, when pac is set, a PAC in the
// ticket's authorization data as a Windows KDC puts it (pac.go). A PAC
// needs an AES256 ticket (its signatures are HMAC-SHA1-96-AES256).
func (c *Capture) IssueTicketPAC(user string, svc KrbService, etype, sessionEtype int32, pac *PACSpec) *KrbTicket {
	return c.issueTicket(user, svc, etype, sessionEtype, pac, 0)
}

// IssueTicketPadded is IssueTicket with, when pad > 0, authorization data
// of that many bytes in the ticket as a Windows KDC puts its PAC there
// (AD-IF-RELEVANT holding AD-WIN2K-PAC, type 128; MS-KILE 3.3.5.6.3): the
// bytes are random, only the ticket's size matters (a large PAC makes the
// KDC reply exceed the MTU).
func (c *Capture) IssueTicketPadded(user string, svc KrbService, etype, sessionEtype int32, pad int) *KrbTicket {
	return c.issueTicket(user, svc, etype, sessionEtype, nil, pad)
}

func (c *Capture) issueTicket(user string, svc KrbService, etype, sessionEtype int32, pac *PACSpec, pad int) *KrbTicket {
	r := rand.New(rand.NewPCG(c.rng.Uint64(), 0x54475352))
	rb := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	session := types.EncryptionKey{KeyType: sessionEtype, KeyValue: rb(32)}
	if sessionEtype == EtypeAES128 || sessionEtype == EtypeRC4 {
		session.KeyValue = session.KeyValue[:16]
	}
	svcKey, err := svc.key(etype)
	if err != nil {
		panic("synth: ticket: " + err.Error())
	}
	auth, _ := krbTime(c.now)
	tflags := types.NewKrbFlags()
	types.SetFlags(&tflags, []int{flags.Forwardable, flags.Renewable, flags.PreAuthent})
	etp := messages.EncTicketPart{Flags: tflags, Key: session, CRealm: svc.Realm,
		CName:    types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user),
		AuthTime: auth, StartTime: auth, EndTime: auth.Add(10 * time.Hour), RenewTill: auth.Add(7 * 24 * time.Hour)}
	if pac != nil {
		if etype != EtypeAES256 {
			panic("synth: a PAC in a ticket that is not AES256")
		}
		b, err := pac.pacBytes(user, auth, svcKey, rb(12))
		if err == nil {
			etp.AuthorizationData, err = pacAuthData(b)
		}
		if err != nil {
			panic("synth: PAC: " + err.Error())
		}
	} else if pad > 0 {
		inner := kdcMust(asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: rb(pad)}}))
		etp.AuthorizationData = types.AuthorizationData{{ADType: 1, ADData: inner}}
	}
	plain, err := appTagged(etp, asnAppTag.EncTicketPart)
	if err != nil {
		panic("synth: ticket: " + err.Error())
	}
	conf := 16
	if etype == EtypeRC4 {
		conf = 8
	}
	cipher, err := KrbEncrypt(svcKey, keyusage.KDC_REP_TICKET, plain, rb(conf))
	if err != nil {
		panic("synth: ticket: " + err.Error())
	}
	return &KrbTicket{User: user, Realm: svc.Realm, Session: session,
		Ticket: messages.Ticket{TktVNO: 5, Realm: svc.Realm, SName: svc.sname(),
			EncPart: types.EncryptedData{EType: etype, KVNO: int(svc.KVNO), Cipher: cipher}}}
}

// Label is the ticket's label as nspicap gives it to a call whose user it
// cannot name: the service principal, "#", the first 4 bytes of the
// SHA-256 of the encrypted part's cipher in hex.
func (t *KrbTicket) Label() string {
	sum := sha256.Sum256(t.Ticket.EncPart.Cipher)
	return strings.Join(t.Ticket.SName.NameString, "/") + "#" + hex.EncodeToString(sum[:4])
}

// Principal is user@REALM.
func (t *KrbTicket) Principal() string { return t.User + "@" + t.Realm }

// tgt is a ticket-granting ticket for user: its encrypted part is random
// (the krbtgt key is never needed).
func (c *Capture) tgt(realm string) messages.Ticket {
	return messages.Ticket{TktVNO: 5, Realm: realm, SName: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+realm),
		EncPart: types.EncryptedData{EType: EtypeAES256, KVNO: 2, Cipher: c.RandBytes(980)}}
}

func kdcMust(b []byte, err error) []byte {
	if err != nil {
		panic("synth: KDC message: " + err.Error())
	}
	return b
}

// kdcOptions are the options Windows sets: forwardable, renewable,
// canonicalize, renewable-ok.
func kdcOptions(extra ...int) asn1.BitString {
	o := types.NewKrbFlags()
	types.SetFlags(&o, append([]int{flags.Forwardable, flags.Renewable, flags.Canonicalize, flags.RenewableOK}, extra...))
	return o
}

// KrbASReq is an AS-REQ of user for krbtgt/realm (RFC 4120 5.4.1), with a
// PA-ENC-TIMESTAMP (random bytes) when preauth.
func (c *Capture) KrbASReq(user, realm string, preauth bool) []byte {
	req := c.asReq(user, realm, preauth)
	return kdcMust(req.Marshal())
}

func (c *Capture) asReq(user, realm string, preauth bool) messages.ASReq {
	req := messages.ASReq{KDCReqFields: messages.KDCReqFields{PVNO: 5, MsgType: 10,
		ReqBody: messages.KDCReqBody{KDCOptions: kdcOptions(), CName: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user),
			Realm: realm, SName: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+realm),
			Till: time.Date(2037, 9, 13, 2, 48, 5, 0, time.UTC), Nonce: int(c.rng.Uint32() >> 1),
			EType: []int32{EtypeAES256, EtypeAES128, EtypeRC4}}}}
	if preauth {
		ts := kdcMust(asn1.Marshal(types.EncryptedData{EType: EtypeAES256, Cipher: c.RandBytes(56)}))
		req.PAData = types.PADataSequence{{PADataType: 2, PADataValue: ts}}
	}
	return req
}

// kdcRep is an AS-REP (11) or TGS-REP (13) for the client user@realm
// carrying tkt; its encrypted part is random.
func (c *Capture) kdcRep(msgType int, user, realm string, tkt messages.Ticket) []byte {
	return c.kdcRepOf(msgType, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user), realm, tkt, nil)
}

// kdcRepOf is an AS-REP or TGS-REP naming the client cname@crealm, with
// padata.
func (c *Capture) kdcRepOf(msgType int, cname types.PrincipalName, crealm string, tkt messages.Ticket, pa types.PADataSequence) []byte {
	f := messages.KDCRepFields{PVNO: 5, MsgType: msgType, PAData: pa, CRealm: crealm, CName: cname, Ticket: tkt,
		EncPart: types.EncryptedData{EType: EtypeAES256, KVNO: 3, Cipher: c.RandBytes(300)}}
	if msgType == 11 {
		r := messages.ASRep{KDCRepFields: f}
		return kdcMust(r.Marshal())
	}
	r := messages.TGSRep{KDCRepFields: f}
	return kdcMust(r.Marshal())
}

// KrbASRep is the AS-REP that gives user@realm a TGT.
func (c *Capture) KrbASRep(user, realm string) []byte {
	return c.kdcRep(11, user, realm, c.tgt(realm))
}

// KrbTGSRep is the TGS-REP that issues t.
func (c *Capture) KrbTGSRep(t *KrbTicket) []byte {
	return c.kdcRep(13, t.User, t.Realm, t.Ticket)
}

// S4U describes a delegation request (MS-SFU): ForUser asks a ticket to the
// service itself for that user (S4U2Self, PA-FOR-USER); Evidence asks a
// ticket to another service with the user's ticket to the acting service
// (S4U2Proxy, cname-in-addl-tkt).
type S4U struct {
	ForUser  string
	Evidence *messages.Ticket
}

// KrbTGSReq is a TGS-REQ for sname in realm with the TGT in its
// PA-TGS-REQ (an AP-REQ whose authenticator is random bytes).
func (c *Capture) KrbTGSReq(realm, sname string, s S4U) []byte {
	req := c.tgsReq(realm, sname, s)
	return kdcMust(req.Marshal())
}

func (c *Capture) tgsReq(realm, sname string, s S4U) messages.TGSReq {
	apb := c.apReqWith(c.tgt(realm))
	req := messages.TGSReq{KDCReqFields: messages.KDCReqFields{PVNO: 5, MsgType: 12,
		PAData: types.PADataSequence{{PADataType: 1, PADataValue: apb}},
		ReqBody: messages.KDCReqBody{KDCOptions: kdcOptions(), Realm: realm,
			SName: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, sname),
			Till:  time.Date(2037, 9, 13, 2, 48, 5, 0, time.UTC), Nonce: int(c.rng.Uint32() >> 1),
			EType: []int32{EtypeAES256, EtypeAES128, EtypeRC4}}}}
	if s.ForUser != "" {
		user, urealm, _ := strings.Cut(s.ForUser, "@")
		v := kdcMust(asn1.Marshal(paForUserEnc{UserName: types.NewPrincipalName(nametype.KRB_NT_ENTERPRISE, user), UserRealm: urealm,
			Cksum: types.Checksum{CksumType: -138, Checksum: c.RandBytes(16)}, AuthPackage: "Kerberos"}))
		req.PAData = append(req.PAData, types.PAData{PADataType: 129, PADataValue: v})
	}
	if s.Evidence != nil {
		req.ReqBody.KDCOptions = kdcOptions(14) // cname-in-addl-tkt
		req.ReqBody.AdditionalTickets = []messages.Ticket{*s.Evidence}
	}
	return req
}

// apReqWith is an AP-REQ presenting tkt, its authenticator random bytes
// (as a PA-TGS-REQ, or FAST armor, carries it).
func (c *Capture) apReqWith(tkt messages.Ticket) []byte {
	ap := messages.APReq{PVNO: 5, MsgType: 14, APOptions: types.NewKrbFlags(), Ticket: tkt,
		EncryptedAuthenticator: types.EncryptedData{EType: EtypeAES256, Cipher: c.RandBytes(180)}}
	return kdcMust(ap.Marshal())
}

// paForUserEnc is PA-FOR-USER (MS-SFU 2.2.1).
type paForUserEnc struct {
	UserName    types.PrincipalName `asn1:"explicit,tag:0"`
	UserRealm   string              `asn1:"generalstring,explicit,tag:1"`
	Cksum       types.Checksum      `asn1:"explicit,tag:2"`
	AuthPackage string              `asn1:"generalstring,explicit,tag:3"`
}

// KrbError is a KRB-ERROR with code for the client user@realm and service
// sname (RFC 4120 5.9.1), at the capture's clock.
func (c *Capture) KrbError(code int32, user, realm, sname string) []byte {
	st, us := krbTime(c.now)
	e := messages.KRBError{PVNO: 5, MsgType: 30, STime: st, Susec: us, ErrorCode: code, Realm: realm,
		SName: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, sname)}
	if user != "" {
		e.CRealm, e.CName = realm, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	}
	return kdcMust(e.Marshal())
}

// KDCMessage is one Kerberos message on port 88 in the manifest, for the
// tshark cross-check.
type KDCMessage struct {
	// Frame is the frame where the message is complete (for TCP, its last
	// segment, where Wireshark reassembles it).
	Frame     int    `json:"frame"`
	Transport string `json:"transport"` // udp or tcp
	Type      string `json:"type"`      // AS-REQ, AS-REP, TGS-REQ, TGS-REP, KRB-ERROR
	CName     string `json:"cname,omitempty"`
	CRealm    string `json:"crealm,omitempty"`
	SName     string `json:"sname,omitempty"`
	ErrorCode int32  `json:"error_code,omitempty"`
	// IPFragments: the UDP datagram left in this many IP fragments (its
	// Frame is the one that completes it).
	IPFragments int `json:"ip_fragments,omitempty"`
}

// kdcUDP writes one datagram from addr's port to the KDC's port 88, or
// back (in IP fragments by plan when set), and returns the frame where it
// is complete (0: a fragment lost).
func (e *env) kdcUDP(client netip.AddrPort, toKDC bool, b []byte, m KDCMessage, plan *FragPlan) int {
	kdc := netip.AddrPortFrom(e.server, 88)
	src, dst := client, kdc
	if !toKDC {
		src, dst = kdc, client
	}
	var fr int
	if plan != nil {
		fr, m.IPFragments = e.udpFragments(src, dst, b, *plan)
	} else {
		fr = e.c.emit(Packet{Iface: e.iface, Link: e.link, Src: src, Dst: dst, TTL: 128, Payload: b, UDP: true})
	}
	if fr > 0 {
		m.Frame, m.Transport = fr, "udp"
		e.c.Manifest.KDC = append(e.c.Manifest.KDC, m)
	}
	return fr
}

// KDCPair is a request and its reply (nil: no reply). Issues is the ticket
// the reply issues (its RepFrame is set when the reply is written); RepFrags,
// when set, sends the reply over UDP in IP fragments, and the request too,
// in order, when it exceeds the same MTU.
type KDCPair struct {
	Req, Rep       []byte
	ReqMsg, RepMsg KDCMessage
	Issues         *KrbTicket
	RepFrags       *FragPlan
}

// reqFrags is the fragment plan of p's request: that of its reply's path
// (in order) when the request does not fit the MTU, else nil.
func (p *KDCPair) reqFrags(v4 bool) *FragPlan {
	if p.RepFrags == nil {
		return nil
	}
	hdr := 28
	if !v4 {
		hdr = 48
	}
	if len(p.Req)+hdr <= p.RepFrags.MTU {
		return nil
	}
	return &FragPlan{MTU: p.RepFrags.MTU}
}

// issued records the frame of the reply that issued p's ticket.
func (p *KDCPair) issued(frame int) {
	if p.Issues != nil && p.Issues.RepFrame == 0 {
		p.Issues.RepFrame = frame
	}
}

// kdcOverUDP writes each exchange from a new client port.
func (e *env) kdcOverUDP(addr netip.Addr, pairs ...KDCPair) {
	for _, p := range pairs {
		cl := netip.AddrPortFrom(addr, e.nextPort)
		e.nextPort += 3
		e.kdcUDP(cl, true, p.Req, p.ReqMsg, p.reqFrags(addr.Is4()))
		e.c.Advance(400 * time.Microsecond)
		if p.Rep != nil {
			p.issued(e.kdcUDP(cl, false, p.Rep, p.RepMsg, p.RepFrags))
		}
		e.c.Advance(2 * time.Millisecond)
	}
}

// kdcOverTCP writes each exchange on one TCP connection to port 88 (as
// Windows does, one connection an exchange), each message after its
// 4-byte length; a reply longer than split bytes (0: never) goes in
// segments of split bytes.
func (e *env) kdcOverTCP(addr netip.Addr, split int, pairs ...KDCPair) {
	for _, p := range pairs {
		cn := e.conn(addr, 88)
		rec := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
		s, en := cn.Send(C2S, rec(p.Req))
		p.ReqMsg.Frame, p.ReqMsg.Transport = cn.CompleteFrame(C2S, s, en), "tcp"
		e.c.Manifest.KDC = append(e.c.Manifest.KDC, p.ReqMsg)
		cn.Ack(S2C)
		if p.Rep != nil {
			b := rec(p.Rep)
			if split > 0 {
				s, en = cn.SendPlan(S2C, b, PlanSplit(len(b), split))
			} else {
				s, en = cn.Send(S2C, b)
			}
			p.RepMsg.Frame, p.RepMsg.Transport = cn.CompleteFrame(S2C, s, en), "tcp"
			e.c.Manifest.KDC = append(e.c.Manifest.KDC, p.RepMsg)
			p.issued(p.RepMsg.Frame)
		}
		cn.CloseFIN(C2S)
		e.c.Advance(2 * time.Millisecond)
	}
}

// logon is the AS exchange of user@realm as Windows does it: an AS-REQ
// without pre-authentication answered KDC_ERR_PREAUTH_REQUIRED, then with
// it, answered with the TGT.
func (e *env) logonPairs(user, realm string) []KDCPair {
	c := e.c
	return []KDCPair{
		{Req: c.KrbASReq(user, realm, false), Rep: c.KrbError(25, user, realm, "krbtgt/"+realm),
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: user, SName: "krbtgt/" + realm}, RepMsg: KDCMessage{Type: "KRB-ERROR", ErrorCode: 25}},
		{Req: c.KrbASReq(user, realm, true), Rep: c.KrbASRep(user, realm),
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: user, SName: "krbtgt/" + realm},
			RepMsg: KDCMessage{Type: "AS-REP", CName: user, CRealm: realm, SName: "krbtgt/" + realm}},
	}
}

// tgsPair is the TGS exchange that issues t (s: a delegation request).
func (e *env) tgsPair(t *KrbTicket, s S4U) KDCPair {
	sname := strings.Join(t.Ticket.SName.NameString, "/")
	return KDCPair{Req: e.c.KrbTGSReq(t.Realm, sname, s), Rep: e.c.KrbTGSRep(t), Issues: t,
		ReqMsg: KDCMessage{Type: "TGS-REQ", SName: sname},
		RepMsg: KDCMessage{Type: "TGS-REP", CName: t.User, CRealm: t.Realm, SName: sname}}
}

// GSSKrb5 frames a Kerberos AP-REQ as an RFC 4121 InitialContextToken
// (60 len, the KRB5 OID, TOK_ID 01 00).
func GSSKrb5(apReq []byte) []byte {
	return tlv(0x60, OIDKRB5, []byte{0x01, 0x00}, apReq)
}
