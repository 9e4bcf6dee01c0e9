package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/nspicap/nspicap/internal/pipeline"
)

// Progress (--progress): one line on standard error, redrawn while the
// captures are read, with the bytes read of the total, the percent, the rate
// and the time left (bytes and rate only when the size is not known:
// standard input from a pipe). The line is drawn by schollz/progressbar. The
// capture layer counts the bytes read from the files (one atomic add per
// read of 64 KiB or more, compressed bytes for gzip) and a ticker hands the
// count to the bar: nothing is done per packet.
//
// The line is finished before anything else is written to standard error
// or to the report: every warning, note and error of a run is printed after
// the pipeline returns, and those printed before (key files) come before
// the line starts.

const (
	// progressMin: with --progress=auto the line is drawn only for inputs
	// larger than this (and, when the size is unknown, from this many
	// bytes read on).
	progressMin = 50_000_000
	// The line is redrawn at most this often on a terminal, and into a
	// file or pipe (--progress=always).
	progressEvery     = 100 * time.Millisecond
	progressEveryFile = time.Second
)

var progressModes = []string{"auto", "always", "never"}

func checkProgress(mode string) error {
	if !contains(progressModes, mode) {
		return &usageError{fmt.Sprintf("--progress %q: want %s", mode, strings.Join(progressModes, ", "))}
	}
	return nil
}

// showProgress decides whether a run draws the progress line. terminal: the
// line's destination (standard error) is a terminal; total: the size of the
// input in bytes, -1 when unknown. With auto, the line is drawn on a
// terminal for inputs larger than progressMin or of unknown size (from
// progressMin bytes read on). An input of size 0 has nothing to show.
func showProgress(mode string, terminal bool, total int64) bool {
	if total == 0 {
		return false
	}
	switch mode {
	case "always":
		return true
	case "auto":
		return terminal && (total < 0 || total > progressMin)
	}
	return false
}

// inputSize is the sum of the sizes of the input files as stored, or -1
// when the size of one of them is not known in advance (standard input
// from a pipe, a named pipe). Files that cannot be opened count for
// nothing: they are not read.
func inputSize(files []string, stdin io.Reader) int64 {
	var total int64
	for _, f := range files {
		var st os.FileInfo
		var err error
		if f == "-" {
			sf, ok := stdin.(*os.File)
			if !ok {
				return -1
			}
			st, err = sf.Stat()
		} else {
			st, err = os.Stat(f)
		}
		switch {
		case err != nil || st.IsDir():
		case st.Mode().IsRegular():
			total += st.Size()
		default:
			return -1
		}
	}
	return total
}

func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is the progress line of one run.
type progress struct {
	read  atomic.Int64 // bytes read from the inputs (pipeline.Options.Read)
	bar   *progressbar.ProgressBar
	w     io.Writer
	tty   bool
	total int64 // -1: unknown
	after int64 // bytes read before the line first appears
	stop  chan struct{}
	done  chan struct{}
}

// runWithProgress runs the pipeline over files with the progress line that
// mode asks for on stderr, finished when the pipeline returns. streamed is
// where the command writes results while the pipeline runs (nil when it
// writes them at the end): when that is a terminal too, the results show
// progress already, and auto draws no line through them.
func runWithProgress(files []string, opts pipeline.Options, sink pipeline.Sink, mode string, stderr, streamed io.Writer) pipeline.Result {
	tty := isTerminal(stderr)
	total := inputSize(files, opts.Stdin)
	if showProgress(mode, tty && (streamed == nil || !isTerminal(streamed)), total) {
		var after int64
		if mode == "auto" && total < 0 {
			after = progressMin
		}
		p := newProgress(stderr, tty, total, after)
		opts.Read = &p.read
		defer p.finish()
	}
	return pipeline.Run(files, opts, sink)
}

// newProgress starts a progress line on w for total bytes (-1: unknown),
// drawn from the moment after bytes have been read. On a terminal the line is
// redrawn up to 10 times a second and cleared at the end; elsewhere
// (a file, a pipe) it is redrawn with carriage returns once a second and
// its last state is kept, ended by a newline.
func newProgress(w io.Writer, tty bool, total, after int64) *progress {
	p := &progress{w: w, tty: tty, total: total, after: after, stop: make(chan struct{}), done: make(chan struct{})}
	every := progressEvery
	if !tty {
		every = progressEveryFile
	}
	max := total
	if max <= 0 {
		max = -1
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionSetTheme(progressbar.ThemeASCII),
		progressbar.OptionSetWidth(30), // narrower on a narrower terminal
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(max > 0),
		// The ticker below drives every redraw; the throttle, a little
		// shorter than its period, only keeps the bar from drawing twice
		// in one period.
		progressbar.OptionThrottle(every * 9 / 10),
		progressbar.OptionSpinnerType(9),
		progressbar.OptionSetSpinnerChangeInterval(0),
	}
	if tty {
		opts = append(opts, progressbar.OptionClearOnFinish())
	} else {
		opts = append(opts, progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	}
	p.bar = progressbar.NewOptions64(max, opts...)
	p.bar.StartWithoutRender() // the rate counts from now, drawn or not
	if after == 0 {
		p.bar.RenderBlank()
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.update()
			}
		}
	}()
	return p
}

// update hands the count of bytes read to the bar.
func (p *progress) update() {
	n := p.read.Load()
	if n < p.after {
		return
	}
	if p.total > 0 && n > p.total {
		n = p.total // a file that grows while it is read
	}
	p.bar.Set64(n)
}

// finish stops the ticker and ends the line: cleared on a terminal, its
// final state on a line of its own elsewhere.
func (p *progress) finish() {
	close(p.stop)
	<-p.done
	started := p.after == 0 || p.read.Load() >= p.after
	if started {
		p.update()
	}
	p.bar.Finish()
	if f, ok := p.w.(interface{ Fd() uintptr }); ok && p.tty && started && runtime.GOOS == "windows" {
		// The bar clears a line on Windows with a carriage return alone,
		// which leaves its text for the next line to overwrite.
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 1 {
			fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", width-1))
		}
	}
}
