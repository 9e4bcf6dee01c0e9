package kerberos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/dcerpc/ndr"
	"github.com/nspicap/nspicap/ntlmssp"
)

// The PAC (MS-PAC) of a ticket a keytab decrypted: the KDC puts in every
// ticket it issues for a Windows account the client's logon information,
// whose LogonDomainName is the NetBIOS name of the client's domain, and
// (since Windows Server 2003) its UPN and DNS domain name. Both names of
// one domain in one place: what an NTLM CHALLENGE's AV pairs say, for a
// Kerberos client. Only those names are read; the signatures are not
// verified (nspicap names a client, it does not authorize one).
//
// Every read is bounds-checked against the PAC's bytes; an error names the
// structure, the field and its byte offset from the start of the PACTYPE
// (or, for the envelope, of the AD-IF-RELEVANT's ad-data).

// ErrMalformedPAC is wrapped by every error of TicketPAC and ReadPAC.
var ErrMalformedPAC = errors.New("kerberos: malformed PAC")

func pacErr(structure, field string, off int, format string, a ...any) error {
	return fmt.Errorf("%w: %s %s at offset %d: %s", ErrMalformedPAC, structure, field, off, fmt.Sprintf(format, a...))
}

// PAC is what nspicap reads of a PAC: the names of the client's domain.
type PAC struct {
	// LogonDomain is KERB_VALIDATION_INFO's LogonDomainName (MS-PAC 2.5):
	// the NetBIOS name of the client's domain; "" when the PAC has no
	// logon information.
	LogonDomain string
	// DNSDomain and UPN are UPN_DNS_INFO's DnsDomainName and UPN (MS-PAC
	// 2.10); "" when the PAC has no UPN_DNS_INFO.
	DNSDomain, UPN string
}

// Authorization data types (RFC 4120 7.5.4; MS-PAC 2.1) and PAC buffer
// types (MS-PAC 2.4).
const (
	adIfRelevant = 1
	adWin2KPAC   = 128

	pacLogonInfo = 0x1
	pacUPNDNS    = 0xC
)

// maxPACBuffers bounds the PAC_INFO_BUFFERs read: Windows writes at most a
// dozen.
const maxPACBuffers = 64

// TicketPAC finds the PAC in the authorization data of a decrypted ticket
// (EncTicketPart authorization-data: an AD-IF-RELEVANT element whose
// ad-data holds an AD-WIN2K-PAC element; RFC 4120 5.2.6.1, MS-PAC 2.1)
// and reads it. found is false when the ticket carries no PAC (an MIT or
// Heimdal KDC's ticket). Only the first PAC is read.
func TicketPAC(ad types.AuthorizationData) (p PAC, found bool, err error) {
	for _, e := range ad {
		if e.ADType != adIfRelevant {
			continue
		}
		pac, ok, err := pacInIfRelevant(e.ADData)
		if err != nil {
			return PAC{}, true, err
		}
		if ok {
			p, err := ReadPAC(pac)
			return p, true, err
		}
	}
	return PAC{}, false, nil
}

// pacInIfRelevant walks AD-IF-RELEVANT's ad-data, itself an
// AuthorizationData (SEQUENCE OF SEQUENCE { ad-type [0] Int32, ad-data [1]
// OCTET STRING }), for the ad-data of an AD-WIN2K-PAC element.
func pacInIfRelevant(b []byte) (pac []byte, ok bool, err error) {
	const s = "AD-IF-RELEVANT"
	if len(b) == 0 || b[0] != 0x30 {
		return nil, false, pacErr(s, "SEQUENCE OF", 0, "not a SEQUENCE")
	}
	list, _, err := derElem(b, 0)
	if err != nil {
		return nil, false, pacErr(s, "SEQUENCE OF length", 1, "%d bytes, the length runs past them", len(b))
	}
	off := len(b) - len(list)
	for len(list) > 0 {
		if list[0] != 0x30 {
			return nil, false, pacErr(s, "element", off, "tag 0x%02x is not a SEQUENCE", list[0])
		}
		elem, rest, err := derElem(list, off)
		if err != nil {
			return nil, false, pacErr(s, "element length", off+1, "runs past the ad-data")
		}
		adType, data, err := adEntry(elem, off+len(list)-len(rest)-len(elem))
		if err != nil {
			return nil, false, err
		}
		if adType == adWin2KPAC {
			return data, true, nil
		}
		off += len(list) - len(rest)
		list = rest
	}
	return nil, false, nil
}

