// Package replay runs a notebook's code cells in order through a kernel's
// interpreter, with no Jupyter server, and compares what each cell shows
// with the outputs stored in the notebook: notebooks as tests.
//
// It knows notebooks (nbformat 4) and the kernel's Interpreter and Output
// interfaces, nothing of boards: a Board says how to start a fresh kernel
// for a notebook.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/kernel"
)

// Executor runs one cell, as kernel.Interpreter's Execute does: output
// streams through out, and ctx is cancelled with cause
// kernel.ErrInterrupted to press stop.
type Executor interface {
	Execute(ctx context.Context, req kernel.ExecuteRequest, out kernel.Output) (kernel.Result, error)
}

// Status is a cell's verdict.
type Status int

// The verdicts.
const (
	Passed     Status = iota // ran and showed what is stored
	Failed                   // showed something else, raised unexpectedly, or timed out
	Skipped                  // not run (a tag), or it needs what is not installed
	NotCompare               // ran; its outputs are not compared (a tag)
)

func (s Status) String() string {
	return [...]string{"passed", "failed", "skipped", "not compared"}[s]
}

// Tags that change how a cell is replayed: this project's, and nbval's,
// so that notebooks written for nbval replay as they test there.
var (
	skipTags      = []string{"replay-skip", "nbval-skip"}
	noCompareTags = []string{"replay-nocompare", "nbval-ignore-output"}
	raisesTags    = []string{"raises-exception", "nbval-raises-exception"}
)

// nbval's markers on a cell's first line do what its tags do.
var (
	skipMarker      = "# NBVAL_SKIP"
	noCompareMarker = "# NBVAL_IGNORE_OUTPUT"
	raisesMarker    = "# NBVAL_RAISES_EXCEPTION"
)

func hasAny(c *Cell, tags []string, marker string) bool {
	for _, t := range tags {
		if c.HasTag(t) {
			return true
		}
	}
	first := strings.TrimSpace(c.FirstLine())
	return strings.EqualFold(first, marker)
}

// CellResult is how one code cell went.
type CellResult struct {
	Cell   *Cell
	Status Status
	// Reason says why a cell failed or was skipped, in a line.
	Reason string
	// Diff is the unified diff of stored against new outputs, when they
	// differ.
	Diff string
	// Outputs are the new outputs.
	Outputs  []Output
	Duration time.Duration

	dropped int // bytes of the cell's output not kept in Outputs
}

// Result is how one notebook went.
type Result struct {
	Path  string
	Board string
	Cells []CellResult
	// Err is why the notebook could not be replayed at all (it could not
	// be read, the kernel did not start, a cell never stopped).
	Err      error
	Duration time.Duration
	// Updated is how many cells --update rewrote.
	Updated int
}

// OK reports whether every compared cell matched and nothing failed.
func (r *Result) OK() bool {
	if r.Err != nil {
		return false
	}
	for _, c := range r.Cells {
		if c.Status == Failed {
			return false
		}
	}
	return true
}

// Counts returns how many cells passed, failed and were skipped (cells
// not compared count as passed).
func (r *Result) Counts() (passed, failed, skipped int) {
	for _, c := range r.Cells {
		switch c.Status {
		case Passed, NotCompare:
			passed++
		case Failed:
			failed++
		case Skipped:
			skipped++
		}
	}
	return
}

// Options says how notebooks are replayed.
type Options struct {
	Normalizer Normalizer
	// Timeout bounds each cell unless its metadata.iot.timeout says
	// otherwise; 0 means DefaultTimeout.
	Timeout time.Duration
	// StopGrace bounds how long a cell may take to stop once interrupted
	// before the notebook is given up; 0 means 30 s.
	StopGrace time.Duration
	// Update rewrites the stored outputs of cells that differ.
	Update bool
	// WriteFile writes a notebook for Update (atomically).
	WriteFile func(path string, data []byte) error
	// ServeHost is where a serving cell's server is reached when its
	// iot.serve names no host; "" means 127.0.0.1 (a virtual board's
	// servers listen there). A board on WiFi needs its address.
	ServeHost string
	// Unreachable, when set, says whether a cell's error means that its
	// board cannot be reached (none connected, the link lost): the
	// notebook ends there with that error, said once, and the cells after
	// it are not run (each would fail with the same long error).
	Unreachable func(err error) bool
	// Progress, when set, is told as each cell starts.
	Progress func(board, path string, cell, cells int, first string)
	// serveLock serialises serving cells by port across boards.
	serveLocks *portLocks
}

