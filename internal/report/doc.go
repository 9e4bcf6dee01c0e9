// Package report renders an analyze.Report, and the sessions list, for
// people and for programs. It is the only package that imports tablewriter.
//
// # nspicap analyze (WriteAnalyze)
//
//   - table: the verdict first (plain sentences), then the findings, most
//     severe first, each with its server, user and client, its message and
//     the frames that prove it (file#frame when the report has several
//     inputs; "..." marks frames left out of a long list), then per server
//     one table of counters per user and one per client, a legend, the
//     totals, the inputs with their warnings, and the anomalies. Everything
//     fits in 80 columns: headers are abbreviated (BINDS OK LOGON_FAILED FAIL
//     UNK UNBIND CALLS OPEN CLOSED PEAK; UNK only when some bind's outcome is
//     unknown) and long names wrap inside their cell.
//   - json: the Report as one indented JSON document, names as in
//     the README (the report schema). Deterministic: the analyzer sorts every list.
//   - html: one self-contained page (html.go, svg.go and the embedded
//     html_report.tmpl, .css and .js): the verdict first, the findings
//     with a Wireshark display filter each (frame.number in {a, b}, one
//     per file), an SVG chart per timeline row (the sessions held as a
//     step line, the limit, the refusals, the projection to the limit of
//     a leak), the tables, the inputs and anomalies. Rendered from the
//     Report alone with html/template, names escaped by safetext first;
//     bounded (40 charts, 120 points a chart, 200 rows a table).
//     docs/html-report.md describes it.
//
// # nspicap sessions (WriteSessions)
//
//   - table: one table per server: client, user, a short handle (digits 9
//     to 16 of 40), bind frame, end (unbind, closed, open) and its frame,
//     calls. With several files, frames print as N#frame and a legend
//     names the files.
//   - csv: a header line, then server, server_port, client, user, auth,
//     handle (40 hex digits), bind_file, bind_frame, bind_time, end,
//     end_file, end_frame, end_time, unbind_status, calls. Times are RFC 3339
//     in UTC with 6 fraction digits (9 for nanosecond captures).
//   - jsonl: one JSON object per session, with the names of the report's
//     sessions.
//
// Names from the wire and file names are escaped in every text output
// (tables, their sentences, CSV) by package safetext, before the cells reach
// tablewriter or its faster twins, which therefore still agree; CSV text
// cells are also guarded against spreadsheet formulas (safetext.CSV).
// JSON is written as it was: encoding/json escapes already.
//
// Tables use tablewriter v1 with ASCII symbols, no borders, and header
// auto-format off so that LOGON_FAILED prints as written.
//
// The golden files in testdata/ come from reports built with fake events;
// refresh them with `go test ./internal/report -update` and review the diff.
package report
