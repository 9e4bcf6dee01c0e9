package report

import (
	"fmt"
	"io"

	"github.com/nspicap/nspicap/analyze"
)

// writeEvidenceText writes the EVIDENCE section: the pcapng file of the
// frames behind the findings and where its bound cut them.
func writeEvidenceText(w io.Writer, ev *analyze.EvidenceFile) {
	if ev == nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "EVIDENCE")
	s := fmt.Sprintf("%s: %s behind the findings", ev.Path, many(ev.Frames, "frame"))
	if ev.Handshakes > 0 {
		s += fmt.Sprintf(", %s of TCP handshakes among them", many(ev.Handshakes, "frame"))
	}
	writeWrapped(w, s+"; not redacted.", "  ", "    ")
	for _, c := range ev.Cuts {
		who := "without a user"
		if c.User != "" {
			who = "of " + string(c.User)
		}
		writeWrapped(w, fmt.Sprintf("cut: %s %s: the first %d and the last %d of %s", c.Kind, who, c.Written/2, c.Written-c.Written/2, many(c.Frames, "frame")), "  ", "    ")
	}
}
