package magics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// hostDeps is what the host magics need from outside; tests replace it.
type hostDeps struct {
	// boardExec runs code on the current board, writing what it prints to
	// stdout. An exception on the board is a *transport.BoardError.
	boardExec func(ctx context.Context, env *Env, code string, stdout io.Writer) error
}

// HostMagics returns %cd, %%bash, %%host and %store. The cells package runs
// !cmd lines with RunShell.
func HostMagics() []*Magic {
	return hostMagics(hostDeps{boardExec: execOnBoard})
}

func hostMagics(d hostDeps) []*Magic {
	return []*Magic{cdMagic(), bashMagic(), hostMagic(), storeMagic(d)}
}

// execOnBoard runs code on the session's current board.
func execOnBoard(ctx context.Context, env *Env, code string, stdout io.Writer) error {
	b, err := env.Boards.Current(ctx)
	if err != nil {
		return err
	}
	return b.Exec(ctx, code, transport.ExecOptions{Stdout: stdout})
}

// interruptGrace is how long a host command has to stop after SIGINT before
// its process group is killed.
const interruptGrace = 2 * time.Second

// RunShell runs a !cmd line with /bin/sh in the host working directory,
// streaming its output as it comes. As in IPython, stderr joins stdout in
// one pipe, so what the command printed keeps its order, and a command
// that fails does not fail the cell: its output (and the shell's own
// message, such as "not found") is the report. Cancelling ctx interrupts
// the command's process group (SIGINT, then SIGKILL) and returns ctx's
// cause.
func RunShell(ctx context.Context, env *Env, cmd string) error {
	_, err := runHostCommand(ctx, env, true, "/bin/sh", "-c", cmd)
	if err != nil {
		return fmt.Errorf("!%s: %w", cmd, err)
	}
	return nil
}

// runHostCommand runs argv in the host working directory, in a process
// group of its own, and returns its exit status. With merged, stderr
// shares stdout's pipe; without, it is the cell's stderr, whose order
// against stdout two pipes cannot keep.
func runHostCommand(ctx context.Context, env *Env, merged bool, argv ...string) (int, error) {
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = env.Host.Dir()
	// Without this check a removed directory is reported by os/exec as
	// the program missing ("fork/exec /bin/sh: no such file or directory").
	if err := checkWorkDir(cmd.Dir); err != nil {
		return 0, err
	}
	stdout := kernel.NewStreamWriter(env.Out, "stdout")
	stderr := kernel.NewStreamWriter(env.Out, "stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if merged {
		cmd.Stderr = stdout // the same writer: os/exec gives both one pipe
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A command left running in the background (cmd &) keeps the output
	// pipes open; stop waiting for it shortly after the shell exits.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	stopped := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		select {
		case <-stopped:
			return
		case <-ctx.Done():
		}
		pg := -cmd.Process.Pid
		_ = syscall.Kill(pg, syscall.SIGINT)
		t := time.NewTimer(interruptGrace)
		defer t.Stop()
		select {
		case <-stopped:
		case <-t.C:
		}
		// Kill what is left either way: a non-interactive shell starts
		// background jobs with SIGINT ignored.
		_ = syscall.Kill(pg, syscall.SIGKILL)
	}()
	err := cmd.Wait()
	close(stopped)
	watch.Wait()
	stdout.Flush()
	stderr.Flush()
	if ctx.Err() != nil {
		return -1, context.Cause(ctx)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return -1, err
	}
	return 0, nil
}

func cdMagic() *Magic {
	m := &Magic{Name: "cd", Kind: Line, Args: "[DIR|-]",
		Summary: "Change the host working directory used by !cmd, %%bash, %%host and the file magics' host paths. Without DIR, go home; - goes back."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) > 1 {
				return Usagef(m, "want at most one DIR (quote a name with spaces)")
			}
			var dir string
			switch {
			case len(args) == 0:
				home, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("%%cd: %w", err)
				}
				dir = home
			case args[0] == "-":
				dir = env.Host.PrevDir()
				if dir == "" {
					return errors.New("%cd -: no previous directory")
				}
			default:
				dir = expandHome(args[0])
			}
			if err := env.Host.Chdir(dir); err != nil {
				return err
			}
			env.Out.Stream("stdout", env.Host.Dir()+"\n")
			return nil
		}
	}
	return m
}

// expandHome expands a leading ~ or ~/ as a shell would.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

