package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nspicap/nspicap/internal/safetext"
)

// EndpointRow is one line of `nspicap endpoints`: what an endpoint mapper
// answered for one interface, as rpcdump would list it.
type EndpointRow struct {
	// Mapper is the endpoint mapper that answered (ip:port).
	Mapper string `json:"mapper"`
	// Interface is the short name (nspi, emsmdb, ...) or the UUID.
	Interface string `json:"interface"`
	UUID      string `json:"uuid"`
	Version   string `json:"version"`
	// Status is "registered", or the name package epm gives the status
	// without its "ept_s_" prefix ("not_registered" for
	// ept_s_not_registered), or the status in hex when epm does not name it.
	Status   string `json:"status"`
	Protocol string `json:"protocol,omitempty"`
	// Host is the IP address, or for a named-pipe tower the NetBIOS name
	// its host floor carries (\\HOST); empty for an LRPC tower.
	Host string `json:"host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// Pipe is the named pipe of an ncacn_np tower (\PIPE\atsvc), LRPC the
	// endpoint name of an ncalrpc tower (umpo).
	Pipe string `json:"pipe,omitempty"`
	LRPC string `json:"lrpc,omitempty"`
	// Annotation is what ept_lookup returned with the entry.
	Annotation string `json:"annotation,omitempty"`
	// Frames are the requests (and, in Replies, the answers) that show it.
	Frames  []int64 `json:"frames"`
	Replies []int64 `json:"reply_frames"`
	File    string  `json:"file"`
	// FirstTime is when it was first asked.
	FirstTime string `json:"first_time"`
}

// WriteEndpoints writes the endpoint map as a table, csv or jsonl.
// multi says that several files were read: frames then print with their file.
func WriteEndpoints(w io.Writer, format string, rows []EndpointRow, multi bool) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range rows {
			if err := enc.Encode(&rows[i]); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		c := csv.NewWriter(w)
		c.Write([]string{"mapper", "interface", "uuid", "version", "status", "protocol", "host", "port", "annotation", "file", "frames", "reply_frames", "first_time", "pipe", "lrpc"})
		for _, r := range rows {
			c.Write([]string{csvText(r.Mapper), csvText(r.Interface), csvText(r.UUID), csvText(r.Version), csvText(r.Status),
				csvText(r.Protocol), csvText(r.Host), portStr(r.Port), csvText(r.Annotation), csvText(r.File),
				joinFrames(r.Frames), joinFrames(r.Replies), csvText(r.FirstTime), csvText(r.Pipe), csvText(r.LRPC)})
		}
		c.Flush()
		return c.Error()
	case "table":
		t := NewTable(w, []string{"MAPPER", "INTERFACE", "VERSION", "ENDPOINT", "FRAMES"})
		for _, r := range rows {
			ep := r.Status
			if r.Status == "registered" {
				ep = r.Protocol + " " + r.Host + "[" + r.Endpoint() + "]"
			}
			name := r.Interface
			if name != r.UUID {
				name += " " + r.UUID
			}
			frames := joinFrames(r.Frames)
			if multi {
				frames = r.File + "#" + frames
			}
			row := []string{r.Mapper, name, r.Version, ep, frames}
			for i, c := range row {
				row[i] = safetext.Escape(c)
			}
			t.Append(row)
		}
		if err := t.Render(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%d endpoint map answers\n", len(rows))
		return err
	}
	return fmt.Errorf("unknown format %q", format)
}

// Endpoint is what the tower names between brackets, as rpcdump prints
// it: the port, the pipe or the LRPC name.
func (r *EndpointRow) Endpoint() string {
	switch {
	case r.Pipe != "":
		return r.Pipe
	case r.LRPC != "":
		return r.LRPC
	}
	return portStr(r.Port)
}

func portStr(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

func joinFrames(f []int64) string {
	var s []string
	for i, x := range f {
		if i == 10 && len(f) > 11 {
			s = append(s, "...", strconv.FormatInt(f[len(f)-1], 10))
			break
		}
		s = append(s, strconv.FormatInt(x, 10))
	}
	return strings.Join(s, ",")
}
