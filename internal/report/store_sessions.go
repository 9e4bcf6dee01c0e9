package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/safetext"
)

// SessionProtos are the values of `sessions --proto`: NSPI (address book)
// sessions, EMSMDB (Exchange store) sessions, or both.
var SessionProtos = []string{"nspi", "emsmdb", "all"}

// WriteSessionsOf writes the sessions of `nspicap sessions --proto`: for
// "nspi" exactly what WriteSessions writes; for "emsmdb" the store
// sessions; for "all" both, NSPI first. In csv and jsonl, the rows of
// "emsmdb" and "all" carry a proto column ("nspi" or "emsmdb") and share
// one set of columns (sessionRow).
func WriteSessionsOf(w io.Writer, format, proto string, ss []analyze.Session, es []analyze.EMSMDBSession) error {
	switch proto {
	case "nspi":
		return WriteSessions(w, format, ss)
	case "emsmdb":
		ss = nil
	case "all":
	default:
		return fmt.Errorf("unknown protocol %q (want nspi, emsmdb or all)", proto)
	}
	bw := bufio.NewWriter(w)
	var err error
	switch format {
	case "table":
		err = writeProtoSessionTable(bw, proto, ss, es)
	case "csv":
		c := csv.NewWriter(bw)
		c.Write([]string{"proto", "server", "server_port", "client", "user", "auth", "op", "handle", "start_file", "start_frame", "start_time",
			"end", "end_file", "end_frame", "end_time", "unbind_status", "calls"})
		for _, r := range sessionRows(ss, es) {
			var endFile, endFrame string
			if r.EndFrame != nil {
				endFile, endFrame = r.EndFrame.File, strconv.FormatInt(r.EndFrame.Frame, 10)
			}
			c.Write([]string{r.Proto, csvText(r.Server), strconv.Itoa(int(r.ServerPort)), csvText(r.Client), csvText(string(r.User)),
				csvText(r.Auth), csvText(r.Op), csvText(r.Handle), csvText(r.StartFrame.File), strconv.FormatInt(r.StartFrame.Frame, 10),
				sessionTime(&r.StartTime), csvText(r.End), csvText(endFile), endFrame, sessionTime(r.EndTime), csvText(r.UnbindStatus), strconv.Itoa(r.Calls)})
		}
		c.Flush()
		err = c.Error()
	case "jsonl":
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for _, r := range sessionRows(ss, es) {
			if err = enc.Encode(r); err != nil {
				break
			}
		}
	default:
		return fmt.Errorf("unknown format %q (want table, csv or jsonl)", format)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// sessionRow is one session of either protocol in csv and jsonl: an NSPI
// session (op NspiBind, start the bind) or a store session (op
// EcDoConnect or EcDoConnectEx, start the connect; user_dn the mailbox DN).
type sessionRow struct {
	Proto        string             `json:"proto"`
	Server       string             `json:"server"`
	ServerPort   uint16             `json:"server_port"`
	Client       string             `json:"client"`
	User         analyze.NullString `json:"user"`
	UserDN       string             `json:"user_dn,omitempty"`
	Auth         string             `json:"auth"`
	Op           string             `json:"op"`
	Handle       string             `json:"handle"`
	StartFrame   analyze.FrameRef   `json:"start_frame"`
	StartTime    time.Time          `json:"start_time"`
	End          string             `json:"end"`
	EndFrame     *analyze.FrameRef  `json:"end_frame"`
	EndTime      *time.Time         `json:"end_time"`
	UnbindStatus string             `json:"unbind_status,omitempty"`
	Calls        int                `json:"calls"`
}

// sessionRows lists the NSPI sessions, then the store sessions, each in
// the analyzer's order.
func sessionRows(ss []analyze.Session, es []analyze.EMSMDBSession) []sessionRow {
	out := make([]sessionRow, 0, len(ss)+len(es))
	for i := range ss {
		s := &ss[i]
		out = append(out, sessionRow{Proto: "nspi", Server: s.Server, ServerPort: s.ServerPort, Client: s.Client, User: s.User, Auth: s.Auth,
			Op: "NspiBind", Handle: s.Handle, StartFrame: s.BindFrame, StartTime: s.BindTime, End: s.End, EndFrame: s.EndFrame,
			EndTime: s.EndTime, UnbindStatus: s.UnbindStatus, Calls: s.Calls})
	}
	for i := range es {
		s := &es[i]
		out = append(out, sessionRow{Proto: "emsmdb", Server: s.Server, ServerPort: s.ServerPort, Client: s.Client, User: s.User, UserDN: s.UserDN,
			Auth: s.Auth, Op: s.Op, Handle: s.Handle, StartFrame: s.ConnectFrame, StartTime: s.ConnectTime, End: s.End, EndFrame: s.EndFrame,
			EndTime: s.EndTime, Calls: s.Calls})
	}
	return out
}

const storeSessionLegend = "Store sessions: HANDLE: digits 9 to 16 of the session's context handle (all 40 in csv and jsonl). CONNECT: frame of the EcDoConnect(Ex). END: disconnect (EcDoDisconnect); closed (its connections closed without it); open (still open at the end of the capture). AT: frame of the end. CALLS: other EMSMDB calls on the handle."

func writeProtoSessionTable(w io.Writer, proto string, ss []analyze.Session, es []analyze.EMSMDBSession) error {
	files := sessionFiles(ss, es)
	frame := frameFormatter(files)
	// A protocol without sessions is left out when the other has some.
	switch {
	case len(ss) == 0 && len(es) == 0:
		if proto == "all" {
			_, err := fmt.Fprintln(w, "No NSPI or EMSMDB (Exchange store) sessions.")
			return err
		}
		_, err := fmt.Fprintln(w, "No EMSMDB (Exchange store) sessions.")
		return err
	case len(ss) > 0:
		if err := writeNSPISessionTables(w, ss, frame); err != nil {
			return err
		}
		if len(es) > 0 {
			fmt.Fprintln(w)
		}
	}
	if len(es) > 0 {
		if err := writeStoreSessionTables(w, es, frame); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	writeFilesLegend(w, files)
	if len(ss) > 0 {
		writeWrapped(w, nspiSessionLegend, "", "")
	}
	if len(es) > 0 {
		writeWrapped(w, storeSessionLegend, "", "")
	}
	return nil
}

// writeStoreSessionTables writes one table of store sessions per server.
func writeStoreSessionTables(w io.Writer, es []analyze.EMSMDBSession, frame func(analyze.FrameRef) string) error {
	byServer := map[string][]*analyze.EMSMDBSession{}
	var servers []string
	for i := range es {
		s := &es[i]
		if _, ok := byServer[s.Server]; !ok {
			servers = append(servers, s.Server)
		}
		byServer[s.Server] = append(byServer[s.Server], s)
	}
	sort.SliceStable(servers, func(i, j int) bool { return addrBefore(servers[i], servers[j]) })
	header := []string{"CLIENT", "USER", "HANDLE", "CONNECT", "END", "AT", "CALLS"}
	align := tw.Alignment{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight}
	for n, server := range servers {
		if n > 0 {
			fmt.Fprintln(w)
		}
		list := byServer[server]
		fmt.Fprintf(w, "Store sessions on %s (%d)\n", safetext.Escape(server), len(list))
		rows := make([][]string, len(list))
		for i, s := range list {
			user := string(s.User)
			if user == "" {
				user = noIdentity
			}
			end, at := "open", "-"
			switch s.End {
			case analyze.EndDisconnect:
				end = "disconnect"
			case analyze.EndConnectionClosed:
				end = "closed"
			}
			if s.EndFrame != nil {
				at = frame(*s.EndFrame)
			}
			rows[i] = []string{wrapName(safetext.Escape(s.Client), 21), wrapName(safetext.Escape(user), 16), safetext.Escape(shortHandle(s.Handle)), frame(s.ConnectFrame), end, at, strconv.Itoa(s.Calls)}
		}
		if err := renderPlain(w, header, align, rows); err != nil {
			return err
		}
	}
	return nil
}