// adEntry reads one AuthorizationData element's content (off: its offset).
func adEntry(seq []byte, off int) (adType int64, data []byte, err error) {
	const s = "AD-IF-RELEVANT"
	var have uint8
	for len(seq) > 0 {
		tag := seq[0]
		f, rest, err := derElem(seq, off)
		if err != nil {
			return 0, nil, pacErr(s, "ad-type or ad-data length", off+1, "runs past its element")
		}
		inner := off + len(seq) - len(rest) - len(f)
		switch tag {
		case 0xa0:
			v, ok := integer(f)
			if !ok {
				return 0, nil, pacErr(s, "ad-type", inner, "not an INTEGER of at most 8 bytes")
			}
			adType = v
			have |= 1
		case 0xa1:
			if len(f) == 0 || f[0] != 0x04 {
				return 0, nil, pacErr(s, "ad-data", inner, "not an OCTET STRING")
			}
			c, _, err := derElem(f, inner)
			if err != nil {
				return 0, nil, pacErr(s, "ad-data length", inner+1, "runs past its element")
			}
			data = c
			have |= 2
		}
		off += len(seq) - len(rest)
		seq = rest
	}
	if have != 3 {
		return 0, nil, pacErr(s, "element", off, "lacks its ad-type or ad-data")
	}
	return adType, data, nil
}

