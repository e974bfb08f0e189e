package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/cells"
	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/replay"
	"github.com/iot-kernel/iot-kernel/transport"
)

// replayDetails is the end of `iot-kernel help replay`.
const replayDetails = `Each notebook's code cells run in order in a fresh kernel on the board, and
each cell's outputs are compared with the ones stored in the notebook: stream
text, the text/plain of results and displays (images by their presence),
errors by name and value. The exit status is 0 only if every compared cell
matches. A mismatch is reported with the notebook, the cell's number and
first line, and a diff of stored against new outputs; under GitHub Actions
(GITHUB_ACTIONS=true) also as an error annotation on the cell.

The board: --board, else the notebook's metadata.iot.board, else the devices
file's default. With a board given, every board the notebook names
(%connect esp32, %connect /dev/ttyUSB0, the default board) is that board,
under the name the notebook gives it. Virtual boards start empty for each
notebook. TARGET*N (sim*4) is N fresh virtual boards; with several boards,
--jobs notebooks replay at once, each board running one at a time.

What varies between runs is normalised in stored and new outputs alike:
board addresses in "Connected to NAME @ URL", memory addresses, timings,
dates, socket ports; --sanitize adds rules in nbval's format:

  [hex-id]
  regex: id=[0-9a-f]+
  replace: id=ID

Cell tags: replay-skip or nbval-skip (not run), replay-nocompare or
nbval-ignore-output (run, not compared), raises-exception (an error is
expected; its name is compared). Cell metadata.iot: "varies" (regular
expressions whose matches, or groups, are masked), "timeout" (seconds),
"interrupt_after" (seconds: press stop, as on a loop that runs forever),
"serve" ({"port": 8080, "paths": ["/"], "expect": ["Hello"]}: once the
port accepts, GET each path, check each answer contains its expect, then
press stop). A %%host cell with no python3 kernel installed is skipped.

--update stores the new outputs of the cells whose one fault is that they
differ (not of a cell that timed out or raised unexpectedly). A replay
stopped by Ctrl-C or ended early (a board that cannot be reached, a cell
that would not stop) updates nothing, nor does one whose notebook was saved
while it ran.

Exit status: 0 all matched, 1 a cell failed or a notebook could not be
replayed, 2 bad command line.
`

// stringList is a flag that may be given several times.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func replayFlags(e *env) (*flag.FlagSet, func(context.Context) int) {
	fs := newFlagSet(e, "replay")
	var boardArgs, sanitize stringList
	fs.Var(&boardArgs, "board", "run on `TARGET` (sim, sim:NAME, a port, a URL, a devices-file name; TARGET*N: N fresh virtual boards); may be given several times")
	jobs := fs.Int("jobs", 0, "replay up to `N` notebooks at once, on different boards (default: one per board)")
	junit := fs.String("junit", "", "write JUnit XML to `FILE` (a test case per cell)")
	fs.Var(&sanitize, "sanitize", "normalise outputs with the rules in `FILE` (nbval's format); may be given several times")
	update := fs.Bool("update", false, "rewrite the stored outputs of cells that differ with the new ones")
	timeout := fs.Duration("timeout", replay.DefaultTimeout, "interrupt and fail a cell that runs longer than `DURATION` (a cell's metadata.iot.timeout overrides)")
	serveHost := fs.String("serve-host", "", "reach the servers of cells with metadata.iot.serve at `HOST` when it names none (default 127.0.0.1, where a virtual board's listen; a board on WiFi: its address)")
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	fs.Var(levelFlag{level}, "log-level", "log `level` on stderr: debug, info, warn or error")
	return fs, func(ctx context.Context) int {
		paths := fs.Args()
		if len(paths) == 0 {
			fmt.Fprintln(e.stderr, "iot-kernel replay: no notebook given")
			fs.Usage()
			return exitUsage
		}
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
		rules := replay.BuiltinRules()
		for _, f := range sanitize {
			r, err := readSanitize(f)
			if err != nil {
				fmt.Fprintln(e.stderr, "iot-kernel replay: --sanitize:", err)
				return exitUsage
			}
			rules = append(rules, r...)
		}
		boards, err := replayBoards(boardArgs, log)
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel replay: --board:", err)
			return exitUsage
		}
		if *jobs < 0 {
			fmt.Fprintln(e.stderr, "iot-kernel replay: --jobs must be 1 or more")
			return exitUsage
		}
		n := *jobs
		if n == 0 {
			n = len(boards)
		}
		opt := replay.Options{
			Normalizer:  replay.Normalizer{Rules: rules},
			Timeout:     *timeout,
			Update:      *update,
			ServeHost:   *serveHost,
			WriteFile:   writeNotebook,
			Unreachable: boardUnreachable,
		}
		var prog replay.Progress = &replay.PlainProgress{W: e.stderr}
		if isTerminal(e.stderr) {
			labels := make([]string, 0, min(n, len(boards)))
			for _, b := range boards[:min(n, len(boards))] {
				labels = append(labels, b.Label)
			}
			tp := replay.NewTermProgress(e.stderr, labels, len(paths))
			tp.Width = terminalWidth(e.stderr)
			prog = tp
		}

		// Ctrl-C stops the replay as the stop button stops a cell.
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		defer signal.Stop(sigs)
		go func() {
			select {
			case <-sigs:
				cancel(kernel.ErrInterrupted)
			case <-ctx.Done():
			}
		}()

		results := replay.RunAll(ctx, paths, boards, n, opt, prog)
		replay.WriteReport(e.stdout, results, isTerminal(e.stdout) && os.Getenv("NO_COLOR") == "")
		if os.Getenv("GITHUB_ACTIONS") == "true" {
			replay.WriteAnnotations(e.stdout, results)
		}
		code := exitOK
		for _, r := range results {
			if !r.OK() {
				code = exitError
			}
		}
		if *junit != "" {
			if err := writeJUnit(*junit, results); err != nil {
				fmt.Fprintln(e.stderr, "iot-kernel replay: --junit:", err)
				return exitError
			}
		}
		return code
	}
}

