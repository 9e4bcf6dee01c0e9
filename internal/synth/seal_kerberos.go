package synth

import (
	"bytes"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc4757"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Kerberos privacy (auth level 6), the sender's side: a real service
// ticket, authenticator and AP-REPs (RFC 4120 5.3, 5.5) in the DCE-style
// three legs of MS-KILE 3.4.5.1, then every stub sealed with the acceptor's
// subkey as GSS_WrapEx does for DCE/RPC with header signing: RFC 4121
// 4.2.6.2 wrap tokens rotated by RRC+EC for AES (MS-KILE 3.4.5.4.1), RFC
// 4757 7.3 wrap tokens for RC4-HMAC. Written from the RFCs and MS-KILE,
// independently of internal/unseal's receiver side. Every cipher, key
// derivation and checksum comes from gokrb5 (or the standard library's RC4
// and HMAC); only the confounders and keys are drawn here, from seeded
// sources, so that the captures are deterministic (gokrb5's own
// EncryptMessage draws its confounder from crypto/rand).

// Encryption types (RFC 3961 8, RFC 3962, RFC 4757).
const (
	EtypeAES128 = 17
	EtypeAES256 = 18
	EtypeRC4    = 23
)

// KrbService is a Kerberos service principal and the password its keytab
// keys are derived from (RFC 3962 string-to-key; RFC 4757's NT hash).
type KrbService struct {
	Principal string // e.g. exchangeAB/dc01.contoso.example
	Realm     string
	Password  string
	KVNO      uint8
	Etypes    []int32
}

// keytabTime is the timestamp of the generated keytab entries.
var keytabTime = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// Keytab builds the service's MIT keytab (format 0x502) with one entry per
// etype.
func (s KrbService) Keytab() (*keytab.Keytab, error) {
	kt := keytab.New()
	for _, et := range s.Etypes {
		if err := kt.AddEntry(s.Principal, s.Realm, s.Password, keytabTime, s.KVNO, et); err != nil {
			return nil, err
		}
	}
	return kt, nil
}

// KeytabBytes marshals the keytabs of the services, in order, as one file.
func KeytabBytes(services ...KrbService) ([]byte, error) {
	out := []byte{5, 2}
	for _, s := range services {
		kt, err := s.Keytab()
		if err != nil {
			return nil, err
		}
		b, err := kt.Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, b[2:]...)
	}
	return out, nil
}

func (s KrbService) key(etype int32) (types.EncryptionKey, error) {
	kt, err := s.Keytab()
	if err != nil {
		return types.EncryptionKey{}, err
	}
	key, _, err := kt.GetEncryptionKey(s.sname(), s.Realm, int(s.KVNO), etype)
	return key, err
}

func (s KrbService) sname() types.PrincipalName {
	return types.NewPrincipalName(nametype.KRB_NT_SRV_INST, s.Principal)
}

// KrbEncrypt is RFC 3961's encrypt (the simplified profile of RFC 3962 for
// AES, RFC 4757 for RC4-HMAC) with the given confounder. The result is what
// gokrb5's crypto.DecryptMessage reads.
func KrbEncrypt(key types.EncryptionKey, usage uint32, plain, conf []byte) ([]byte, error) {
	e, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	if len(conf) != e.GetConfounderByteSize() {
		return nil, fmt.Errorf("confounder of %d bytes for etype %d", len(conf), key.KeyType)
	}
	pt := append(append([]byte(nil), conf...), plain...)
	switch key.KeyType {
	case EtypeAES128, EtypeAES256:
		ke, err := e.DeriveKey(key.KeyValue, common.GetUsageKe(usage))
		if err != nil {
			return nil, err
		}
		_, ct, err := e.EncryptData(ke, pt)
		if err != nil {
			return nil, err
		}
		mac, err := common.GetIntegrityHash(pt, key.KeyValue, usage, e)
		if err != nil {
			return nil, err
		}
		return append(ct, mac...), nil
	case EtypeRC4:
		k2 := rfc4757.HMAC(key.KeyValue, rfc4757.UsageToMSMsgType(usage))
		cksum := rfc4757.HMAC(k2, pt)
		ct, err := rfc4757.EncryptData(rfc4757.HMAC(k2, cksum), pt, e)
		if err != nil {
			return nil, err
		}
		return append(cksum, ct...), nil
	}
	return nil, fmt.Errorf("etype %d not generated", key.KeyType)
}

