package report

import (
	"bufio"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
)

// plainRowsMin is the number of rows from which renderPlain's tables are
// written by writePlain: tablewriter takes about 30 µs a row (0.65 s for the
// tables of a busy domain controller), writePlain a few hundred
// nanoseconds.
const plainRowsMin = 500

// writePlain writes the same bytes as renderPlain's tablewriter table
// (TestWritePlainIsTablewriter): borderless, a rule of dashes under the
// header, each column as wide as its widest line plus one space, aligned as
// align says (headers too), every line indented by two spaces
// and cut of its trailing blanks. Cells are split into lines as in the
// calls table (cellLines); lines after a row's first that are blank in
// every cell are not written.
func writePlain(w io.Writer, header []string, align tw.Alignment, rows [][]string) error {
	widths := make([]int, len(header))
	measure := func(cells []string) {
		for i, c := range cells {
			if i >= len(widths) {
				break
			}
			for _, l := range cellLines(c) {
				widths[i] = max(widths[i], twwidth.Width(l))
			}
		}
	}
	measure(header)
	for _, r := range rows {
		measure(r)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	write := func(cells []string, skipBlank bool) {
		lines := make([][]string, len(widths))
		n := 0
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			lines[i] = cellLines(c)
			n = max(n, len(lines[i]))
		}
		for j := range n {
			line = line[:0]
			blank := true
			for i, width := range widths {
				s := ""
				if j < len(lines[i]) {
					s = lines[i][j]
				}
				blank = blank && strings.TrimSpace(s) == ""
				pad := max(width-twwidth.Width(s), 0)
				if i >= len(align) || align[i] != tw.AlignRight {
					line = append(line, s...)
					line = appendSpaces(line, pad+1)
				} else {
					line = appendSpaces(line, pad)
					line = append(line, s...)
					line = append(line, ' ')
				}
			}
			if j > 0 && blank && skipBlank {
				continue
			}
			bw.WriteString("  ")
			bw.WriteString(strings.TrimRight(string(line), " "))
			bw.WriteByte('\n')
		}
	}
	write(header, false)
	total := 0
	for _, n := range widths {
		total += n + 1
	}
	bw.WriteString("  " + strings.Repeat("-", total) + "\n")
	for _, r := range rows {
		write(r, true)
	}
	return bw.Flush()
}

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}
