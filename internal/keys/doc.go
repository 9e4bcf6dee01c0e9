// Package keys reads the key material that lets nspicap decrypt sealed
// DCE/RPC traffic: a keys file of NTLM identities (`DOMAIN\user:password` or
// `DOMAIN\user:nt:<32 hex digits>`) and MIT keytabs (Kerberos service keys;
// their RC4-HMAC entries are NT hashes too).
//
// Key material stays inside this package's types and the decryptors: a
// Store formats as a count of entries, and no error or warning quotes a
// line of a keys file or a byte of a key. Errors name the file and the line
// number only.
//
// Key files come from users and may be anything: a keys file is UTF-8 (a
// byte-order mark is dropped) or UTF-16 with a byte-order mark, and both
// kinds of file are read up to their limits (MaxKeysFileSize, MaxKeysLine,
// MaxKeysEntries, MaxKeytabSize, MaxKeytabEntries) and no further, so that
// /dev/zero or an endless pipe ends at once with an error. A keytab is
// checked against its limits before gokrb5 parses it.
//
// Specifications: [MS-NLMP] 3.3.1 (NTOWFv1: the NT hash is MD4 of the
// UTF-16LE password), RFC 4757 section 2 (an RC4-HMAC Kerberos key is the
// NT hash, so keytab entries of encryption type 23 serve NTLM too), and
// MIT's keytab file format (version 0x502), read by gokrb5.
package keys
