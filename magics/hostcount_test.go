package magics

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// A %%host cell's value is the notebook cell's own result, and its
// tracebacks name cells by the notebook's counts, not the host kernel's.
func TestHostCellResultAndCounts(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	h.useTestKernel()
	var got kernel.MIMEBundle
	h.env.Result = func(data kernel.MIMEBundle, _ map[string]any) { got = data }

	h.env.Count = 20
	hostMust(t, h.cell("host", "def f():\n    return 1 / 0"))
	h.env.Count = 21
	hostMust(t, h.cell("host", "6 * 7"))
	if got["text/plain"] != "42" || len(h.out.Displays()) != 0 {
		t.Errorf("result %v, displays %v; want the value as the cell's result only", got, h.out.Displays())
	}
	h.env.Count = 22
	err := h.cell("host", "x = 1\nf()")
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "ZeroDivisionError" {
		t.Fatalf("err = %v", err)
	}
	tb := strings.Join(ee.Traceback, "\n")
	names := regexp.MustCompile(`Cell In\[\d+\]`).FindAllString(tb, -1)
	if strings.Join(names, " ") != "Cell In[22] Cell In[20]" {
		t.Errorf("cells named %q in the traceback:\n%s", names, tb)
	}

	// without a Result to take it, the value is displayed
	h.env.Result, h.env.Count = nil, 0
	hostMust(t, h.cell("host", "'shown'"))
	if ds := h.out.Displays(); len(ds) != 1 || ds[0].Data["text/plain"] != "'shown'" {
		t.Errorf("displays = %+v", ds)
	}
}
