// Package redact replaces the names and addresses of a report by stable
// pseudonyms (`--redact`, `--redact-key`), so that a report can leave the
// company: user-N for accounts, domain-N for NetBIOS domains, DNS domains
// and Kerberos realms, host-N for host names, addresses from the
// documentation ranges 198.51.100.0/24 (RFC 5737) and 2001:db8::/32
// (RFC 3849), ports kept.
//
// A pseudonym is derived from HMAC-SHA-256 (RFC 2104) of the name under the
// key, not numbered by first appearance: two reports of one site redacted
// with one key give a name the same pseudonym whatever else they hold. Two
// names that want one number are told apart in sorted order (the later
// takes the next free number). IPv4 has 254 documentation addresses: when
// they are taken, 203.0.113.0/24 and 192.0.2.0/24 (RFC 5737), then
// 198.18.0.0/15 (RFC 2544) follow. An address of the input is never given
// as a pseudonym. Without a key a random one is drawn: the pseudonyms then
// change from run to run, and a list of candidate names cannot be tested
// against them.
//
// The redaction is a transform over the report model (Report) and the rows
// of calls and endpoints (CallRow, EndpointRows), before any renderer:
// every output format shows the same pseudonyms. Free text (the verdict,
// finding messages, warnings, anomaly examples) has every known name
// replaced, the longest first and in any case, and every IPv4 or IPv6
// address literal. Counts, frames, statuses, kinds and the input paths are
// kept.
package redact