// KrbSpec makes a bind authenticate with Kerberos in DCE style and run every
// later call at auth level privacy.
type KrbSpec struct {
	User  string // the client principal's name (realm: the service's)
	Svc   KrbService
	Etype int32 // of the ticket's encryption (a key of Svc)
	// SessionEtype is the etype of the session key and subkeys.
	SessionEtype int32
	// AuthType is AuthTypeSPNEGO (the third leg in alter_context, answered
	// with a MIC) or AuthTypeKerberos (the third leg in auth3).
	AuthType uint8
	// Clear makes the unsealed twin of the same bind: the same tokens at
	// auth level connect; later calls carry no verifier.
	Clear bool
	// NoKeytab: the capture's keytab does not decrypt this ticket
	// (manifest).
	NoKeytab bool
	// TicketSeed, when not 0, makes the ticket (its session key, times and
	// encrypted part) depend only on it and TicketAuth: binds with the same
	// TicketSeed and TicketAuth reuse one ticket, as a client does until it
	// expires (each bind still has its own authenticator and subkeys).
	TicketSeed uint64
	TicketAuth time.Time
	// Issued, when set, is the ticket the bind uses (User, Svc and Etype
	// are then those it was issued with): a ticket a KDC exchange of the
	// capture issued (KDCNamed, with Via the acting service of a
	// delegation) or one issued before it.
	Issued   *KrbTicket
	KDCNamed bool
	Via      string
}

// krbState is the sealing state of a Kerberos security context.
type krbState struct {
	key       types.EncryptionKey // the acceptor's subkey
	seq       [2]uint64           // next SND_SEQ per direction
	conf      *rand.Rand          // confounders
	sealed    bool
	principal string
	// What the manifest says of the calls without a key (KrbSpec).
	kdcUser, via, label string
	kdcFrame            int
}

// tokenLen is the auth_length of a sealed PDU: 76 for AES (header, filler,
// encrypted header, checksum, confounder), 45 for RC4-HMAC (GSS framing and
// the 32-byte token).
func (k *krbState) tokenLen() int {
	if k.key.KeyType == EtypeRC4 {
		return 45
	}
	return 76
}

func (k *krbState) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k.conf.Uint32())
	}
	return b
}

// GSS checksum flags of the authenticator (RFC 4121 4.1.1.1; RFC 4757 7.1
// for DCE style).
const (
	gssMutual   = 0x02
	gssReplay   = 0x04
	gssSequence = 0x08
	gssConf     = 0x10
	gssInteg    = 0x20
	gssDCEStyle = 0x1000
)

// gssChecksum is the authenticator checksum of type 0x8003 (RFC 4121
// 4.1.1): Lgth 16, no channel bindings, the flags.
func gssChecksum(fl uint32) types.Checksum {
	b := binary.LittleEndian.AppendUint32(nil, 16)
	b = append(b, make([]byte, 16)...)
	b = binary.LittleEndian.AppendUint32(b, fl)
	return types.Checksum{CksumType: 0x8003, Checksum: b}
}

// krbTime is a capture time as Kerberos carries it: whole seconds and
// microseconds.
func krbTime(t time.Time) (time.Time, int) {
	return t.Truncate(time.Second).UTC(), t.Nanosecond() / 1000
}

// appTagged marshals v with gokrb5's ASN.1 encoder and its [APPLICATION n]
// tag, as gokrb5 marshals its own messages.
func appTagged(v any, tag int) ([]byte, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, tag), nil
}

// krbHandshake is one DCE-style Kerberos exchange: the client's AP-REQ,
// the server's AP-REP and the client's third-leg AP-REP, and what the
// sealing needs.
type krbHandshake struct {
	apReq, apRep, apRep3 []byte
	acceptor             types.EncryptionKey
	clientSeq, srvSeq    uint64
}