// ReadPAC reads a PACTYPE (MS-PAC 2.3: cBuffers, Version 0, then cBuffers
// PAC_INFO_BUFFERs of ulType, cbBufferSize and a 64-bit Offset from the
// start of the PACTYPE, 2.4), and of its buffers the logon information
// (2.5) and UPN_DNS_INFO (2.10). A buffer type met twice is an error (its
// names would be ambiguous); other buffers are skipped. b is not retained.
func ReadPAC(b []byte) (PAC, error) {
	const s = "PACTYPE"
	var p PAC
	if len(b) < 8 {
		return PAC{}, pacErr(s, "cBuffers", 0, "%d bytes, a PACTYPE has at least 8", len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxPACBuffers {
		return PAC{}, pacErr(s, "cBuffers", 0, "%d buffers, want 1 to %d", n, maxPACBuffers)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != 0 {
		return PAC{}, pacErr(s, "Version", 4, "%d, want 0", v)
	}
	if need := 8 + 16*int(n); len(b) < need {
		return PAC{}, pacErr(s, "Buffers", 8, "%d PAC_INFO_BUFFERs need %d bytes, the PAC has %d", n, need, len(b))
	}
	var seenLogon, seenUPN bool
	for i := 0; i < int(n); i++ {
		at := 8 + 16*i
		typ := binary.LittleEndian.Uint32(b[at:])
		size := uint64(binary.LittleEndian.Uint32(b[at+4:]))
		off := binary.LittleEndian.Uint64(b[at+8:])
		if off > uint64(len(b)) || size > uint64(len(b))-off {
			return PAC{}, pacErr("PAC_INFO_BUFFER", "Offset", at+8, "buffer %d (type 0x%x) of %d bytes at offset %d runs past the PAC's %d bytes", i, typ, size, off, len(b))
		}
		buf := b[off : off+size]
		var err error
		switch typ {
		case pacLogonInfo:
			if seenLogon {
				return PAC{}, pacErr("PAC_INFO_BUFFER", "ulType", at, "a second KERB_VALIDATION_INFO buffer")
			}
			seenLogon = true
			p.LogonDomain, err = logonDomain(buf, int(off))
		case pacUPNDNS:
			if seenUPN {
				return PAC{}, pacErr("PAC_INFO_BUFFER", "ulType", at, "a second UPN_DNS_INFO buffer")
			}
			seenUPN = true
			p.UPN, p.DNSDomain, err = upnDNS(buf, int(off))
		}
		if err != nil {
			return PAC{}, err
		}
	}
	return p, nil
}

// The fixed part of KERB_VALIDATION_INFO (MS-PAC 2.5) in NDR: the bytes
// skipped before EffectiveName (six FILETIMEs) and after LogonDomainId
// (Reserved1 to ResourceGroupIds).
const (
	kviTimes = 6 * 8
	kviTail  = 2*4 + 4 + 4 + 2*8 + 4 + 4 + 4 + 4 + 4 + 4 + 4
)

// Bounds of what the logon information may announce (the bytes present
// bound them first).
const (
	maxUnicodeChars = 1 << 15
	maxGroups       = 1 << 20
)

// logonDomain reads LogonDomainName from a KERB_VALIDATION_INFO buffer
// (MS-PAC 2.5), serialized as MS-RPCE 2.2.6 says: a common type header
// (version 1, endianness, length 8, filler), a private header (object
// buffer length, filler), the top-level pointer's referent ID, then the
// structure in NDR with its deferred referents in the order of their
// pointers: EffectiveName to HomeDirectoryDrive, GroupIds, LogonServer,
// LogonDomainName. at is the buffer's offset in the PAC, for errors.
func logonDomain(buf []byte, at int) (string, error) {
	const s = "KERB_VALIDATION_INFO"
	if len(buf) < 16 {
		return "", pacErr(s, "type serialization header", at, "%d bytes, it has 16", len(buf))
	}
	if buf[0] != 1 {
		return "", pacErr(s, "Version", at, "%d, want 1", buf[0])
	}
	var le bool
	switch buf[1] {
	case 0x10:
		le = true
	case 0x00:
	default:
		return "", pacErr(s, "Endianness", at+1, "0x%02x, want 0x10 or 0x00", buf[1])
	}
	r := ndr.NewReader(buf, le)
	r.Skip("Version and Endianness", 2)
	if l := r.U16("CommonHeaderLength"); r.Err() == nil && l != 8 {
		return "", pacErr(s, "CommonHeaderLength", at+2, "%d, want 8", l)
	}
	r.Skip("Filler", 4)
	if ol := r.U32("ObjectBufferLength"); r.Err() == nil && int64(ol) > int64(len(buf)-16) {
		return "", pacErr(s, "ObjectBufferLength", at+8, "%d bytes, the buffer has %d after its headers", ol, len(buf)-16)
	}
	r.Skip("Filler", 4)
	if ref := r.Pointer("referent ID"); r.Err() == nil && ref == 0 {
		return "", pacErr(s, "referent ID", at+16, "NULL")
	}
	r.Skip("LogonTime to PasswordMustChange", kviTimes)
	// The six RPC_UNICODE_STRINGs before LogonServer: Length,
	// MaximumLength, Buffer pointer.
	names := [...]string{"EffectiveName", "FullName", "LogonScript", "ProfilePath", "HomeDirectory", "HomeDirectoryDrive"}
	var strs [len(names)]bool
	for i, n := range names {
		strs[i] = unicodeHeader(r, n)
	}
	r.U16("LogonCount")
	r.U16("BadPasswordCount")
	r.U32("UserId")
	r.U32("PrimaryGroupId")
	r.U32("GroupCount")
	groups := r.Pointer("GroupIds") != 0
	r.U32("UserFlags")
	r.Skip("UserSessionKey", 16)
	server := unicodeHeader(r, "LogonServer")
	domain := unicodeHeader(r, "LogonDomainName")
	r.Pointer("LogonDomainId")
	r.Skip("Reserved1 to ResourceGroupIds", kviTail)
	// The deferred referents, up to LogonDomainName's.
	for i, n := range names {
		if strs[i] {
			unicodeBody(r, n)
		}
	}
	if groups {
		k := r.Count("GroupIds.max_count", maxGroups, 8)
		r.Skip("GroupIds", 8*k)
	}
	if server {
		unicodeBody(r, "LogonServer")
	}
	if !domain {
		if err := r.Err(); err != nil {
			return "", ndrErr(s, at, err)
		}
		return "", pacErr(s, "LogonDomainName.Buffer", at, "NULL")
	}
	name := unicodeBody(r, "LogonDomainName")
	if err := r.Err(); err != nil {
		return "", ndrErr(s, at, err)
	}
	return decodeUTF16(name, le), nil
}

// unicodeHeader reads an RPC_UNICODE_STRING's Length, MaximumLength and
// Buffer pointer and says whether the pointer is set.
func unicodeHeader(r *ndr.Reader, field string) bool {
	r.U16(field + ".Length")
	r.U16(field + ".MaximumLength")
	return r.Pointer(field+".Buffer") != 0
}

// unicodeBody reads the deferred referent of an RPC_UNICODE_STRING: a
// conformant varying array of WCHAR.
func unicodeBody(r *ndr.Reader, field string) []byte {
	return r.ConformantVaryingBytes(field+".Buffer", maxUnicodeChars, 2)
}

// ndrErr restates an NDR reader's error with the field's offset in the PAC.
func ndrErr(structure string, at int, err error) error {
	var e *ndr.Error
	if errors.As(err, &e) {
		return pacErr(structure, e.Field, at+e.Offset, "%v", e.Err)
	}
	return pacErr(structure, "NDR", at, "%v", err)
}

// upnDNS reads a UPN_DNS_INFO buffer (MS-PAC 2.10): UpnLength, UpnOffset,
// DnsDomainNameLength, DnsDomainNameOffset (16-bit, little-endian, offsets
// from the start of the structure), Flags; the names in UTF-16LE.
func upnDNS(buf []byte, at int) (upn, dns string, err error) {
	const s = "UPN_DNS_INFO"
	if len(buf) < 12 {
		return "", "", pacErr(s, "UpnLength", at, "%d bytes, it has at least 12", len(buf))
	}
	str := func(i int, field string) (string, error) {
		l := int(binary.LittleEndian.Uint16(buf[i:]))
		o := int(binary.LittleEndian.Uint16(buf[i+2:]))
		if l == 0 {
			return "", nil
		}
		if l%2 != 0 {
			return "", pacErr(s, field+"Length", at+i, "%d bytes, an odd length for UTF-16", l)
		}
		if o+l > len(buf) {
			return "", pacErr(s, field+"Offset", at+i+2, "%d bytes at %d run past the end of the %d-byte buffer", l, o, len(buf))
		}
		return decodeUTF16(buf[o:o+l], true), nil
	}
	if upn, err = str(0, "Upn"); err != nil {
		return "", "", err
	}
	if dns, err = str(4, "DnsDomainName"); err != nil {
		return "", "", err
	}
	return upn, dns, nil
}

// decodeUTF16 decodes UTF-16 (an odd last byte is dropped), clipped as
// every name from the wire is (ntlmssp.ClipName hashes the whole name, so
// all of it is decoded: at most the PAC's bytes).
func decodeUTF16(b []byte, le bool) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if le {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		} else {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		}
	}
	return ntlmssp.ClipName(string(utf16.Decode(u)))
}