// reasonDiffers is the reason of a cell whose outputs differ.
const reasonDiffers = "outputs differ from the stored ones"

// reasonNotRun is the reason of the cells after one that could not reach
// its board; the notebook's error says why, once.
const reasonNotRun = "not run: the board could not be reached"

// errUnreachable is wrapped by the notebook's error when a cell could not
// reach its board.
var errUnreachable = errors.New("the board could not be reached")

// DefaultTimeout bounds a cell when neither --timeout nor its metadata do.
const DefaultTimeout = 2 * time.Minute

// Run replays the notebook at path on exec, a fresh kernel, and returns how
// each code cell went. board names the board in the result.
func Run(ctx context.Context, nb *Notebook, exec Executor, board string, opt Options) *Result {
	start := time.Now()
	res := &Result{Path: nb.Path, Board: board}
	count := 0
	for i := range nb.Cells {
		c := &nb.Cells[i]
		if c.Type != "code" {
			continue
		}
		if ctx.Err() != nil {
			res.Err = fmt.Errorf("%s before cell %d; the rest of the notebook is not run", stopWords(ctx), c.Index+1)
			break
		}
		if hasAny(c, skipTags, skipMarker) {
			res.Cells = append(res.Cells, CellResult{Cell: c, Status: Skipped, Reason: "skipped by its tag"})
			continue
		}
		if strings.TrimSpace(c.Source) == "" {
			res.Cells = append(res.Cells, CellResult{Cell: c, Status: Passed})
			continue
		}
		if opt.Progress != nil {
			opt.Progress(board, nb.Path, c.Index+1, len(nb.Cells), c.FirstLine())
		}
		count++
		cr, err := runCell(ctx, c, exec, count, opt)
		res.Cells = append(res.Cells, cr)
		if errors.Is(err, errUnreachable) {
			res.Err = err
			for _, rest := range nb.Cells[i+1:] {
				if rest.Type == "code" {
					res.Cells = append(res.Cells, CellResult{Cell: &nb.Cells[rest.Index], Status: Skipped, Reason: reasonNotRun})
				}
			}
			break
		}
		if err != nil {
			res.Err = err
			break
		}
		// Checked here too, not only before the next cell: a stop during
		// the last cell must end the notebook unfinished as well.
		if ctx.Err() != nil {
			res.Err = fmt.Errorf("%s during cell %d; the rest of the notebook is not run", stopWords(ctx), c.Index+1)
			break
		}
	}
	if res.Err != nil && opt.Update {
		res.Err = fmt.Errorf("%w (--update wrote nothing)", res.Err)
	}
	// A run that was stopped or given up never updates: its outputs are
	// not the notebook's.
	if opt.Update && res.Err == nil && ctx.Err() == nil {
		res.Updated, res.Err = update(nb, res, opt)
	}
	res.Duration = time.Since(start)
	return res
}

// update writes the new outputs of the cells whose outputs differ.
func update(nb *Notebook, res *Result, opt Options) (int, error) {
	outs := map[int][]Output{}
	for _, cr := range res.Cells {
		if updatable(cr) {
			outs[cr.Cell.Index] = cr.Outputs
		}
	}
	if len(outs) == 0 {
		return 0, nil
	}
	b, err := nb.Update(outs)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", nb.Path, err)
	}
	// Saved meanwhile (from JupyterLab, an editor): writing what was read
	// at the start over it would lose that without a word. A save between
	// this check and the write can still be lost; the window is small.
	now, err := os.ReadFile(nb.Path)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", nb.Path, err)
	}
	if !bytes.Equal(now, nb.raw) {
		return 0, fmt.Errorf("%s changed during the replay; not updated (run it again)", nb.Path)
	}
	if err := opt.WriteFile(nb.Path, b); err != nil {
		return 0, fmt.Errorf("update %s: %w", nb.Path, err)
	}
	// The new outputs are the stored ones now: a cell whose only fault was
	// to differ has been accepted.
	for i := range res.Cells {
		cr := &res.Cells[i]
		if cr.Diff != "" && cr.Reason == reasonDiffers {
			cr.Status, cr.Reason = Passed, "updated"
		}
	}
	return len(outs), nil
}

