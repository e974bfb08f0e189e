// Package cells implements kernel.Interpreter by running notebook cells on a
// MicroPython board: it splits a cell into board code, line magics and shell
// escapes, runs each in order, and turns board exceptions into Jupyter
// errors with the cell's own line numbers.
package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/magics"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// NoBoardError is the ename of the error a board cell gets when no board is
// connected.
const NoBoardError = "NoBoardError"

// Config configures an Interpreter. The zero value works: paths come from
// the environment (IOT_DEVICES, IOT_STATE_DIR, JPY_SESSION_NAME).
type Config struct {
	// Logger receives the interpreter's logs; nil discards them.
	Logger *slog.Logger
	// Level is the kernel's log level, changed by %loglevel; nil gives
	// %loglevel a level of its own that changes nothing.
	Level *slog.LevelVar
	// DevicesPath is the devices file; "" means devices.DefaultPath().
	DevicesPath string
	// StateDir holds the last board of each notebook; "" means
	// DefaultStateDir(). NoReattach turns the remembering off.
	StateDir   string
	NoReattach bool
	// SessionKey keys the remembered board; "" means $JPY_SESSION_NAME.
	SessionKey string
	// WorkDir is the notebook's host working directory; "" means the
	// process's.
	WorkDir string
	// Timeout bounds each wait for a board (transport.Options.Timeout); 0
	// means the transport's default.
	Timeout time.Duration
	// Magics replaces the default set of magics (magics.Default).
	Magics *magics.Registry
	// Board, when set, is the board the notebook runs on whatever its
	// cells name: the first cell that needs a board connects it (under the
	// devices file's default name, if any), and %connect TARGET connects
	// it under TARGET's name. iot-kernel replay runs a notebook written
	// for one board on another with it.
	Board string
	// SimHome, when set, holds the virtual boards' folders instead of
	// sim.Home(), so that they start empty.
	SimHome string
}

// Interpreter runs notebook cells on the connected board. It implements
// kernel.Interpreter.
type Interpreter struct {
	log  *slog.Logger
	sess *session
	reg  *magics.Registry
	host *magics.Host
	// busy is held while a cell runs; completion and inspection only try
	// it, so they never wait behind a cell or talk over it to the board.
	busy sync.Mutex
	// sources keeps the code cells ran on the board, for inspection.
	sources sourceLog
	// afterCell shows what boards print between cells.
	afterCell afterCell
}

// New returns an Interpreter with no board connected. It does not touch
// any board: the notebook's last board is reattached on the first cell
// that needs it.
func New(cfg Config) *Interpreter {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Level == nil {
		cfg.Level = new(slog.LevelVar)
	}
	if cfg.DevicesPath == "" {
		if p, err := devices.DefaultPath(); err == nil {
			cfg.DevicesPath = p
		} else {
			log.Warn("no devices file", "err", err)
		}
	}
	if cfg.WorkDir == "" {
		if wd, err := os.Getwd(); err == nil {
			cfg.WorkDir = wd
		} else {
			cfg.WorkDir = "/"
		}
	}
	it := &Interpreter{log: log, host: magics.NewHost(cfg.WorkDir, log)}
	it.sess = &session{
		log:         log,
		devicesPath: cfg.DevicesPath,
		opts:        transport.Options{Timeout: cfg.Timeout},
		afterCell:   &it.afterCell,
		sources:     &it.sources,
		open:        transport.Open,
		discover:    serialport.Discover,
		names:       map[*transport.Board]string{},
		run:         it.runOn,
		pin:         strings.TrimSpace(cfg.Board),
		simHome:     cfg.SimHome,
	}
	if !cfg.NoReattach {
		it.sess.state = newLastDevice(cfg, log)
	}
	it.reg = cfg.Magics
	if it.reg == nil {
		it.reg = magics.Default(magics.Options{
			Level: cfg.Level, DevicesPath: cfg.DevicesPath, Logger: log,
			// through the session, so %discover and %connect auto agree
			Discover: func() ([]serialport.Port, error) { return it.sess.discover() },
		})
	}
	return it
}

