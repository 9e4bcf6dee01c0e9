// Package emsmdb decodes the Exchange store's MAPI RPC interface, EMSMDB
// (MS-OXCRPC; UUID a4f1db00-ca47-1067-b31f-00dd010662da, version 0.81), far
// enough to account for store sessions:
//   - EcDoConnect (opnum 0, MS-OXCRPC's historic EcDoConnect) and
//     EcDoConnectEx (opnum 10, 3.1.4.1): the request's szUserDN (the
//     per-user key of the store's session limit) and the session context
//     handle (CXH) the response returns;
//   - EcDoDisconnect (opnum 1, 3.1.4.3): the CXH it closes;
//   - every other opnum: the CXH its request starts with;
//   - the return value, the last 4 bytes of every response stub (NDR), named
//     by Statuses (StatusName) with the ec* names of MS-OXCRPC 3.1.4.1 and
//     MS-OXCDATA 2.4, including both
//     forms of the per-user session limit (ecMaxObjsExceeded 0x4de and
//     MAPI_E_SESSION_LIMIT 0x80040112; protocol-notes §3.5).
//
// A sealed stub is never decoded.
package emsmdb