// updatable reports whether --update may store a cell's new outputs: only
// when they differ and that is all that is wrong with them. What a cell
// showed when it timed out, raised unexpectedly or lost its board is not
// written over good stored outputs, nor output cut short. A cell whose
// outputs are not compared has its new ones stored, as they are fine.
func updatable(cr CellResult) bool {
	if cr.Diff == "" || cr.dropped > 0 {
		return false
	}
	return cr.Status == Failed && cr.Reason == reasonDiffers || cr.Status == NotCompare
}

// runCell runs one cell and judges it. An error means the kernel is stuck
// and the notebook cannot go on.
func runCell(ctx context.Context, c *Cell, exec Executor, count int, opt Options) (CellResult, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if c.Meta.Timeout > 0 {
		timeout = seconds(c.Meta.Timeout)
	}
	grace := opt.StopGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Who pressed stop: the cell's own interrupt (iot.interrupt_after, a
	// served cell's end) is expected; the timeout is a failure.
	var mu sync.Mutex
	why := ""
	stop := func(reason string) {
		mu.Lock()
		if why == "" {
			why = reason
		}
		mu.Unlock()
		cancel(kernel.ErrInterrupted)
	}
	timer := time.AfterFunc(timeout, func() { stop("timeout") })
	defer timer.Stop()
	if d := c.Meta.InterruptAfter; d > 0 {
		t := time.AfterFunc(seconds(d), func() { stop("interrupt_after") })
		defer t.Stop()
	}
	var served chan serveResult
	// ended is closed when Execute returns: a server that never came up
	// will not now, so the probe stops trying.
	ended := make(chan struct{})
	if s := c.Meta.Serve; s != nil {
		served = make(chan serveResult, 1)
		unlock := opt.serveLocks.lock(s.Port)
		defer unlock()
		pctx, pcancel := context.WithTimeout(cctx, timeout)
		defer pcancel()
		target := *s
		if target.Host == "" {
			target.Host = opt.ServeHost
		}
		go func() {
			answers, err := poke(pctx, target, ended)
			served <- serveResult{answers, err}
			stop("served")
		}()
	}

	col := &collector{}
	started := time.Now()
	type done struct {
		res kernel.Result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		r, err := exec.Execute(cctx, kernel.ExecuteRequest{Code: c.Source, StoreHistory: true, ExecutionCount: count}, col)
		ch <- done{r, err}
	}()
	var d done
	select {
	case d = <-ch:
	case <-cctx.Done():
		select {
		case d = <-ch:
		case <-time.After(grace):
			return CellResult{Cell: c, Status: Failed, Reason: fmt.Sprintf("did not stop within %v of being interrupted", grace), Outputs: col.outputs(), Duration: time.Since(started)},
				fmt.Errorf("cell %d did not stop within %v of being interrupted; the rest of the notebook is not run", c.Index+1, grace)
		}
	}
	// Who stopped the cell is known now: a probe that gives up once the
	// cell has ended presses stop too late to count.
	mu.Lock()
	stopped := why
	mu.Unlock()
	close(ended)
	timer.Stop()
	col.close()
	if d.err != nil {
		col.add(errorOutput(d.err))
	} else if d.res.Data != nil {
		n := count
		col.add(Output{OutputType: "execute_result", Data: d.res.Data, Metadata: d.res.Metadata, ExecutionCount: &n})
	}
	cr := CellResult{Cell: c, Outputs: col.outputs(), Duration: time.Since(started), dropped: col.droppedBytes()}
	if ctx.Err() != nil && stopped != "timeout" {
		// Stopped from outside (Ctrl-C), not by the cell's own metadata;
		// a serving cell's probe, stopped with it, says "served".
		stopped = stopWords(ctx)
	}
	judge(&cr, d.err, stopped, timeout, opt)
	if d.err != nil && stopped == "" && cr.Status == Failed && opt.Unreachable != nil && opt.Unreachable(d.err) {
		// The error is said once, by the notebook; the diff would only
		// repeat it.
		cr.Reason, cr.Diff = errUnreachable.Error()+" (the notebook's error says why)", ""
		return cr, fmt.Errorf("cell %d: %w, so the rest of the notebook is not run: %v", c.Index+1, errUnreachable, toExecError(d.err))
	}
	if served != nil && cr.Status != Skipped {
		var sr serveResult
		select {
		case sr = <-served:
		case <-time.After(grace):
			sr.err = errors.New("the requests did not finish")
		}
		if msg := sr.check(*c.Meta.Serve); msg != "" && cr.Status != Failed {
			cr.Status, cr.Reason = Failed, msg
		}
	}
	return cr, nil
}

