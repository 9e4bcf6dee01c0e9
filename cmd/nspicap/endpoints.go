package main

import (
	"context"
	"fmt"
	"io"
	"sort"

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

func (s *endpointSink) Call(c *pipeline.Call) {
	rc := c.Raw
	if !rc.IfaceKnown || rc.Iface.UUID != dcerpc.EPM || rc.Request == nil || rc.Response == nil || rc.Response.Sealed || rc.Response.Damaged {
		return
	}
	mapper := rc.Conn.Server
	le := rc.Response.LittleEndian
	add := func(iface dcerpc.SyntaxID, status uint32, t *epm.Tower, annotation string) {
		row := report.EndpointRow{
			Mapper:    mapper.String(),
			Interface: dcerpc.InterfaceName(iface.UUID),
			UUID:      iface.UUID.String(),
			Version:   fmt.Sprintf("%d.%d", iface.Major, iface.Minor),
			Status:    "registered",
			FirstTime: report.FormatTime(rc.Request.Pos.Time),
		}
		switch {
		case status == epm.StatusNotRegistered:
			row.Status = "not_registered"
		case status != 0:
			row.Status = fmt.Sprintf("0x%08x", status)
		case t != nil:
			row.Protocol, row.Port, row.Annotation = t.Protocol, t.Port, annotation
			if t.Addr.IsValid() && !t.Addr.IsUnspecified() {
				row.Host = t.Addr.String()
			} else {
				row.Host = mapper.Addr().String() // 0.0.0.0: the mapper's own host
			}
			if t.Pipe != "" {
				row.Host = t.Pipe
			}
		}
		key := c.Row.File + "|" + row.Mapper + "|" + row.UUID + "|" + row.Version + "|" + row.Status + "|" + row.Protocol + "|" + row.Host + "|" + fmt.Sprint(row.Port)
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
	switch rc.Opnum {
	case epm.OpMap:
		q, _ := epm.DecodeMapRequest(rc.Request.Stub, rc.Request.LittleEndian)
		m, err := epm.DecodeMapResponse(rc.Response.Stub, le)
		if err != nil {
			return
		}
		if len(m.Towers) == 0 {
			add(q.Tower.Interface, m.Status, nil, "")
		}
		for i := range m.Towers {
			add(m.Towers[i].Interface, m.Status, &m.Towers[i], "")
		}
	case epm.OpLookup:
		l, err := epm.DecodeLookupResponse(rc.Response.Stub, le)
		if err != nil {
			return
		}
		for i := range l.Entries {
			if l.Entries[i].HasTower {
				add(l.Entries[i].Tower.Interface, l.Status, &l.Entries[i].Tower, l.Entries[i].Annotation)
			}
		}
	}
}

func runEndpoints(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("endpoints", "List what the endpoint mapper (TCP 135) answered: which host and port serve NSPI, EMSMDB\nand the other interfaces, or that an interface is not registered.",
		"nspicap endpoints trace.pcapng", stderr)
	in := addInputFlags(fs, false, "output format: table, csv or jsonl", "table", "csv", "jsonl")
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
		return a.Frames[0] < b.Frames[0]
	})
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