// newKrbHandshake builds the tokens of one exchange at time now with keys
// and confounders from r.
func newKrbHandshake(k KrbSpec, now time.Time, r *rand.Rand) (*krbHandshake, error) {
	rb := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	se, err := crypto.GetEtype(k.SessionEtype)
	if err != nil {
		return nil, err
	}
	newKey := func() types.EncryptionKey {
		return types.EncryptionKey{KeyType: k.SessionEtype, KeyValue: rb(se.GetKeyByteSize())}
	}
	// tr draws what the ticket holds: r itself, or a source of the ticket's
	// own (TicketSeed), in the same order either way.
	tr := r
	if k.TicketSeed != 0 {
		tr = rand.New(rand.NewPCG(k.TicketSeed, 0x544b5420))
	}
	session := types.EncryptionKey{KeyType: k.SessionEtype, KeyValue: make([]byte, se.GetKeyByteSize())}
	for i := range session.KeyValue {
		session.KeyValue[i] = byte(tr.Uint32())
	}
	initiator, acceptor := newKey(), newKey()
	if k.Issued != nil {
		session = k.Issued.Session
		if session.KeyType != k.SessionEtype {
			panic("synth: KrbSpec.SessionEtype differs from the issued ticket's")
		}
	}
	h := &krbHandshake{acceptor: acceptor, clientSeq: uint64(r.Uint32() & 0x3fffffff), srvSeq: uint64(r.Uint32() & 0x3fffffff)}
	svcKey, err := k.Svc.key(k.Etype)
	if err != nil {
		return nil, err
	}
	confFor := func(key types.EncryptionKey) []byte {
		e, _ := crypto.GetEtype(key.KeyType)
		return rb(e.GetConfounderByteSize())
	}
	realm := k.Svc.Realm
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, k.User)
	auth, _ := krbTime(now.Add(-2 * time.Hour))
	if k.TicketSeed != 0 {
		auth, _ = krbTime(k.TicketAuth)
	}

	tflags := types.NewKrbFlags()
	types.SetFlags(&tflags, []int{flags.Forwardable, flags.Renewable, flags.PreAuthent})
	etp := messages.EncTicketPart{Flags: tflags, Key: session, CRealm: realm, CName: cname,
		AuthTime: auth, StartTime: auth, EndTime: auth.Add(10 * time.Hour), RenewTill: auth.Add(7 * 24 * time.Hour)}
	plain, err := appTagged(etp, asnAppTag.EncTicketPart)
	if err != nil {
		return nil, err
	}
	e, _ := crypto.GetEtype(svcKey.KeyType)
	conf := make([]byte, e.GetConfounderByteSize())
	for i := range conf {
		conf[i] = byte(tr.Uint32())
	}
	cipher, err := KrbEncrypt(svcKey, keyusage.KDC_REP_TICKET, plain, conf)
	if err != nil {
		return nil, err
	}
	tkt := messages.Ticket{TktVNO: 5, Realm: realm, SName: k.Svc.sname(),
		EncPart: types.EncryptedData{EType: k.Etype, KVNO: int(k.Svc.KVNO), Cipher: cipher}}
	if k.Issued != nil {
		tkt = k.Issued.Ticket
		cname = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, k.Issued.User)
	}

	ctime, cusec := krbTime(now)
	gfl := uint32(gssMutual | gssReplay | gssSequence | gssDCEStyle)
	if !k.Clear {
		gfl |= gssConf | gssInteg
	}
	au := types.Authenticator{AVNO: 5, CRealm: realm, CName: cname, Cksum: gssChecksum(gfl),
		Cusec: cusec, CTime: ctime, SubKey: initiator, SeqNumber: int64(h.clientSeq)}
	plain, err = au.Marshal()
	if err != nil {
		return nil, err
	}
	if cipher, err = KrbEncrypt(session, keyusage.AP_REQ_AUTHENTICATOR, plain, confFor(session)); err != nil {
		return nil, err
	}
	opts := types.NewKrbFlags()
	types.SetFlag(&opts, flags.APOptionMutualRequired)
	ap := messages.APReq{PVNO: 5, MsgType: 14, APOptions: opts, Ticket: tkt,
		EncryptedAuthenticator: types.EncryptedData{EType: k.SessionEtype, Cipher: cipher}}
	if h.apReq, err = ap.Marshal(); err != nil {
		return nil, err
	}

	// The server's AP-REP echoes the authenticator's time, with the
	// acceptor's subkey and sequence number; the client's third leg is
	// built "exactly as the server would" (MS-KILE 3.4.5.1), without a key.
	rep := func(part messages.EncAPRepPart) ([]byte, error) {
		plain, err := appTagged(part, asnAppTag.EncAPRepPart)
		if err != nil {
			return nil, err
		}
		cipher, err := KrbEncrypt(session, keyusage.AP_REP_ENCPART, plain, confFor(session))
		if err != nil {
			return nil, err
		}
		return appTagged(messages.APRep{PVNO: 5, MsgType: 15,
			EncPart: types.EncryptedData{EType: k.SessionEtype, Cipher: cipher}}, asnAppTag.APREP)
	}
	if h.apRep, err = rep(messages.EncAPRepPart{CTime: ctime, Cusec: cusec, Subkey: acceptor, SequenceNumber: int64(h.srvSeq)}); err != nil {
		return nil, err
	}
	if h.apRep3, err = rep(messages.EncAPRepPart{CTime: ctime, Cusec: cusec, SequenceNumber: int64(h.srvSeq)}); err != nil {
		return nil, err
	}
	return h, nil
}