// judge gives a cell that ran its verdict.
func judge(cr *CellResult, err error, stopped string, timeout time.Duration, opt Options) {
	c := cr.Cell
	if errors.Is(err, hostkernel.ErrNoKernel) {
		cr.Status, cr.Reason = Skipped, "no python3 kernel is installed for %%host (pip install ipykernel)"
		return
	}
	if strings.HasPrefix(stopped, "stopped") {
		// What a stopped cell showed is no verdict on it.
		cr.Status, cr.Reason = Skipped, stopped+" before it ended"
		return
	}
	raises := hasAny(c, raisesTags, raisesMarker)
	cmp := Compare(c, cr.Outputs, opt.Normalizer, fmt.Sprintf("cell %d", c.Index+1))
	if !cmp.Match {
		cr.Diff = cmp.Diff
	}
	switch {
	case stopped == "timeout" && err != nil:
		cr.Status, cr.Reason = Failed, fmt.Sprintf("timed out after %v and was interrupted", timeout)
	case err != nil && !raises && stopped == "":
		cr.Status, cr.Reason = Failed, "raised "+toExecError(err).Error()+" (tag the cell raises-exception if that is expected)"
	case raises && err == nil && stopped == "":
		cr.Status, cr.Reason = Failed, "raised no error, but is tagged raises-exception"
	case raises && err != nil && storedEname(c) != "" && storedEname(c) != toExecError(err).Name:
		cr.Status, cr.Reason = Failed, fmt.Sprintf("raised %s, the stored outputs %s", toExecError(err).Name, storedEname(c))
	case hasAny(c, noCompareTags, noCompareMarker):
		cr.Status = NotCompare
	case cmp.Problem != "" && !(opt.Update && cmp.Diff != "" && cmp.VariesFitNew):
		cr.Status, cr.Reason = Failed, cmp.Problem
	case !cmp.Match:
		cr.Status, cr.Reason = Failed, reasonDiffers
	default:
		cr.Status = Passed
	}
	if cr.dropped > 0 && cr.Status != NotCompare && cr.Status != Skipped {
		// A diff of megabytes helps no one, and part of the output is
		// missing from it.
		cr.Status, cr.Diff = Failed, ""
		cr.Reason = fmt.Sprintf("printed more than %d MiB; the last %d bytes were not kept, so its outputs are not compared (print less, or tag the cell replay-nocompare)", maxCellOutput>>20, cr.dropped)
	}
}

// stopWords says why ctx, the replay's, was cancelled, as a person reads
// it: Ctrl-C is kernel.ErrInterrupted ("interrupted by client").
func stopWords(ctx context.Context) string {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return "stopped"
	case errors.Is(cause, kernel.ErrInterrupted):
		return "stopped (Ctrl-C)"
	}
	return "stopped (" + cause.Error() + ")"
}