func bashMagic() *Magic {
	m := &Magic{Name: "bash", Kind: Cell,
		Summary: "Run the cell with bash on the host, in the host working directory, streaming its output. A non-zero exit status fails the cell, as in IPython."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		noRaise := fs.Bool("no-raise-error", false, "do not fail the cell when bash exits with a non-zero status")
		return func(ctx context.Context, env *Env, args []string, body string) error {
			if len(args) > 0 {
				return Usagef(m, "takes no arguments (the script is the cell body)")
			}
			status, err := runHostCommand(ctx, env, false, "/bin/bash", "-c", body)
			if err != nil {
				return fmt.Errorf("%%%%bash: %w", err)
			}
			if status != 0 && !*noRaise {
				return fmt.Errorf("%%%%bash: bash exited with status %d", status)
			}
			return nil
		}
	}
	return m
}

func hostMagic() *Magic {
	m := &Magic{Name: "host", Kind: Cell,
		Summary: "Run the cell in a python3 Jupyter kernel on the host (ipykernel), started on first use and kept between cells. Plots, HTML and images show as in a Python notebook; %store copies board values into it."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, body string) error {
			if len(args) > 0 {
				return Usagef(m, "takes no arguments (the code is the cell body)")
			}
			k, err := env.Host.Kernel(ctx, env.Out)
			if err != nil {
				return fmt.Errorf("%%%%host: %w", err)
			}
			// Its value is the cell's execute_result, and its tracebacks
			// name the cell by the notebook's count.
			_, err = k.Run(ctx, hostkernel.Request{Code: body, StoreHistory: true, Count: env.Count, Result: env.Result, NoStdin: env.NoStdin}, env.Out)
			return missingModuleHint(hostError(err), k.Python())
		}
	}
	return m
}

// hostError adds what to do next to the errors of a host kernel, leaving
// the code's own exceptions (*kernel.ExecError) as they are.
func hostError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hostkernel.ErrDied):
		return fmt.Errorf("%%%%host: %w\n(the next %%%%host cell starts a new host kernel)", err)
	default:
		var ee *kernel.ExecError
		if errors.As(err, &ee) {
			return err
		}
		return fmt.Errorf("%%%%host: %w", err)
	}
}

// noModule reads the module a ModuleNotFoundError names.
var noModule = regexp.MustCompile(`^No module named '([A-Za-z0-9_]+)`)

// missingModuleHint adds to a host ModuleNotFoundError which Python %%host
// runs and how to install the module there, since that Python is often not
// the one the user has in mind.
func missingModuleHint(err error, python string) error {
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "ModuleNotFoundError" || python == "" {
		return err
	}
	m := noModule.FindStringSubmatch(ee.Value)
	if m == nil {
		return err
	}
	hint := fmt.Sprintf("%%%%host runs %s: install %s there with  %s -m pip install %s  (the package may have another name than the module)",
		python, m[1], python, m[1])
	return &kernel.ExecError{Name: ee.Name, Value: ee.Value, Traceback: append(append([]string(nil), ee.Traceback...), hint)}
}

// pyIdent matches the names %store accepts.
var pyIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// storeMarker starts the lines the %store snippets print for the magic.
const storeMarker = "IOTSTORE "

// storeBoardCode prints, for each name, three marker lines (the name, its
// repr, its JSON or nothing), or one line "?name" when the board has no
// such global. Line-based, since the micro:bit has neither json nor ujson;
// a repr or a JSON text never holds a newline. Short, for the micro:bit.
const storeBoardCode = `def _iotst(ns):
 try:import json
 except ImportError:
  try:import ujson as json
  except ImportError:json=None
 g=globals()
 for n in ns:
  if n in g:
   v=g[n];j=''
   if json:
    try:j=json.dumps(v)
    except:pass
   for t in (n,repr(v),j):print('IOTSTORE '+t)
  else:print('IOTSTORE ?'+n)
_iotst(%s)
del _iotst
`

// storeHostCode rebuilds the values in the host kernel: a Python literal
// keeps tuples, bytes and int keys exactly; else the board's JSON; else the
// repr evaluated with no builtins but nan, inf, bytearray and array (which
// MicroPython prints as calls). It prints {name, type} per value, type
// null for a value it could not rebuild.
const storeHostCode = `def _iot_store(items):
    import ast, json, math, array
    g = globals()
    res = []
    for n, r, j in json.loads(items):
        try:
            v = ast.literal_eval(r)
        except Exception:
            try:
                if j is None:
                    raise ValueError(r)
                v = json.loads(j)
            except Exception:
                try:
                    v = eval(r, {'__builtins__': {}}, {'nan': math.nan, 'inf': math.inf,
                             'bytearray': bytearray, 'array': array.array})
                except Exception:
                    res.append({'name': n, 'type': None})
                    continue
        g[n] = v
        res.append({'name': n, 'type': type(v).__name__})
    print('IOTSTORE', json.dumps(res))
_iot_store(%s)
del _iot_store
`

