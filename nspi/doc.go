// Package nspi decodes the Name Service Provider Interface (NSPI), the
// address-book RPC interface of Active Directory domain controllers (MS-NSPI)
// and Exchange (MS-OXNSPI): UUID f5cc5a18-4264-101a-8c59-08002b2f8426,
// version 56.0.
//
// It implements:
//   - the opnum table of MS-OXNSPI 3.1.4.1 / MS-NSPI 3.1.4 (0..20);
//   - NspiBind (MS-OXNSPI 3.1.4.1.1): request dwFlags (fAnonymousLogin,
//     2.2.1.8), STAT (2.2.8) code page, the unique pServerGuid; response
//     pServerGuid, the 20-byte NSPI_HANDLE context handle and the return
//     value;
//   - NspiUnbind (3.1.4.1.2): the handle in the request and the return value
//     (1 UnbindSuccess, 2 UnbindFailure);
//   - every other opnum: the handle that starts its request stub, and the
//     return value, which is the last 4 bytes of every NSPI response stub
//     (NDR, C706 14);
//   - Statuses, the one table of names of NSPI (and RFR) return values: the
//     MAPI status codes of MS-OXCDATA 2.4 (0x80040111 MAPI_E_LOGON_FAILED and
//     the rest) and NspiUnbind's 1 and 2; every output names them through
//     StatusName.
//
// A sealed stub (auth level privacy) is never decoded: Decode says so.
//
// Adding an opnum: extend Decode with the request and response fields the
// analysis needs, read through ndr.Reader with named fields, and add a
// generated capture in testdata that tshark cross-checks.
package nspi