// storedEname is the name of the error the cell's stored outputs show.
func storedEname(c *Cell) string {
	for _, o := range c.Outputs {
		if o.OutputType == "error" {
			return o.Ename
		}
	}
	return ""
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// toExecError turns an Execute error into what a notebook shows, as the
// kernel does.
func toExecError(err error) *kernel.ExecError {
	var ee *kernel.ExecError
	switch {
	case errors.As(err, &ee):
	case errors.Is(err, kernel.ErrInterrupted):
		ee = &kernel.ExecError{Name: "KeyboardInterrupt", Value: err.Error()}
	default:
		ee = &kernel.ExecError{Name: "KernelError", Value: err.Error()}
	}
	return ee
}

func errorOutput(err error) Output {
	ee := toExecError(err)
	tb := ee.Traceback
	if len(tb) == 0 {
		tb = []string{ee.Error()}
	}
	return Output{OutputType: "error", Ename: ee.Name, Evalue: ee.Value, Traceback: tb}
}

// maxCellOutput bounds the output text a cell's outputs keep, so that a
// cell printing in a loop cannot use up the memory; the rest is counted.
const maxCellOutput = 4 << 20

// collector is the kernel.Output a cell runs with: it builds the cell's
// outputs as a notebook client would.
type collector struct {
	mu   sync.Mutex
	outs []Output
	// tail holds the text of outs' last output while that is a stream:
	// appending to its Text would copy it all for each write.
	tail    *strings.Builder
	pending bool // clear_output(wait=True): clear at the next output
	closed  bool
	kept    int // bytes of output text kept
	dropped int // bytes of output text not kept, past maxCellOutput
}

var _ kernel.Output = (*collector)(nil)

func (c *collector) flushLocked() {
	if c.tail != nil {
		c.outs[len(c.outs)-1].Text = c.tail.String()
		c.tail = nil
	}
}

func (c *collector) addLocked(o Output) {
	if c.pending {
		c.clearLocked()
		c.pending = false
	}
	if o.OutputType == "stream" && c.tail != nil && c.outs[len(c.outs)-1].Name == o.Name {
		c.tail.WriteString(o.Text)
		return
	}
	c.flushLocked()
	c.outs = append(c.outs, o)
	if o.OutputType == "stream" {
		c.tail = &strings.Builder{}
		c.tail.WriteString(o.Text)
	}
}

func (c *collector) add(o Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(o)
}

// keepLocked reports whether there is room for n more bytes of the cell's
// output, and counts them as kept or dropped.
func (c *collector) keepLocked(n int) bool {
	// Once output is dropped, all that follows is, so that what is kept
	// has no holes.
	if c.dropped > 0 || c.kept+n > maxCellOutput {
		c.dropped += n
		return false
	}
	c.kept += n
	return true
}

// Stream implements kernel.Output.
func (c *collector) Stream(name, text string) {
	if text == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.keepLocked(len(text)) {
		c.addLocked(Output{OutputType: "stream", Name: name, Text: text})
	}
}

// bundleSize is about how much memory a MIME bundle's text holds.
func bundleSize(data kernel.MIMEBundle) int {
	n := 0
	for k, v := range data {
		n += len(k)
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// Display implements kernel.Output: an update replaces the displays with
// its id in place.
func (c *collector) Display(data kernel.MIMEBundle, metadata map[string]any, displayID string, update bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	o := Output{OutputType: "display_data", Data: data, Metadata: metadata, displayID: displayID}
	if update {
		for i := range c.outs {
			if displayID != "" && c.outs[i].displayID == displayID {
				c.outs[i].Data, c.outs[i].Metadata = data, metadata
			}
		}
		return
	}
	if c.keepLocked(bundleSize(data)) {
		c.addLocked(o)
	}
}

// ClearOutput implements kernel.Output.
func (c *collector) ClearOutput(wait bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if wait {
		c.pending = true
		return
	}
	c.clearLocked()
}

// clearLocked clears the outputs; what was dropped goes with them.
func (c *collector) clearLocked() {
	c.outs, c.tail = nil, nil
	c.kept, c.dropped = 0, 0
}

// Input implements kernel.Output: a replay has no one to type.
func (c *collector) Input(ctx context.Context, prompt string, password bool) (string, error) {
	return "", kernel.ErrNoStdin
}

// close drops output that arrives after the cell ended, as the kernel
// does, except what replay itself adds.
func (c *collector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

func (c *collector) outputs() []Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	outs := append([]Output(nil), c.outs...)
	if c.tail != nil {
		// String does not copy; what it returns stays as it is while the
		// builder grows.
		outs[len(outs)-1].Text = c.tail.String()
	}
	return outs
}

// droppedBytes is how much of the cell's output was not kept.
func (c *collector) droppedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}
