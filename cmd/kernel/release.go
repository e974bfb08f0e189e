package main

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// idleRelease is how long the kernel waits after its last request before
// it collects garbage and returns free memory to the system.
const idleRelease = time.Second

// releasingInterp is an Interpreter that, once requests stop coming for
// idleRelease, runs debug.FreeOSMemory a single time. A kernel mostly
// idles between cells; without this it would keep the garbage of its last
// burst of work (the Go runtime collects at a 4 MB heap at the earliest,
// or every 2 minutes) and the pages of a heap that grew for a big output,
// which the runtime returns only gradually. The cost is one collection per
// burst, never a timer that runs while idle.
type releasingInterp struct {
	kernel.Interpreter

	mu    sync.Mutex
	timer *time.Timer // nil until the first request
}

func newReleasingInterp(in kernel.Interpreter) *releasingInterp {
	return &releasingInterp{Interpreter: in}
}

// touch (re)starts the countdown to the release.
func (r *releasingInterp) touch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(idleRelease, debug.FreeOSMemory)
		return
	}
	r.timer.Reset(idleRelease)
}

// stop cancels a pending release.
func (r *releasingInterp) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}

// Execute implements kernel.Interpreter; the countdown starts when the
// cell ends.
func (r *releasingInterp) Execute(ctx context.Context, req kernel.ExecuteRequest, out kernel.Output) (kernel.Result, error) {
	r.stop() // no collection in the middle of a cell
	defer r.touch()
	return r.Interpreter.Execute(ctx, req, out)
}

// Complete implements kernel.Interpreter.
func (r *releasingInterp) Complete(ctx context.Context, code string, cursor int) (kernel.Completion, error) {
	defer r.touch()
	return r.Interpreter.Complete(ctx, code, cursor)
}

// Inspect implements kernel.Interpreter.
func (r *releasingInterp) Inspect(ctx context.Context, code string, cursor, detail int) (kernel.Inspection, error) {
	defer r.touch()
	return r.Interpreter.Inspect(ctx, code, cursor, detail)
}