func newLastDevice(cfg Config, log *slog.Logger) *lastDevice {
	dir := cfg.StateDir
	if dir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			log.Warn("the last board will not be remembered", "err", err)
			return nil
		}
		dir = d
	}
	key := cfg.SessionKey
	if key == "" {
		key = os.Getenv(EnvSessionName)
	}
	return &lastDevice{path: filepath.Join(dir, "last-device.json"), key: key}
}

// Boards returns the session's boards, as the magics see them.
func (it *Interpreter) Boards() magics.Boards { return it.sess }

// Magics returns the registry of magics cells can use.
func (it *Interpreter) Magics() *magics.Registry { return it.reg }

// Execute runs one cell.
func (it *Interpreter) Execute(ctx context.Context, req kernel.ExecuteRequest, out kernel.Output) (kernel.Result, error) {
	it.busy.Lock()
	defer it.busy.Unlock()
	if !req.Silent {
		it.afterCell.set(out)
	}
	code := normalizeNewlines(req.Code)
	if strings.TrimSpace(code) == "" {
		return kernel.Result{}, nil
	}
	var res kernel.Result
	env := &magics.Env{Out: out, Boards: it.sess, Host: it.host, Magics: it.reg, Count: req.ExecutionCount, NoStdin: !req.AllowStdin,
		Result: func(data kernel.MIMEBundle, metadata map[string]any) {
			res = kernel.Result{Data: data, Metadata: metadata} // a cell magic's value (%%host)
		}}
	if m := exitRequest.FindStringSubmatch(code); m != nil && !it.boardHas(ctx, m[1]) {
		// IPython's exit and quit close the frontend (jupyter console);
		// a notebook ignores the request. A board's own name wins.
		return kernel.Result{AskExit: true}, nil
	}
	if name, ok := helpRequest(code); ok {
		return kernel.Result{}, it.help(ctx, env, name)
	}
	data, err := it.runCell(ctx, env, code, req.ExecutionCount)
	if err != nil {
		return kernel.Result{}, err
	}
	if data != nil {
		res = kernel.Result{Data: data}
	}
	res.UserExpressions = it.userExpressions(ctx, req.UserExpressions)
	return res, nil
}

// userExpressions evaluates a request's user_expressions on the current
// board, after the cell, as IPython does in its namespace.
func (it *Interpreter) userExpressions(ctx context.Context, exprs map[string]string) map[string]kernel.ExprValue {
	if len(exprs) == 0 {
		return nil
	}
	out := make(map[string]kernel.ExprValue, len(exprs))
	b := it.sess.connected()
	for name, expr := range exprs {
		if b == nil {
			out[name] = kernel.ExprValue{Err: errorOf(NoBoardError, magics.ErrNoBoard)}
			continue
		}
		repr, err := b.Eval(ctx, expr)
		if err != nil {
			var be *transport.BoardError
			if errors.As(err, &be) {
				out[name] = kernel.ExprValue{Err: &kernel.ExecError{Name: be.Name, Value: be.Value, Traceback: be.Traceback}}
			} else {
				out[name] = kernel.ExprValue{Err: errorOf("Error", err)}
			}
			continue
		}
		out[name] = kernel.ExprValue{Data: kernel.MIMEBundle{"text/plain": repr}}
	}
	return out
}

// KernelInfo adds the banner to kernel_info_reply.
func (it *Interpreter) KernelInfo() kernel.Info {
	return kernel.Info{
		Banner: "iot-kernel: notebook cells run on a MicroPython board.\n" +
			"%connect TARGET attaches one (sim for a virtual board, a serial port, ws://host, rfc2217://host:port, auto or a registered name); %lsmagic lists the magics.",
		HelpLinks: []kernel.HelpLink{
			{Text: "MicroPython", URL: "https://docs.micropython.org/"},
		},
	}
}

// Shutdown lets go of the boards without resetting them, so a restarted
// kernel finds them as they were, and stops the %%host python kernel.
func (it *Interpreter) Shutdown(ctx context.Context, restart bool) error {
	done := make(chan error, 1)
	go func() {
		it.sess.close()
		done <- it.host.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: stopping the host kernel: %w", err)
		}
		return nil
	case <-ctx.Done():
		return errors.New("shutdown: boards or the host kernel did not close in time")
	}
}

var _ kernel.Interpreter = (*Interpreter)(nil)
