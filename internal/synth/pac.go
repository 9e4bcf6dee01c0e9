package synth

import (
	"encoding/binary"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The PAC a Windows KDC puts in the tickets it issues (MS-PAC), written
// from MS-PAC and MS-RPCE 2.2.6 independently of the kerberos package's
// reader: the PACTYPE and its buffers (logon information, client info,
// UPN_DNS_INFO, the server's and the KDC's signatures), wrapped as the
// ticket's authorization data: AD-IF-RELEVANT holding AD-WIN2K-PAC.

// PACSpec is what a ticket's PAC says of its client.
type PACSpec struct {
	// LogonDomain is KERB_VALIDATION_INFO's LogonDomainName (the NetBIOS
	// domain), LogonServer its LogonServer.
	LogonDomain, LogonServer string
	// DNSDomain and UPN are UPN_DNS_INFO's DnsDomainName and UPN; with
	// both "", the PAC has no UPN_DNS_INFO (as before Windows Server 2003).
	DNSDomain, UPN string
	// BadDNSOffset makes the PAC malformed: UPN_DNS_INFO's
	// DnsDomainNameOffset points past the end of its buffer.
	BadDNSOffset bool
}

// PAC buffer types (MS-PAC 2.4).
const (
	pacTypeLogonInfo  = 1
	pacTypeServerSig  = 6
	pacTypeKDCSig     = 7
	pacTypeClientInfo = 10
	pacTypeUPNDNS     = 12
)

// hmacSHA1AES256 is the checksum type of the PAC signatures made with an
// AES256 key (RFC 3962; MS-PAC 2.8); its checksum is 12 bytes.
const hmacSHA1AES256 = 16

// filetime appends a FILETIME (100 ns since 1601) as two ULONGs; the zero
// time is 0 (never happened).
func filetime(e *NDR, t time.Time) {
	var v uint64
	if !t.IsZero() {
		v = uint64(t.Unix()+11644473600)*10000000 + uint64(t.Nanosecond()/100)
	}
	e.U32(uint32(v))
	e.U32(uint32(v >> 32))
}

// never is the FILETIME of a time that never comes (MS-PAC 2.5).
func never(e *NDR) {
	e.U32(0xffffffff)
	e.U32(0x7fffffff)
}

// logonInfo is the KERB_VALIDATION_INFO buffer (MS-PAC 2.5) of user:
// the type serialization headers of MS-RPCE 2.2.6.1 and 2.2.6.2, then the
// structure through its top-level pointer, in NDR with its deferred
// referents, padded to 8 bytes.
func (p PACSpec) logonInfo(user string, auth time.Time) []byte {
	e := NewNDR(false)
	e.Ref()                               // the top-level pointer
	filetime(e, auth)                     // LogonTime
	never(e)                              // LogoffTime
	never(e)                              // KickOffTime
	filetime(e, auth.Add(-720*time.Hour)) // PasswordLastSet
	filetime(e, auth.Add(-696*time.Hour)) // PasswordCanChange
	never(e)                              // PasswordMustChange
	// EffectiveName, FullName, LogonScript, ProfilePath, HomeDirectory,
	// HomeDirectoryDrive: RPC_UNICODE_STRINGs (Length, MaximumLength in
	// bytes, Buffer pointer; an empty one points to an empty array).
	strs := []string{user, user, "", "", "", ""}
	str := func(s string) {
		n := uint16(len(UTF16LE(s)))
		e.U16(n)
		e.U16(n)
		e.Ref()
	}
	for _, s := range strs {
		str(s)
	}
	e.U16(12)               // LogonCount
	e.U16(0)                // BadPasswordCount
	e.U32(1105)             // UserId
	e.U32(513)              // PrimaryGroupId: Domain Users
	e.U32(2)                // GroupCount
	e.Ref()                 // GroupIds
	e.U32(0)                // UserFlags
	e.Raw(make([]byte, 16)) // UserSessionKey
	str(p.LogonServer)
	str(p.LogonDomain)
	e.Ref()                  // LogonDomainId
	e.U32(0)                 // Reserved1[0]
	e.U32(0)                 // Reserved1[1]
	e.U32(0x210)             // UserAccountControl: normal account, password does not expire
	e.U32(0)                 // SubAuthStatus
	filetime(e, time.Time{}) // LastSuccessfulILogon
	filetime(e, time.Time{}) // LastFailedILogon
	e.U32(0)                 // FailedILogonCount
	e.U32(0)                 // Reserved3
	e.U32(0)                 // SidCount
	e.Null()                 // ExtraSids
	e.Null()                 // ResourceGroupDomainSid
	e.U32(0)                 // ResourceGroupCount
	e.Null()                 // ResourceGroupIds
	// The deferred referents, in the order of their pointers.
	body := func(s string) {
		u := UTF16LE(s)
		e.U32(uint32(len(u) / 2)) // max_count
		e.U32(0)                  // offset
		e.U32(uint32(len(u) / 2)) // actual_count
		e.Raw(u)
	}
	for _, s := range strs {
		body(s)
	}
	e.U32(2) // GroupIds: max_count, then RelativeId and Attributes
	for _, rid := range []uint32{513, 1108} {
		e.U32(rid)
		e.U32(7) // SE_GROUP_MANDATORY | ENABLED_BY_DEFAULT | ENABLED
	}
	body(p.LogonServer)
	body(p.LogonDomain)
	e.U32(4) // LogonDomainId: RPC_SID, conformant (SubAuthorityCount)
	e.U8(1)  // Revision
	e.U8(4)  // SubAuthorityCount
	e.Raw([]byte{0, 0, 0, 0, 0, 5})
	for _, sa := range []uint32{21, 1004336348, 1177238915, 682003330} {
		e.U32(sa)
	}
	e.Align(8)
	hdr := []byte{1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc}
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(e.B)))
	hdr = append(hdr, 0, 0, 0, 0)
	return append(hdr, e.B...)
}

