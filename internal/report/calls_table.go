package report

import (
	"bufio"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

// asciiTable writes the same bytes as a NewTable table with the same header
// and rows (TestASCIITableIsTablewriter), without holding the rows:
// tablewriter keeps the whole table to size its columns, which for millions
// of calls is more memory than nspicap may use. The caller passes every row
// to measure, then calls writeHeader, passes every row again in the same
// order to writeRow, and calls writeBorder.
//
// What it reproduces of tablewriter (v1.1.5, Blueprint renderer): each cell
// is trimmed of surrounding white space, its tabs expanded, and split at
// newlines into lines; a row is as many lines as its tallest cell, and its
// lines after the first that are blank in every cell are not printed. A
// column is as wide as its widest line, measured with tablewriter's own
// twwidth.Width (display width, ANSI escapes not counted), plus one space of
// padding each side; cells are aligned left. Borders are ASCII: +, - and |.
type asciiTable struct {
	header []string
	widths []int // of each column, padding included
}

func newASCIITable(header []string) *asciiTable {
	t := &asciiTable{header: header, widths: make([]int, len(header))}
	t.measure(header)
	return t
}

// cellLines is a cell as tablewriter prints it: trimmed, tabs expanded,
// one string per line.
func cellLines(s string) []string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "\t") {
		s = strings.ReplaceAll(s, "\t", strings.Repeat(" ", twwidth.TabWidth()))
	}
	return strings.Split(s, "\n")
}

func (t *asciiTable) measure(cells []string) {
	for i, c := range cells {
		for _, l := range cellLines(c) {
			t.widths[i] = max(t.widths[i], twwidth.Width(l)+2)
		}
	}
}

func (t *asciiTable) writeBorder(w *bufio.Writer) {
	for _, n := range t.widths {
		w.WriteByte('+')
		for range n {
			w.WriteByte('-')
		}
	}
	w.WriteString("+\n")
}

// writeHeader writes the top border and the header, and the line under the
// header when rows follow (tablewriter leaves it out of an empty table).
func (t *asciiTable) writeHeader(w *bufio.Writer, rows bool) {
	t.writeBorder(w)
	t.writeLines(w, t.header, false)
	if rows {
		t.writeBorder(w)
	}
}

func (t *asciiTable) writeRow(w *bufio.Writer, cells []string) {
	t.writeLines(w, cells, true)
}

func (t *asciiTable) writeLines(w *bufio.Writer, cells []string, skipBlank bool) {
	lines := make([][]string, len(cells))
	n := 0
	for i, c := range cells {
		lines[i] = cellLines(c)
		n = max(n, len(lines[i]))
	}
	for j := range n {
		line := make([]string, len(cells))
		blank := true
		for i := range cells {
			if j < len(lines[i]) {
				line[i] = lines[i][j]
			}
			blank = blank && strings.TrimSpace(line[i]) == ""
		}
		if j > 0 && blank && skipBlank {
			continue
		}
		for i, c := range line {
			w.WriteByte('|')
			w.WriteString(formatCell(c, t.widths[i]))
		}
		w.WriteString("|\n")
	}
}

// formatCell is a cell of tablewriter's Blueprint renderer, aligned left: a
// space, the text, and spaces to the width of the column. Blueprint also
// cuts text too wide and corrects the width of the result; neither happens
// here: the widths come from measure, and twwidth.Width is a sum over runes
// once whole escape sequences are removed, which spaces around the text can
// neither make nor break.
func formatCell(s string, width int) string {
	return " " + s + strings.Repeat(" ", max(width-twwidth.Width(s)-1, 0))
}
