package main

import (
	"context"
	"errors"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// stubInterp answers every request with fixed values.
type stubInterp struct{ err error }

func (s stubInterp) Execute(context.Context, kernel.ExecuteRequest, kernel.Output) (kernel.Result, error) {
	return kernel.Result{Data: kernel.MIMEBundle{"text/plain": "42"}}, s.err
}

func (s stubInterp) Complete(_ context.Context, _ string, cursor int) (kernel.Completion, error) {
	return kernel.Completion{Matches: []string{"print"}, CursorEnd: cursor}, s.err
}

func (s stubInterp) Inspect(context.Context, string, int, int) (kernel.Inspection, error) {
	return kernel.Inspection{Found: true}, s.err
}

func (s stubInterp) KernelInfo() kernel.Info { return kernel.Info{Banner: "stub"} }

func (s stubInterp) Shutdown(context.Context, bool) error { return s.err }

// The memory release around requests changes nothing a client sees: every
// result and error of the wrapped interpreter comes through.
func TestReleasingInterpPassesThrough(t *testing.T) {
	ctx := context.Background()
	for _, want := range []error{nil, errors.New("board gone")} {
		r := newReleasingInterp(stubInterp{err: want})
		res, err := r.Execute(ctx, kernel.ExecuteRequest{Code: "6*7"}, nil)
		if err != want || res.Data["text/plain"] != "42" {
			t.Errorf("Execute = %v, %v", res, err)
		}
		c, err := r.Complete(ctx, "pri", 3)
		if err != want || len(c.Matches) != 1 || c.CursorEnd != 3 {
			t.Errorf("Complete = %+v, %v", c, err)
		}
		in, err := r.Inspect(ctx, "print", 5, 0)
		if err != want || !in.Found {
			t.Errorf("Inspect = %+v, %v", in, err)
		}
		if r.KernelInfo().Banner != "stub" || r.Shutdown(ctx, false) != want {
			t.Error("KernelInfo or Shutdown not passed through")
		}
		r.stop()
	}
}
