// Package evidence writes the frames behind a report's findings as one
// pcapng file (`nspicap analyze --evidence`), for a ticket: a reader opens
// it in Wireshark and sees, on each packet, which finding it proves.
//
// Choosing (select.go): the frames each finding cites (Finding.Frames); for
// a leak, the binds and the ends of the user's sessions on that server; for
// session_limit and logon_failed, the refused NspiBind requests and their
// answers; for emsmdb_leak, the store sessions' connects and ends; for any
// finding of a user, the frames that named the user (NTLM AUTHENTICATE, as
// the pipeline lists them). At most MaxPerGroup frames per (finding kind,
// user), the first and the last half; the Plan lists the groups it cut.
//
// Copying (write.go): each input that holds chosen frames is read again
// with internal/capture's readers (capture.ReadFrames: pcap, pcapng,
// NetMon, gzip; not standard input, which cannot be read twice), three
// times: the TCP connections of the chosen frames, their handshakes (the
// last SYN, SYN/ACK and ACK before the connection's first chosen frame),
// then the copy. Memory is bounded by the chosen frames, not the capture.
//
// Writing (pcapng.go), after draft-ietf-opsawg-pcapng: one Section Header
// Block (section 4.1), one Interface Description Block (4.2) per input and
// link type, with if_tsresol 9 (nanoseconds, 4.2 option 9) so that the
// original timestamps are kept whole, and an Enhanced Packet Block (4.3) per
// frame, in input and frame order, with the captured bytes, the original
// length and an opt_comment (3.5, option 1) that names the findings, their
// severity, the frame's role and the original file and frame number.
// Wireshark shows it as frame.comment. The file is not redacted.
package evidence
