package magics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/google/uuid"
	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/plot"
)

// PlotMagics are %%plot and %plot: the cell's code runs on the board and
// the numbers it prints are drawn, live, as a chart.
func PlotMagics() []*Magic {
	cell := &Magic{Name: "plot", Kind: Cell,
		Summary: "Run the cell on the board and draw the numbers it prints as a live chart " +
			"(Mu tuples, label:value or label=value pairs, plain numbers; lines without numbers stay text)."}
	cell.Setup = plotSetup(cell)
	line := &Magic{Name: "plot", Kind: Line, RestOfCell: true,
		Summary: "Draw the numbers the rest of the cell prints on the board as a live chart (see %%plot)."}
	line.Setup = plotSetup(line)
	return []*Magic{cell, line}
}

// maxPlotWindow bounds -n: 32 series of 100,000 points are 77 MB.
const maxPlotWindow = 100_000

func plotSetup(m *Magic) func(fs *flag.FlagSet) Runner {
	return func(fs *flag.FlagSet) Runner {
		n := fs.Int("n", plot.DefaultWindow, "keep the last `N` samples")
		var o plot.Options
		fs.Func("ymin", "fix the bottom of the y axis at `Y`", floatFlag(&o.YMin, &o.FixYMin))
		fs.Func("ymax", "fix the top of the y axis at `Y`", floatFlag(&o.YMax, &o.FixYMax))
		x := fs.String("x", "index", "x axis: `index` (the sample number) or time (seconds since the cell started)")
		text := fs.Bool("text", false, "show the printed text too, not only the chart")
		csvPath := fs.String("csv", "", "write every sample (time,label,value) to the host `FILE`; "+
			"inside %%connect, each board's to a file of its own, named FILE's name, a dot and the board's (data.csv: data.esp32.csv)")
		return func(ctx context.Context, env *Env, args []string, body string) error {
			switch {
			case len(args) > 0:
				return Usagef(m, "takes no arguments (the code to run is the rest of the cell)")
			case *n <= 0 || *n > maxPlotWindow:
				// the window is kept for every series: bounded, so is memory
				return Usagef(m, "-n is from 1 to %d", maxPlotWindow)
			case *x != "index" && *x != "time":
				return Usagef(m, "-x is index or time, not %q", *x)
			case o.FixYMin && !finite(o.YMin):
				return Usagef(m, "--ymin must be a finite number")
			case o.FixYMax && !finite(o.YMax):
				return Usagef(m, "--ymax must be a finite number")
			case o.FixYMin && o.FixYMax && o.YMin >= o.YMax:
				return Usagef(m, "--ymin must be below --ymax")
			case strings.HasPrefix(strings.TrimLeft(body, " \t\n"), "%%connect"):
				// the boards' numbers would mix in one chart
				return Usagef(m, "put %%%%plot after %%%%connect, for a chart per board: %%%%connect a b, then %%%%plot on the next line")
			}
			b, err := env.Boards.Current(ctx)
			if err != nil {
				return err
			}
			o.Title = boardName(env, b)
			board := ""
			if _, ok := env.Out.(*section); ok {
				// inside %%connect, every board runs this body at once:
				// one file for all would keep one board's samples only
				board = o.Title
			}
			var value kernel.MIMEBundle
			run := func(out kernel.Output) (err error) {
				value, err = env.Boards.RunCode(ctx, b, body, env.codeAt(), out)
				return err
			}
			err = runPlot(env, plotRun{
				name: m.prefix(),
				cfg:  plot.Config{Window: *n, Time: *x == "time", Render: o},
				text: *text, csv: *csvPath, board: board,
			}, run)
			if err == nil {
				env.showResult(value) // the body's last value is the cell's, as without %%plot
			}
			return err
		}
	}
}

