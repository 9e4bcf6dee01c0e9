package report

import (
	"bytes"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter/tw"
)

// TestWritePlainIsTablewriter: writePlain writes what tablewriter writes for
// renderPlain, on random tables with multi-line, blank, padded, wide
// (East Asian), tabbed and escaped cells, left and right aligned columns.
func TestWritePlainIsTablewriter(t *testing.T) {
	pieces := []string{"", " ", "a", "CONTOSO\\alice", "10.0.0.1", "é", "日本", "x\ny", "\n", "  pad  ", "\t", "1234567", "\x1b[31mred\x1b[0m", "a\n\nb", "-", "\\"}
	for seed := int64(0); seed < 400; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cols := 1 + rng.Intn(6)
		cell := func() string {
			var b strings.Builder
			for range rng.Intn(3) {
				b.WriteString(pieces[rng.Intn(len(pieces))])
			}
			return b.String()
		}
		header := make([]string, cols)
		for i := range header {
			header[i] = strings.ToUpper(pieces[2+rng.Intn(3)]) + string(rune('A'+i))
		}
		align := make(tw.Alignment, cols)
		for i := range align {
			align[i] = []tw.Align{tw.AlignLeft, tw.AlignRight}[rng.Intn(2)]
		}
		rows := make([][]string, 1+rng.Intn(12))
		for i := range rows {
			rows[i] = make([]string, cols)
			for j := range rows[i] {
				rows[i][j] = cell()
			}
		}
		if want, got := renderBoth(t, writePlain, header, align, rows); want != got {
			t.Fatalf("seed %d: header %q align %v rows %q\ntablewriter:\n%q\nwritePlain:\n%q", seed, header, align, rows, want, got)
		}
	}
}

// TestRenderPlainLargeTable: from plainRowsMin rows renderPlain takes the
// fast path, and its output is still tablewriter's.
func TestRenderPlainLargeTable(t *testing.T) {
	header := []string{"USER", "BINDS", "OK"}
	align := tw.Alignment{tw.AlignLeft, tw.AlignRight, tw.AlignRight}
	var rows [][]string
	for i := range plainRowsMin + 100 {
		rows = append(rows, []string{strings.Repeat("u", i%37) + "\nCONTOSO", strings.Repeat("9", i%7), ""})
	}
	if want, got := renderBoth(t, renderPlain, header, align, rows); want != got {
		t.Fatalf("a table of %d rows differs from tablewriter's", len(rows))
	}
}

// renderBoth renders a table with tablewriter (renderPlainTW) and with
// render.
func renderBoth(t *testing.T, render func(io.Writer, []string, tw.Alignment, [][]string) error, header []string, align tw.Alignment, rows [][]string) (want, got string) {
	t.Helper()
	var w, g bytes.Buffer
	if err := renderPlainTW(&w, header, align, rows); err != nil {
		t.Fatal(err)
	}
	if err := render(&g, header, align, rows); err != nil {
		t.Fatal(err)
	}
	return w.String(), g.String()
}