// boardUnreachable says whether a cell's error is the kernel's for a board
// it cannot reach: none connected (the notebook's connect failed), or the
// link to it lost. A ConnectionError of the cell's own code (a %%host
// cell's requests) is not one: it wraps no transport.ErrLinkLost.
func boardUnreachable(err error) bool {
	var ee *kernel.ExecError
	if errors.As(err, &ee) && ee.Name == cells.NoBoardError {
		return true
	}
	return errors.Is(err, transport.ErrLinkLost)
}

// writeNotebook writes an updated notebook atomically, keeping its mode.
// A symlinked notebook has its target written: the atomic rename would
// put a file in the link's place.
func writeNotebook(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		perm = st.Mode().Perm()
	}
	return atomicfile.Write(target, data, perm)
}

func readSanitize(path string) ([]replay.Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return replay.ParseSanitize(f, path)
}

func writeJUnit(path string, results []*replay.Result) error {
	var b strings.Builder
	if err := replay.WriteJUnit(&b, results); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()), 0o644)
}

// replayBoards turns the --board arguments into boards. No --board gives
// one board that is whatever each notebook's metadata or the devices file
// says.
func replayBoards(args []string, log *slog.Logger) ([]replay.Board, error) {
	if len(args) == 0 {
		return []replay.Board{newReplayBoard("default", "", log)}, nil
	}
	var boards []replay.Board
	seen := map[string]int{}
	for _, a := range args {
		target, count := strings.TrimSpace(a), 1
		if i := strings.LastIndex(target, "*"); i >= 0 {
			n, err := strconv.Atoi(target[i+1:])
			if err != nil || n < 1 || n > 64 {
				return nil, fmt.Errorf("%q: TARGET*N wants N from 1 to 64", a)
			}
			target, count = target[:i], n
		}
		if target == "" {
			return nil, fmt.Errorf("%q: no target", a)
		}
		if err := knownTarget(target); err != nil {
			return nil, err
		}
		virtual := transport.AddressKind(target) == transport.KindSim
		if !virtual && (count > 1 || seen[target] > 0) {
			return nil, fmt.Errorf("%q: only virtual boards can be had several times; give each real board once", a)
		}
		for range count {
			seen[target]++
			label := target
			if virtual && (count > 1 || seen[target] > 1) {
				label = fmt.Sprintf("%s#%d", target, seen[target])
			}
			boards = append(boards, newReplayBoard(label, target, log))
		}
	}
	return boards, nil
}

// knownTarget checks, before any notebook runs, that target can name a
// board: an address, a name or uid of the devices file, or what looks
// like a uid (found by probing the ports). Else every notebook's every
// cell would fail the same way.
func knownTarget(target string) error {
	_, err := transport.ParseAddress(target)
	if err == nil {
		return nil
	}
	if !errors.Is(err, transport.ErrNotAddress) {
		return fmt.Errorf("%q: %w", target, err)
	}
	if looksLikeUID.MatchString(target) {
		return nil
	}
	path, err := devices.DefaultPath()
	if err != nil {
		return err
	}
	df, err := devices.Load(path)
	if err != nil {
		return err
	}
	if _, ok := df.Lookup(target); ok {
		return nil
	}
	if _, ok := df.ByUID(target); ok {
		return nil
	}
	msg := fmt.Sprintf("unknown board %q: not a board address (sim, sim:NAME, a serial port, ws://, rfc2217://, serial://), nor a device in %s", target, path)
	if names := df.Names(); len(names) > 0 {
		msg += " (registered: " + strings.Join(names, ", ") + ")"
	}
	return errors.New(msg)
}

// looksLikeUID is a board uid as %connect takes one.
var looksLikeUID = regexp.MustCompile(`^[0-9a-fA-F]{8,}$`)

// newReplayBoard is a board whose notebooks each get a fresh kernel pinned
// to target ("" for each notebook's own board), with empty virtual boards.
func newReplayBoard(label, target string, log *slog.Logger) replay.Board {
	return replay.Board{
		Label: label,
		Start: func(ctx context.Context, nb *replay.Notebook) (replay.Executor, func(), error) {
			pin := target
			if pin == "" {
				pin = nb.Meta.Board
			}
			abs, err := filepath.Abs(nb.Path)
			if err != nil {
				return nil, nil, err
			}
			simHome, err := os.MkdirTemp("", "iot-replay-sim-")
			if err != nil {
				return nil, nil, fmt.Errorf("a folder for the virtual boards: %w", err)
			}
			interp := cells.New(cells.Config{
				Logger:     log.With("board", label, "notebook", nb.Path),
				NoReattach: true,
				WorkDir:    filepath.Dir(abs),
				Board:      pin,
				SimHome:    simHome,
			})
			stop := func() {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := interp.Shutdown(sctx, false); err != nil {
					log.Warn("stopping the notebook's kernel", "notebook", nb.Path, "err", err)
				}
				if err := os.RemoveAll(simHome); err != nil && !errors.Is(err, os.ErrNotExist) {
					log.Warn("removing the virtual boards' files", "dir", simHome, "err", err)
				}
			}
			return interp, stop, nil
		},
	}
}