// floatFlag parses a number; one beyond float64's range is kept as an
// infinity, so that it is refused as nan and inf are, for not being finite.
func floatFlag(v *float64, set *bool) func(string) error {
	return func(s string) error {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return errors.New("not a number")
		}
		*v, *set = f, true
		return nil
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plotRun is one %%plot invocation's settings.
type plotRun struct {
	name string // "%%plot" or "%plot", for messages
	cfg  plot.Config
	text bool   // --text: pass the printed text on as well
	csv  string // --csv FILE, "" for none
	// board, when set, is the name of the board the body runs on among
	// others (inside %%connect): its CSV is a file of its own.
	board string
	// create starts writing the CSV file (atomicfile.Create when nil;
	// tests make writes fail).
	create func(path string) (csvFile, error)
}

// csvFile is a file that appears at its path on Commit only.
type csvFile interface {
	io.Writer
	Commit() error
	Abort()
}

// runPlot runs the code (through run, with an Output that feeds the
// chart) and keeps the chart in env.Out up to date: a display_data at the
// first numbers, update_display_data after, the last one when the code
// ends, however it ends.
func runPlot(env *Env, r plotRun, run func(kernel.Output) error) (err error) {
	var rows *plot.CSV
	if r.csv != "" {
		path := env.Host.Abs(r.csv)
		if r.board != "" {
			path = boardFile(path, r.board)
		}
		c, serr := startCSV(env, r, path)
		if serr != nil {
			return serr
		}
		rows = c.rows
		r.cfg.Sample = rows.Sample
		// however the code ended (a stop is the usual end of a plotted
		// loop), the samples so far are saved, or the failure is told
		defer func() { err = c.finish(err) }()
	}
	tap := &plotOutput{Output: env.Out, text: r.text}
	if !r.text {
		// lines without numbers stay text
		r.cfg.Text = func(text string) { env.Out.Stream("stdout", text) }
	}
	id := "plot-" + uuid.NewString()
	p := plot.New(r.cfg)
	tap.p = p
	shown := false
	stop := p.Live(plot.MinInterval, func(f plot.Frame) {
		if rows != nil {
			_ = rows.Flush() // the rows so far reach the disk as the chart does; a failure is told by plotCSV
		}
		data := kernel.MIMEBundle{"image/svg+xml": string(f.SVG), "text/plain": f.Summary}
		env.Out.Display(data, nil, id, shown)
		shown = true
	})
	err = run(tap)
	p.Flush()
	stop()
	if !shown && err == nil {
		env.Out.Stream("stderr", r.name+": no line of the output held a number, so there is no chart\n")
	}
	return err
}

// boardFile is the CSV file of one board of several: path's name, a dot
// and the board's name (data.csv: data.esp32.csv), made safe for a file
// name.
func boardFile(path, board string) string {
	ext := filepath.Ext(path)
	safe := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, board)
	return strings.TrimSuffix(path, ext) + "." + safe + ext
}

// plotCSV is the file of a --csv being written.
type plotCSV struct {
	env   *Env
	name  string // "%%plot" or "%plot"
	board string // the board's name when each board has a file
	path  string
	file  csvFile
	rows  *plot.CSV

	mu      sync.Mutex
	running bool // the code runs: a failed write is told at once
	told    bool // a failed write was told
}

// startCSV starts writing the samples of r to path. A folder is refused
// at once: the file could only fail to replace it at the end.
func startCSV(env *Env, r plotRun, path string) (*plotCSV, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s --csv: %s is a folder; name a file to write the samples to", r.name, path)
	}
	create := r.create
	if create == nil {
		create = func(path string) (csvFile, error) { return atomicfile.Create(path, 0o644) }
	}
	f, err := create(path)
	if err != nil {
		return nil, fmt.Errorf("%s --csv: cannot write %s: %w", r.name, path, err)
	}
	c := &plotCSV{env: env, name: r.name, board: r.board, path: path, file: f, running: true}
	c.rows = plot.NewCSV(f, c.writeFailed)
	return c, nil
}

// writeFailed tells of the first failed write while the code runs, so
// that a long run can be stopped rather than found unsaved at its end.
func (c *plotCSV) writeFailed(err error) {
	c.mu.Lock()
	tell := c.running
	c.told = c.told || tell
	c.mu.Unlock()
	if tell {
		c.env.Out.Stream("stderr", fmt.Sprintf("%s --csv: writing %s failed: %v; the chart goes on, but the file will not be saved\n", c.name, c.path, err))
	}
}

// finish saves the file once the code ended with err, and returns the
// cell's error: err, else the file's failure. A failure is said once: on
// stderr when err is the cell's error already, and not again when it was
// told as it happened.
func (c *plotCSV) finish(err error) error {
	c.mu.Lock()
	c.running = false
	told := c.told
	c.mu.Unlock()
	ferr := c.rows.Flush()
	if ferr == nil {
		ferr = c.file.Commit()
	} else {
		c.file.Abort()
	}
	switch {
	case ferr == nil:
		if c.board != "" {
			// the file is not the one the user named: say which it is
			c.env.Out.Stream("stdout", fmt.Sprintf("%s --csv: %s's samples are in %s\n", c.name, c.board, c.path))
		}
		return err
	case told:
		if err == nil {
			err = fmt.Errorf("%s --csv: %s was not saved (a write failed, as told above)", c.name, c.path)
		}
		return err
	}
	ferr = fmt.Errorf("%s --csv: writing %s failed, the file was not saved: %w", c.name, c.path, ferr)
	if err == nil {
		return ferr
	}
	c.env.Out.Stream("stderr", ferr.Error()+"\n")
	return err
}

// plotOutput is the Output the plotted code writes to: its stdout feeds
// the chart (and, with --text, goes on as text); everything else passes.
type plotOutput struct {
	kernel.Output
	p    *plot.Plot
	text bool
}

// Stream implements kernel.Output.
func (o *plotOutput) Stream(name, text string) {
	if name != "stdout" {
		o.Output.Stream(name, text)
		return
	}
	_, _ = o.p.Write([]byte(text))
	if o.text {
		o.Output.Stream(name, text)
	}
}

// Input implements kernel.Output: an unfinished line is a prompt's text,
// shown before the prompt.
func (o *plotOutput) Input(ctx context.Context, prompt string, password bool) (string, error) {
	o.p.Flush()
	return o.Output.Input(ctx, prompt, password)
}