// clientInfo is PAC_CLIENT_INFO (MS-PAC 2.7): the ticket's authtime and
// the client's name.
func clientInfo(user string, auth time.Time) []byte {
	e := NewNDR(false)
	filetime(e, auth)
	u := UTF16LE(user)
	e.U16(uint16(len(u)))
	e.Raw(u)
	return e.B
}

// upnDNSInfo is UPN_DNS_INFO (MS-PAC 2.10): the lengths and offsets, the
// flags (0: the account has a UPN), then the UPN and the DNS domain name,
// each at an offset that is a multiple of 8.
func (p PACSpec) upnDNSInfo() []byte {
	upn, dns := UTF16LE(p.UPN), UTF16LE(p.DNSDomain)
	upnOff := 16
	dnsOff := (upnOff + len(upn) + 7) &^ 7
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(upn)))
	b = binary.LittleEndian.AppendUint16(b, uint16(upnOff))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dns)))
	if p.BadDNSOffset {
		b = binary.LittleEndian.AppendUint16(b, 0x200)
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(dnsOff))
	}
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, make([]byte, upnOff-len(b))...)
	b = append(b, upn...)
	b = append(b, make([]byte, dnsOff-len(b))...)
	return append(b, dns...)
}

// pacBytes builds the PACTYPE (MS-PAC 2.3) of user's ticket: its buffers
// at offsets that are multiples of 8, the server's signature keyed with
// the service key svc (MS-PAC 2.8.1: over the whole PAC with both
// signatures zeroed, key usage 17), the KDC's signature kdcSig (the
// krbtgt key is not the generator's to have).
func (p PACSpec) pacBytes(user string, auth time.Time, svc types.EncryptionKey, kdcSig []byte) ([]byte, error) {
	sig := func() []byte { return binary.LittleEndian.AppendUint32(nil, hmacSHA1AES256) }
	type buffer struct {
		typ  uint32
		data []byte
	}
	bufs := []buffer{{pacTypeLogonInfo, p.logonInfo(user, auth)}, {pacTypeClientInfo, clientInfo(user, auth)}}
	if p.DNSDomain != "" || p.UPN != "" {
		bufs = append(bufs, buffer{pacTypeUPNDNS, p.upnDNSInfo()})
	}
	srv, kdc := len(bufs), len(bufs)+1
	bufs = append(bufs, buffer{pacTypeServerSig, append(sig(), make([]byte, 12)...)}, buffer{pacTypeKDCSig, append(sig(), make([]byte, 12)...)})
	hdrLen := 8 + 16*len(bufs)
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(bufs)))
	out = binary.LittleEndian.AppendUint32(out, 0)
	off := hdrLen
	offs := make([]int, len(bufs))
	for i, b := range bufs {
		offs[i] = off
		out = binary.LittleEndian.AppendUint32(out, b.typ)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(b.data)))
		out = binary.LittleEndian.AppendUint64(out, uint64(off))
		off = (off + len(b.data) + 7) &^ 7
	}
	for i, b := range bufs {
		out = append(out, make([]byte, offs[i]-len(out))...)
		out = append(out, b.data...)
	}
	out = append(out, make([]byte, off-len(out))...)
	et, err := crypto.GetEtype(svc.KeyType)
	if err != nil {
		return nil, err
	}
	sum, err := et.GetChecksumHash(svc.KeyValue, out, 17)
	if err != nil {
		return nil, err
	}
	copy(out[offs[srv]+4:], sum[:12])
	copy(out[offs[kdc]+4:], kdcSig)
	return out, nil
}

// pacAuthData wraps a PAC as a ticket's authorization data (RFC 4120
// 5.2.6.1; MS-PAC 2.1): one AD-IF-RELEVANT (1) element whose ad-data is an
// AuthorizationData holding one AD-WIN2K-PAC (128) element.
func pacAuthData(pac []byte) (types.AuthorizationData, error) {
	inner, err := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: pac}})
	if err != nil {
		return nil, err
	}
	return types.AuthorizationData{{ADType: 1, ADData: inner}}, nil
}
