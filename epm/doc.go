// Package epm decodes the endpoint mapper (EPM, interface
// e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0 on TCP 135), which tells clients
// on which dynamic port NSPI, EMSMDB and the other RPC interfaces listen.
//
// It implements ept_map (opnum 3) and ept_lookup (opnum 2) requests and
// responses as specified by The Open Group C706 appendix O (the ept
// interface) and MS-RPCE 2.2.1.2 / 3.1.1.5 (endpoint mapper extensions), and
// the protocol tower encoding of C706 appendix L (floor counts little-endian
// whatever the data representation; ports and IPv4 addresses in network
// order; protocol identifiers 0x0d UUID, 0x0b ncacn, 0x07 TCP, 0x09 IPv4,
// 0x1f ncacn_http, 0x0f named pipe, 0x10 ncalrpc, and Exchange 2003's 0x20
// address floor, 0x11 NetBIOS host, 0x0c LRPC), with the NDR layout of
// protocol-notes §4 and §9.3, in NDR20 or in the NDR64 transfer syntax of
// MS-RPCE 2.2.5 when the call's presentation context negotiated it
// (dcerpc.Call.NDR64). Tower.Binding prints a tower as rpcdump does.
//
// DecodeCall turns an answered ept_map or ept_lookup call into the
// interfaces it maps (Mapping), and Tower.Host gives the host of a tower
// that says 0.0.0.0 (the mapper's own): `nspicap endpoints` lists these and
// decodes nothing itself.
//
// Statuses names the status values of ept_map and ept_lookup
// (ept_s_not_registered 0x16c9a0d6 and the rest); every output names them
// through StatusName.
//
// Every count is bounded before it sizes anything; decoders never panic.
package epm
