// Package pipeline wires nspicap's layers together: capture files are read
// and reassembled by internal/capture, each TCP connection's bytes go to a
// dcerpc.Conn (with an unsealer from internal/unseal when keys are given),
// and each call is dispatched by its interface to the package that decodes
// it: nspi, emsmdb, epm and rfr. The result is a call row for `nspicap calls`,
// whose status and fault names come from those packages' tables
// (nspi.StatusName, emsmdb.StatusName, epm.StatusName, dcerpc.FaultName),
// and analyze.Events: NspiBind, NspiUnbind and other NSPI calls; EMSMDB
// connects and disconnects; ept_map answers with the endpoints they give;
// RFR referrals; ends of DCE/RPC connections and of TCP connections that
// carried no data. The anomalies of the connections are gathered with the
// pipeline's own (anomaly_kinds.go).
//
// It decodes no stub itself, except the return value of calls to well-known
// interfaces without a decoder (the last 4 bytes of the response stub, NDR
// per C706 chapter 14); the layouts that tell interfaces apart are checked
// by nspi.Shape, rfr.Shape and emsmdb.Shape. What it adds to the protocol packages are three
// inferences. The first: a connection whose bind is not in the capture has
// no known interface. The interface of each of its presentation contexts is
// learned from the capture's evidence, earlier or later in it: a context
// handle an NspiBind or EcDoConnect(Ex) returned, the endpoint mapper's
// answers, another connection's bind to the same server address and port,
// the shape of the stubs (older.go; protocol-notes §1.10). Its calls are
// flagged interface_inferred, with the evidence in inferred_from; calls
// wait, bounded, for evidence that comes later, and so does everything sent
// to the sink after them, so that the sink's order is kept.
//
// The second is the outcome of a sealed NspiBind, inferred from what the
// client does next on the same connection (sealed.go; README, "Sealed
// traffic"), and flagged as inferred. The third is the host of an ept_map
// tower that says 0.0.0.0: the endpoint mapper's own (protocol-notes §4.3).
//
// Transports beside TCP: DCE/RPC over SMB named pipes (smb.go) and RPC
// over HTTP (MS-RPCH; http.go, http_older.go): the IN and OUT channels of
// a virtual connection, paired by the virtual connection cookie of their
// opening RTS PDUs (2.2.4), make one DCE/RPC connection; chunked bodies of
// the outside leg are de-chunked (RFC 9112 7.1, rpch.Dechunker). A channel
// opened before the capture is told by its RTS PDUs (2.2.3.6.1) and paired
// only by a channel cookie that FlowControlAck commands (2.2.3.5.2, 2.2.3.4,
// forwarded per 3.2.1.5.2) carry on both channels, never by guess.
//
// Calls reach the sink in the order their outcome became known in the
// capture (the reply, or the connection's end for unanswered calls), also
// when calls wait for evidence (older.go).
package pipeline
