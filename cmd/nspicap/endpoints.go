package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/epm"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/report"
)

// endpointSink builds the endpoint map from ept_map and ept_lookup answers.
type endpointSink struct {
	rows    map[string]*report.EndpointRow
	dropped int // answers for rows beyond maxEndpointRows
}

// Bounds of the endpoint map, whatever the capture holds: rows, and the
// frames listed per row.
const (
	maxEndpointRows   = 16384
	maxEndpointFrames = 64
)

func (s *endpointSink) ConnEnd(*analyze.ConnEnd) {}

// Call lists what an endpoint mapper answered, as package epm decodes it.
func (s *endpointSink) Call(c *pipeline.Call) {
	ms, ok := epm.DecodeCall(c.Raw)
	if !ok {
		return
	}
	rc := c.Raw
	mapper := rc.Conn.Server
	for i := range ms {
		m := &ms[i]
		row := report.EndpointRow{
			Mapper:    mapper.String(),
			Interface: dcerpc.InterfaceName(m.Interface.UUID),
			UUID:      m.Interface.UUID.String(),
			Version:   fmt.Sprintf("%d.%d", m.Interface.Major, m.Interface.Minor),
			Status:    endpointStatus(m.Status),
			FirstTime: report.FormatTime(rc.Request.Pos.Time),
		}
		if t := m.Tower; m.Status == epm.StatusOK && t != nil {
			// Each in its own field, as rpcdump prints them: the host
			// (IP, or the NetBIOS name of a pipe tower; none for LRPC)
			// and the endpoint (port, pipe or LRPC name).
			row.Protocol, row.Port, row.Annotation = t.Protocol, t.Port, m.Annotation
			row.Host = t.HostName(mapper.Addr())
			row.Pipe, row.LRPC = t.Pipe, t.LRPC
		}
		s.add(c, row)
	}
}

// endpointStatus is the STATUS of an endpoint row: "registered" for
// success, the name epm gives the status without its "ept_s_" prefix
// ("not_registered"), or the status in hex when epm does not name it.
func endpointStatus(v uint32) string {
	if v == epm.StatusOK {
		return "registered"
	}
	if n, ok := epm.StatusName(v); ok {
		return strings.TrimPrefix(n, "ept_s_")
	}
	return fmt.Sprintf("0x%08x", v)
}

// endpointTail is what tells apart the rows of one answer.
func endpointTail(r *report.EndpointRow) string {
	return fmt.Sprintf("%s|%s|%s|%05d|%s|%s", r.Status, r.Protocol, r.Host, r.Port, r.Pipe, r.LRPC)
}

// add merges a row into the map, with the frames of the call.
func (s *endpointSink) add(c *pipeline.Call, row report.EndpointRow) {
	rc := c.Raw
	key := c.Row.File + "|" + row.Mapper + "|" + row.UUID + "|" + row.Version + "|" + row.Status + "|" + row.Protocol + "|" + row.Host + "|" + fmt.Sprint(row.Port) + "|" + row.Pipe + "|" + row.LRPC
	r := s.rows[key]
	if r == nil && len(s.rows) >= maxEndpointRows {
		s.dropped++
		return
	}
	if r == nil {
		r = &row
		r.File = c.Row.File
		s.rows[key] = r
	}
	if len(r.Frames) < maxEndpointFrames {
		r.Frames = append(r.Frames, rc.Request.Pos.Frame)
		r.Replies = append(r.Replies, rc.Response.Pos.Frame)
	}
}

func runEndpoints(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("endpoints", "List what the endpoint mapper (TCP 135) answered: which host and port serve NSPI, EMSMDB\nand the other interfaces, or that an interface is not registered.",
		"nspicap endpoints trace.pcapng", stderr)
	in := addInputFlags(fs, false, "output format: table, csv or jsonl", "table", "csv", "jsonl")
	red := addRedactFlags(fs)
	files, err := in.parse(fs, args, stderr)
	if err != nil {
		return exitUsage, err
	}
	format, lim := in.format, in.lim
	sink := &endpointSink{rows: map[string]*report.EndpointRow{}}
	opts := lim.options(stdin)
	opts.Rows = true
	res := runWithProgress(files, opts, sink, lim.progress, stderr, nil)
	var rows []report.EndpointRow
	for _, r := range sink.rows {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Mapper != b.Mapper {
			return a.Mapper < b.Mapper
		}
		if a.Interface != b.Interface {
			return a.Interface < b.Interface
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Frames[0] != b.Frames[0] {
			return a.Frames[0] < b.Frames[0]
		}
		// One answer (ept_lookup) gives several towers: in a fixed order.
		return endpointTail(&a) < endpointTail(&b)
	})
	if allUnreadable(&res) {
		reportInputs(&res, stderr)
		return exitInput, nil
	}
	if rd := red.redactor(); rd != nil {
		rd.EndpointRows(rows)
	}
	if err := report.WriteEndpoints(stdout, *format, rows, len(files) > 1); err != nil {
		return exitInput, fmt.Errorf("writing output: %v", err)
	}
	if sink.dropped > 0 {
		fmt.Fprintf(stderr, "nspicap: warning: %d mapper answers for further endpoints are not listed: at most %d rows are\n", sink.dropped, maxEndpointRows)
	}
	if reportInputs(&res, stderr) {
		return exitInput, nil
	}
	return exitOK, nil
}