func storeMagic(d hostDeps) *Magic {
	m := &Magic{Name: "store", Kind: Line, Args: "NAME...",
		Summary: "Copy the values of board globals into the %%host python kernel under the same names. Values are copied by their repr (or JSON): numbers, strings, bytes, lists, tuples, dicts, sets."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) == 0 {
				return Usagef(m, "name at least one board variable")
			}
			for _, n := range args {
				if !pyIdent.MatchString(n) {
					return Usagef(m, "%q is not a Python name", n)
				}
			}
			vals, err := boardValues(ctx, env, d, args)
			if err != nil {
				return err
			}
			k, err := env.Host.Kernel(ctx, env.Out)
			if err != nil {
				return fmt.Errorf("%%store: %w", err)
			}
			payload, err := json.Marshal(vals)
			if err != nil {
				return fmt.Errorf("%%store: %w", err)
			}
			quoted, err := json.Marshal(string(payload)) // a JSON string is a Python str literal
			if err != nil {
				return fmt.Errorf("%%store: %w", err)
			}
			capt := captureOutput{out: env.Out}
			if _, err := k.Run(ctx, hostkernel.Request{Code: fmt.Sprintf(storeHostCode, quoted)}, &capt); err != nil {
				return hostError(err)
			}
			var res []storeResult
			if lines := markerLines(capt.stdout.String()); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &res) != nil || len(res) != len(vals) {
				return fmt.Errorf("%%store: unexpected answer from the host kernel: %q", capt.stdout.String())
			}
			var stored, failed []string
			for i, r := range res {
				if r.Type == nil {
					failed = append(failed, fmt.Sprintf("%s: its value %s is not a Python literal", r.Name, *vals[i][1]))
					continue
				}
				stored = append(stored, fmt.Sprintf("%s (%s)", r.Name, *r.Type))
			}
			if len(stored) > 0 {
				env.Out.Stream("stdout", "Stored in the host kernel: "+strings.Join(stored, ", ")+"\n")
			}
			if len(failed) > 0 {
				return fmt.Errorf("%%store: cannot copy %s", strings.Join(failed, "; "))
			}
			return nil
		}
	}
	return m
}

// storeResult is what the host kernel reports for one value.
type storeResult struct {
	Name string  `json:"name"`
	Type *string `json:"type"` // nil: not rebuilt
}

// boardValues reads names on the board. Each value is [name, repr, json]
// (json nil when the board could not encode it).
func boardValues(ctx context.Context, env *Env, d hostDeps, names []string) ([][]*string, error) {
	list, err := json.Marshal(names) // a JSON list of ASCII names is a Python list
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := d.boardExec(ctx, env, fmt.Sprintf(storeBoardCode, list), &out); err != nil {
		return nil, fmt.Errorf("%%store: reading the board: %w", err)
	}
	lines := markerLines(out.String())
	bad := fmt.Errorf("%%store: unexpected answer from the board: %q", out.String())
	vals := make([][]*string, 0, len(names))
	var missing []string
	for _, n := range names {
		switch {
		case len(lines) >= 1 && lines[0] == "?"+n:
			missing = append(missing, n)
			lines = lines[1:]
		case len(lines) >= 3 && lines[0] == n:
			v := []*string{&lines[0], &lines[1], nil}
			if lines[2] != "" {
				v[2] = &lines[2]
			}
			vals = append(vals, v)
			lines = lines[3:]
		default:
			return nil, bad
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%%store: not defined on the board: %s", strings.Join(missing, ", "))
	}
	return vals, nil
}

// markerLines returns the text after storeMarker of the lines that start
// with it.
func markerLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, "\r")
		if rest, ok := strings.CutPrefix(l, storeMarker); ok {
			out = append(out, rest)
		}
	}
	return out
}

// captureOutput collects a host kernel's stdout for the magic to read; its
// stderr (warnings) goes on to out when out is set.
type captureOutput struct {
	out    kernel.Output
	mu     sync.Mutex
	stdout strings.Builder
}

func (c *captureOutput) Stream(name, text string) {
	if name == "stdout" {
		c.mu.Lock()
		c.stdout.WriteString(text)
		c.mu.Unlock()
		return
	}
	if c.out != nil {
		c.out.Stream(name, text)
	}
}

func (c *captureOutput) Display(kernel.MIMEBundle, map[string]any, string, bool) {}

func (c *captureOutput) ClearOutput(bool) {}

func (c *captureOutput) Input(context.Context, string, bool) (string, error) {
	return "", kernel.ErrNoStdin
}
