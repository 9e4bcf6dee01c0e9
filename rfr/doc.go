// Package rfr decodes the NSPI referral interface (MS-OXABREF; UUID
// 1544f5e0-613c-11d1-93df-00c04fd7bd09 v1.0): RfrGetNewDSA (opnum 0,
// MS-OXABREF 3.1.4.1), which tells Outlook which directory server to bind
// NSPI on, and RfrGetFQDNFromServerDN (opnum 1, 3.1.4.2), which maps a
// mailbox server's legacy DN to its FQDN. It reads the names asked for and
// answered ([in,out,unique,string] char** as a unique pointer to a unique
// pointer to a conformant varying string, NDR per C706 14) and the return
// value, the last 4 bytes of the response stub. Sealed stubs are not decoded.
package rfr
