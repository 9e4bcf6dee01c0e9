// Command nspicap reads packet captures and explains why MAPI clients fail to
// log on: NSPI address-book sessions that are bound and never unbound, and
// the MAPI_E_LOGON_FAILED answers that follow.
//
// It implements no protocol itself: it wires the packages that do (flags,
// exit codes, input, output). Even `nspicap endpoints` only lists what
// epm.DecodeCall decodes, and every status and fault it prints is named by
// the package that defines it (nspi, emsmdb, epm, dcerpc). The specifications behind its results are
// cited by those packages: The Open Group C706 chapter 12 and [MS-RPCE]
// 2.2.2 (dcerpc), [MS-OXNSPI] 3.1.4.1 with NspiBind in 3.1.4.1.1 (nspi),
// [MS-OXCRPC] 3.1.4.1 and 3.1.4.3 for EcDoConnectEx and EcDoDisconnect
// (emsmdb), C706 appendices L and O and [MS-RPCE] 2.2.1.2 for the endpoint
// mapper (epm), [MS-OXABREF] 3.1.4.1 for the referral service (rfr),
// [MS-NLMP] and RFC 4178 for NTLMSSP and SPNEGO (ntlmssp), and the libpcap
// and pcapng formats (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
// for reading captures (internal/capture).
package main
