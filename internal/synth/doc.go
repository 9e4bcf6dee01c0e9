// Package synth builds synthetic but protocol-exact packet captures of
// DCE/RPC (NSPI, EPM, RFR) traffic for nspicap's tests: DCE/RPC PDUs, NDR
// stubs, NTLMSSP/SPNEGO/Kerberos tokens, TCP conversations, link layers and
// capture file writers. Everything is deterministic: fixed clocks, fixed
// seeds, so generating twice yields identical bytes.
//
// The encoders follow the same specifications as the decoders, written
// independently of them: C706 chapter 12 (PDUs) and 14 (NDR), MS-RPCE 2.2.2
// (auth verifier, bind-time features), MS-OXNSPI 3.1.4.1 (NSPI stubs),
// MS-OXABREF 3.1.4 (RFR), C706 appendix L and MS-RPCE 2.2.1.2 (EPM towers),
// MS-NLMP 2.2.1 (NTLMSSP), RFC 4178 (SPNEGO), RFC 4120 (the shape of an
// AP-REQ, the KDC exchanges), RFC 791 3.2 and RFC 8200 4.5 (IP fragments of
// UDP datagrams), RFC 9293 (TCP), and the pcap and pcapng file formats. tshark
// cross-checks what they write (see cmd/nspicap's tests).
package synth
