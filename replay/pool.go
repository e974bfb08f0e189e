package replay

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Board is a place notebooks replay on, one at a time.
type Board struct {
	// Label names the board in progress and reports.
	Label string
	// Start starts a fresh kernel on the board for nb; stop ends it (and
	// lets go of the board).
	Start func(ctx context.Context, nb *Notebook) (exec Executor, stop func(), err error)
}

// RunAll replays the notebooks at paths on boards, up to jobs notebooks at
// once, each board running one notebook at a time. Results come in the
// order of paths. A notebook that cannot be read gets a Result with Err.
func RunAll(ctx context.Context, paths []string, boards []Board, jobs int, opt Options, prog Progress) []*Result {
	if jobs < 1 {
		jobs = 1
	}
	jobs = min(jobs, len(boards))
	if prog == nil {
		prog = nopProgress{}
	}
	opt.serveLocks = &portLocks{}
	results := make([]*Result, len(paths))
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range paths {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		b := boards[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opt
			o.Progress = func(board, path string, cell, cells int, first string) {
				prog.Cell(board, path, cell, cells, first)
			}
			for i := range next {
				if ctx.Err() != nil {
					// select may hand out a notebook after a stop; it
					// is not started (a kernel, a board connected).
					continue
				}
				prog.Start(b.Label, paths[i])
				r := runOne(ctx, paths[i], b, o)
				results[i] = r
				prog.Done(r)
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r == nil {
			results[i] = &Result{Path: paths[i], Err: fmt.Errorf("not replayed: %s", stopWords(ctx))}
		}
	}
	prog.Finish()
	return results
}

func runOne(ctx context.Context, path string, b Board, opt Options) *Result {
	start := time.Now()
	nb, err := Load(path)
	if err != nil {
		return &Result{Path: path, Board: b.Label, Err: err}
	}
	exec, stop, err := b.Start(ctx, nb)
	if err != nil {
		return &Result{Path: path, Board: b.Label, Err: fmt.Errorf("start a kernel on %s: %w", b.Label, err), Duration: time.Since(start)}
	}
	defer stop()
	r := Run(ctx, nb, exec, b.Label, opt)
	r.Duration = time.Since(start)
	return r
}

// Progress is told how a replay goes.
type Progress interface {
	Start(board, path string)
	Cell(board, path string, cell, cells int, first string)
	Done(r *Result)
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(string, string)                       {}
func (nopProgress) Cell(string, string, int, int, string)      {}
func (nopProgress) Done(*Result)                               {}
func (nopProgress) Finish()                                    {}
func (p *PlainProgress) Cell(string, string, int, int, string) {}

// PlainProgress writes a line as each notebook starts and ends, for logs
// (CI).
type PlainProgress struct {
	mu sync.Mutex
	W  io.Writer
}

// Start implements Progress.
func (p *PlainProgress) Start(board, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, "%s: %s ...\n", board, path)
}

// Done implements Progress.
func (p *PlainProgress) Done(r *Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pass, fail, skip := r.Counts()
	verdict := "ok"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(p.W, "%s: %s %s: %d passed, %d failed, %d skipped (%.1fs)\n", r.Board, r.Path, verdict, pass, fail, skip, r.Duration.Seconds())
}

// Finish implements Progress.
func (p *PlainProgress) Finish() {}

// TermProgress keeps a line per board on a terminal, rewritten in place as
// the board's notebook moves from cell to cell.
type TermProgress struct {
	W     io.Writer
	Width int // the terminal's columns; 0 means 80

	mu     sync.Mutex
	boards []string
	lines  map[string]string
	drawn  int
	done   int
	total  int
}

// NewTermProgress returns a TermProgress for these boards and a total of
// notebooks.
func NewTermProgress(w io.Writer, boards []string, notebooks int) *TermProgress {
	p := &TermProgress{W: w, boards: boards, lines: map[string]string{}, total: notebooks}
	for _, b := range boards {
		p.lines[b] = "idle"
	}
	return p
}

func (p *TermProgress) redrawLocked() {
	width := p.Width
	if width <= 0 {
		width = 80
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, name := range p.boards {
		l := fmt.Sprintf("%s: %s", name, p.lines[name])
		// By runes, not bytes: a character cut in two shows as garbage.
		l = truncateRunes(l, width-1)
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	fmt.Fprintf(&b, "\r\x1b[2K%d of %d notebooks done\n", p.done, p.total)
	p.drawn = len(p.boards) + 1
	io.WriteString(p.W, b.String())
}

// Start implements Progress.
func (p *TermProgress) Start(board, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines[board] = path + ": starting"
	p.redrawLocked()
}

// Cell implements Progress.
func (p *TermProgress) Cell(board, path string, cell, cells int, first string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines[board] = fmt.Sprintf("%s: cell %d/%d %s", path, cell, cells, first)
	p.redrawLocked()
}

// Done implements Progress.
func (p *TermProgress) Done(r *Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	verdict := "ok"
	if !r.OK() {
		verdict = "FAIL"
	}
	p.lines[r.Board] = fmt.Sprintf("%s: %s (%.1fs)", r.Path, verdict, r.Duration.Seconds())
	p.redrawLocked()
}

// Finish implements Progress: the lines stay, the report follows them.
func (p *TermProgress) Finish() {}