// spnegoMechTypes is the mechTypes list Windows offers (the DER the
// mechListMIC covers).
var spnegoMechTypes = [][]byte{OIDMSKRB5, OIDKRB5, OIDNEGOEX, OIDNTLM}

func mechTypesDER() []byte { return tlv(0x30, bytes.Join(spnegoMechTypes, nil)) }

// KerberosBind binds with Kerberos in DCE style (MS-KILE 3.4.5.1): bind with
// the AP-REQ, bind_ack with the server's AP-REP, then the client's AP-REP
// in alter_context (SPNEGO, answered with negState accept-completed and a
// mechListMIC) or auth3 (auth type 16). Every later call on r is sealed
// unless k.Clear. It otherwise does what Bind does.
func (r *RPC) KerberosBind(b BindSpec, k KrbSpec) {
	c := r.cap
	ctxs, results, maxX := b.defaults()
	assoc := b.Assoc
	if assoc == 0 {
		assoc = b.NewAssoc
	}
	r.Assoc, r.MaxXmit, r.Auth, r.User, r.BindSeen = assoc, maxX, AuthKerberos, "", c.Recording
	for i, ctx := range ctxs {
		if results[i].Result == 0 {
			r.ifaces[ctx.ID] = ifaceName(ctx.Abstract)
		}
	}
	r.authCtx = 0x00010000 | uint32(c.rng.IntN(0xffff))
	r.authType = k.AuthType
	r.verifier = false
	// One draw from the capture's source seeds this exchange's keys and
	// confounders, so that a twin capture stays in step.
	seed := c.rng.Uint64()
	h, err := newKrbHandshake(k, c.now, rand.New(rand.NewPCG(seed, 0x4b524235)))
	if err != nil {
		panic("synth: Kerberos handshake: " + err.Error())
	}
	level := uint8(AuthLevelPrivacy)
	if k.Clear {
		level = AuthLevelConnect
	}
	verif := func(val []byte) *Verifier {
		return &Verifier{Type: k.AuthType, Level: level, ContextID: r.authCtx, Value: val}
	}
	// Header signing is negotiated with PFC_SUPPORT_HEADER_SIGN on the bind
	// and its answer (MS-RPCE 2.2.2.3).
	flags := uint8(FlagFirst | FlagLast | FlagHdrSign)
	var bindTok, ackTok, legTok []byte
	if k.AuthType == AuthTypeSPNEGO {
		bindTok = SPNEGOInit(spnegoMechTypes, h.apReq)
		ackTok = SPNEGOResp(NegAcceptIncomplete, OIDMSKRB5, h.apRep, nil)
		legTok = SPNEGOResp(-1, nil, h.apRep3, nil)
	} else {
		bindTok, ackTok, legTok = h.apReq, h.apRep, h.apRep3
	}
	bind := EncodePDU(r.Drep, PTBind, flags, r.CallID, BindBody(r.Drep, uint16(maxX), uint16(maxX), b.Assoc, ctxs), verif(bindTok))
	r.sendPDUs(C2S, [][]byte{bind}, r.takeReq())
	r.think()
	ack := EncodePDU(r.Drep, PTBindAck, flags, r.CallID,
		BindAckBody(r.Drep, uint16(maxX), uint16(maxX), assoc, b.SecAddr, b.PadByte, results), verif(ackTok))
	r.sendPDUs(S2C, [][]byte{ack}, r.takeResp())
	c.Advance(150 * time.Microsecond)
	st := &krbState{key: h.acceptor, seq: [2]uint64{h.clientSeq, h.srvSeq},
		conf: rand.New(rand.NewPCG(seed, 0x57524150)), sealed: !k.Clear}
	if !k.NoKeytab {
		st.principal = k.User + "@" + k.Svc.Realm
	}
	if k.Issued != nil {
		if !k.NoKeytab {
			st.principal = k.Issued.Principal()
		}
		if k.KDCNamed {
			st.kdcUser, st.via, st.kdcFrame = k.Issued.Principal(), k.Via, k.Issued.RepFrame
		} else {
			st.label = k.Issued.Label()
		}
	}
	if k.AuthType == AuthTypeSPNEGO {
		alt := EncodePDU(r.Drep, PTAlterContext, FlagFirst|FlagLast, r.CallID, BindBody(r.Drep, uint16(maxX), uint16(maxX), assoc, ctxs), verif(legTok))
		r.sendPDUs(C2S, [][]byte{alt}, r.takeReq())
		r.think()
		// The acceptor's MIC over the mechTypes it was offered (RFC 4178
		// 5), a real RFC 4121 MIC token made by gokrb5. (An RC4-HMAC
		// context would need an RFC 4757 MIC: the scenarios use SPNEGO
		// with AES only.)
		var micTok []byte
		if h.acceptor.KeyType != EtypeRC4 {
			mic := gssapi.MICToken{Flags: gssapi.MICTokenFlagSentByAcceptor | gssapi.MICTokenFlagAcceptorSubkey,
				SndSeqNum: st.seq[S2C], Payload: mechTypesDER()}
			if err := mic.SetChecksum(h.acceptor, keyusage.GSSAPI_ACCEPTOR_SIGN); err != nil {
				panic("synth: SPNEGO MIC: " + err.Error())
			}
			if micTok, err = mic.Marshal(); err != nil {
				panic("synth: SPNEGO MIC: " + err.Error())
			}
			st.seq[S2C]++
		}
		resp := EncodePDU(r.Drep, PTAlterResp, FlagFirst|FlagLast, r.CallID,
			BindAckBody(r.Drep, uint16(maxX), uint16(maxX), assoc, "", 0, results), verif(SPNEGOResp(NegAcceptCompleted, nil, nil, micTok)))
		r.sendPDUs(S2C, [][]byte{resp}, r.takeResp())
	} else {
		var pad [4]byte
		copy(pad[:], c.RandBytes(4))
		a3 := EncodePDU(r.Drep, PTAuth3, FlagFirst|FlagLast, r.CallID, Auth3Body(pad), verif(legTok))
		r.sendPDUs(C2S, [][]byte{a3}, r.takeReq())
	}
	r.seal = nil
	r.krb = st
}

// krbProtect seals the request or response PDUs of one call in place, in
// order, each with the next sequence number of the direction.
func (r *RPC) krbProtect(d Dir, pdus [][]byte) [][]byte {
	for _, p := range pdus {
		r.krb.sealPDU(d, p, true)
	}
	return pdus
}

// sealPDU seals one request or response PDU (no object UUID) built with a
// zero auth_value of tokenLen bytes. headerSign puts the PDU header and the
// sec_trailer in the checksum (MS-RPCE header signing).
func (k *krbState) sealPDU(d Dir, p []byte, headerSign bool) {
	bo := order(p[4])
	t := len(p) - int(bo.Uint16(p[10:])) - 8
	var so [2][]byte
	if headerSign {
		so = [2][]byte{p[:24], p[t : t+8]}
	}
	var tok []byte
	if k.key.KeyType == EtypeRC4 {
		tok = k.wrapRC4(d, p[24:t], so)
	} else {
		tok = k.wrapCFX(d, p[24:t], so)
	}
	copy(p[t+8:], tok)
	k.seq[d]++
}

// wrapCFX seals data in place and returns the 76-byte auth_value: the
// RFC 4121 header (EC 16, RRC 28), then the ciphertext E(conf | data |
// filler | header) | HMAC rotated right by RRC+EC = 44 (MS-KILE
// 3.4.5.4.1), whose last len(data) bytes replace data. The checksum covers
// the sign-only PDU header and sec_trailer around the data.
func (k *krbState) wrapCFX(d Dir, data []byte, so [2][]byte) []byte {
	const ec, rrc = 16, 28
	fl := byte(0x02 | 0x04) // Sealed, AcceptorSubkey
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if d == S2C {
		fl |= 0x01 // SentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	hdr := []byte{0x05, 0x04, fl, 0xff, 0, ec, 0, 0}
	hdr = binary.BigEndian.AppendUint64(hdr, k.seq[d])
	e, _ := crypto.GetEtype(k.key.KeyType)
	conf, filler := k.bytes(e.GetConfounderByteSize()), k.bytes(ec)
	pe := bytes.Join([][]byte{conf, data, filler, hdr}, nil)
	ke, _ := e.DeriveKey(k.key.KeyValue, common.GetUsageKe(usage))
	_, ct, err := e.EncryptData(ke, pe)
	if err != nil {
		panic("synth: " + err.Error())
	}
	mac, _ := common.GetIntegrityHash(bytes.Join([][]byte{conf, so[0], data, so[1], filler, hdr}, nil), k.key.KeyValue, usage, e)
	c := append(ct, mac...)
	rot := rrc + ec
	rotated := append(append([]byte(nil), c[len(c)-rot:]...), c[:len(c)-rot]...)
	clear := append([]byte(nil), hdr...)
	clear[7] = rrc
	n := len(rotated) - len(data)
	copy(data, rotated[n:])
	return append(clear, rotated[:n]...)
}

// wrapRC4 seals data in place and returns the 45-byte auth_value: GSS
// framing (its length covers the 32-byte token only, DCE style) and the
// RFC 4757 7.3 token. The checksum covers the token header, the
// confounder and the sign-only PDU header, data and sec_trailer.
func (k *krbState) wrapRC4(d Dir, data []byte, so [2][]byte) []byte {
	key := k.key.KeyValue
	tok := []byte{0x02, 0x01, 0x11, 0x00, 0x10, 0x00, 0xff, 0xff}
	seq := binary.BigEndian.AppendUint32(nil, uint32(k.seq[d]))
	if d == S2C {
		seq = append(seq, 0xff, 0xff, 0xff, 0xff)
	} else {
		seq = append(seq, 0, 0, 0, 0)
	}
	conf := k.bytes(8)
	sum, _ := rfc4757.Checksum(key, 13, bytes.Join([][]byte{tok, conf, so[0], data, so[1]}, nil))
	cksum := sum[:8]
	klocal := make([]byte, len(key))
	for i, b := range key {
		klocal[i] = b ^ 0xf0
	}
	ciph, _ := rc4.NewCipher(rfc4757.HMAC(rfc4757.HMAC(klocal, []byte{0, 0, 0, 0}), seq[:4]))
	ciph.XORKeyStream(conf, conf)
	ciph.XORKeyStream(data, data)
	sc, _ := rc4.NewCipher(rfc4757.HMAC(rfc4757.HMAC(key, []byte{0, 0, 0, 0}), cksum))
	sc.XORKeyStream(seq, seq)
	tok = append(append(append(tok, seq...), cksum...), conf...)
	return append([]byte{0x60, byte(len(OIDKRB5) + len(tok))}, append(append([]byte(nil), OIDKRB5...), tok...)...)
}

// KrbContext is both ends of one Kerberos exchange, for tests that need
// real tokens and sealed PDUs without a capture.
type KrbContext struct {
	// APReq is the client's raw AP-REQ, APRep the server's AP-REP (with the
	// acceptor's subkey) and APRep3 the client's DCE-style third leg.
	APReq, APRep, APRep3 []byte
	st                   *krbState
}

// NewKrbContext builds the exchange of k at time now; seed draws its keys
// and confounders.
func NewKrbContext(k KrbSpec, now time.Time, seed uint64) (*KrbContext, error) {
	h, err := newKrbHandshake(k, now, rand.New(rand.NewPCG(seed, 0x4b524235)))
	if err != nil {
		return nil, err
	}
	return &KrbContext{APReq: h.apReq, APRep: h.apRep, APRep3: h.apRep3,
		st: &krbState{key: h.acceptor, seq: [2]uint64{h.clientSeq, h.srvSeq}, conf: rand.New(rand.NewPCG(seed, 0x57524150)), sealed: true}}, nil
}

// TokenLen is the auth_length of the sealed PDUs.
func (x *KrbContext) TokenLen() int { return x.st.tokenLen() }

// Seal seals a request (fromServer false) or response PDU in place, built
// with a zero auth_value of TokenLen bytes and no object UUID, with the next
// sequence number of its direction. headerSign includes the PDU header and
// sec_trailer in the checksum (MS-RPCE header signing).
func (x *KrbContext) Seal(fromServer bool, pdu []byte, headerSign bool) {
	d := C2S
	if fromServer {
		d = S2C
	}
	x.st.sealPDU(d, pdu, headerSign)
}
