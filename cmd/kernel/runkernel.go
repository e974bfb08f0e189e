package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/cells"
	"github.com/iot-kernel/iot-kernel/kernel"
)

// shutdownGrace bounds how long the kernel waits for a clean shutdown after
// SIGTERM or the death of its parent before it gives up and exits.
const shutdownGrace = 1500 * time.Millisecond

// errStop is the cause given to the kernel's context when a signal or the
// parent's death stops it: an orderly end, not a failure.
var errStop = errors.New("kernel asked to stop")

// runDetails is the end of `iot-kernel help run`.
const runDetails = `signals:
  SIGINT          interrupt the running cell, as interrupt_request does
  SIGTERM, SIGHUP shut down cleanly
  SIGUSR1         log one line on stderr and keep running:
                  msg="runtime stats" goroutines=N heap_alloc=B heap_goal=B
                  go_mapped=B rss=B rss_anon=B rss_file=B threads=N
                  (sizes in bytes; rss* and threads on Linux only; logged
                  whatever the log level)

The kernel also stops when the process that started it exits (the one in
JPY_PARENT_PID, or its parent process).
`

// envMaxMessage names the environment variable that sets --max-message-mb
// (a kernelspec's argv is fixed, its env is easy to edit).
const envMaxMessage = "IOT_MAX_MESSAGE_MB"

// envLogLevel names the environment variable that sets --log-level.
const envLogLevel = "IOT_LOG_LEVEL"

func runFlags(e *env) (*flag.FlagSet, func(context.Context) int) {
	fs := newFlagSet(e, "run")
	connFile := fs.String("f", "", "the connection `file` Jupyter wrote (required)")
	// Warnings and errors only by default, as ipykernel: jupyter console
	// and papermill show a kernel's stderr among the user's output.
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	fs.Var(levelFlag{level}, "log-level", "log `level` on stderr: debug, info, warn or error; default from $"+envLogLevel)
	maxMB := fs.Int("max-message-mb", kernel.DefaultMaxMessageBytes>>20,
		"refuse (with an error reply and a logged error) a received message larger than this many `MiB`, e.g. a huge cell; default from $"+envMaxMessage)
	return fs, func(ctx context.Context) int {
		if *connFile == "" {
			fmt.Fprintln(e.stderr, "iot-kernel run: -f CONNECTION_FILE is required")
			fs.Usage()
			return exitUsage
		}
		if err := logLevelFromEnv(fs, level, os.Getenv(envLogLevel)); err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel run:", err)
			return exitUsage
		}
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
		limit, err := maxMessageBytes(fs, *maxMB, os.Getenv(envMaxMessage))
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel run:", err)
			return exitUsage
		}
		oneProcessor()
		// Stats are asked for with a signal, so they are logged whatever
		// the level.
		stats := slog.New(slog.NewTextHandler(e.stderr, nil))
		if err := serve(ctx, *connFile, level, log, stats, limit); err != nil {
			log.Error("iot-kernel run failed", "err", err)
			return exitError
		}
		return exitOK
	}
}

// oneProcessor runs the kernel's goroutines on one processor unless
// $GOMAXPROCS says otherwise. A kernel waits on its sockets and its board;
// with more processors, every message it handles wakes an idle thread of
// its own, which costs more than the work and takes a core from the board
// (the virtual board and its client share the machine): measured by make
// bench, a third less CPU per cell and shorter cells.
func oneProcessor() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// errNotLevel is what a log level that is none says.
var errNotLevel = errors.New("not a log level (debug, info, warn or error)")

// levelFlag is --log-level: slog's own parse error names its internals.
type levelFlag struct{ v *slog.LevelVar }

func (f levelFlag) String() string {
	if f.v == nil {
		return ""
	}
	return f.v.Level().String()
}

func (f levelFlag) Set(s string) error {
	if f.v.UnmarshalText([]byte(strings.TrimSpace(s))) != nil {
		return errNotLevel
	}
	return nil
}

// logLevelFromEnv sets level from env (the value of $IOT_LOG_LEVEL) unless
// --log-level was given.
func logLevelFromEnv(fs *flag.FlagSet, level *slog.LevelVar, env string) error {
	if flagGiven(fs, "log-level") || strings.TrimSpace(env) == "" {
		return nil
	}
	if (levelFlag{level}).Set(env) != nil {
		return fmt.Errorf("%s=%q: %w", envLogLevel, env, errNotLevel)
	}
	return nil
}

// maxMessageBytes is the bound on a received message: --max-message-mb
// when given, else $IOT_MAX_MESSAGE_MB when set, else the default.
func maxMessageBytes(fs *flag.FlagSet, flagMB int, envMB string) (int, error) {
	mb, from := flagMB, fmt.Sprintf("--max-message-mb %d", flagMB)
	if !flagGiven(fs, "max-message-mb") && envMB != "" {
		n, err := strconv.Atoi(strings.TrimSpace(envMB))
		if err != nil {
			return 0, fmt.Errorf("%s=%q: not a whole number of MiB", envMaxMessage, envMB)
		}
		mb, from = n, fmt.Sprintf("%s=%q", envMaxMessage, envMB)
	}
	if mb < 1 || mb > 1<<20 {
		return 0, fmt.Errorf("%s: the message limit must be 1 to %d MiB", from, 1<<20)
	}
	return mb << 20, nil
}

// serve runs the kernel until a client shuts it down, ctx ends, SIGTERM or
// SIGHUP arrives, or the process that started it dies. SIGINT interrupts the
// running cell, as interrupt_request does; SIGUSR1 logs runtime stats.
func serve(ctx context.Context, connFile string, level *slog.LevelVar, log, stats *slog.Logger, maxMessage int) error {
	// Before the ports open: once a client can reach the kernel, a signal
	// it sends is the kernel's to handle, never the default action.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, append([]os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}, statsSignals()...)...)
	defer signal.Stop(sigs)

	conn, err := kernel.ReadConnectionFile(connFile)
	if err != nil {
		return err // already says which file and why
	}
	interp := newReleasingInterp(cells.New(cells.Config{Logger: log.With("component", "cells"), Level: level,
		SessionKey: cells.SessionKeyFor(os.Getenv(cells.EnvSessionName), conn.Key)}))
	defer interp.stop()
	srv, err := kernel.NewServer(kernel.Config{
		Conn:    conn,
		Interp:  interp,
		Logger:  log,
		Version: versionString(),
		// A message over the bound is dropped and logged, never kept.
		MaxMessageBytes: maxMessage,
	})
	if err != nil {
		return fmt.Errorf("start kernel: %w", err)
	}

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	// When the launcher dies without shutting the kernel down, exit rather
	// than linger as an orphan holding the ports.
	launcher := launcherPID(log)
	parentGone := kernel.WatchParent(ctx, launcher)

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	for {
		select {
		case err := <-done:
			return err
		case sig := <-sigs:
			if sig == os.Interrupt {
				log.Info("SIGINT: interrupting the running cell")
				srv.Interrupt()
				continue
			}
			if slices.Contains(statsSignals(), sig) {
				logRuntimeStats(stats)
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			stop(fmt.Errorf("%w by signal %v", errStop, sig))
		case <-parentGone:
			log.Warn("the process that started the kernel has exited; shutting down", "parent_pid", os.Getppid(), "jpy_parent_pid", launcher)
			stop(fmt.Errorf("%w: parent process exited", errStop))
		case <-ctx.Done():
		}
		// Shutting down: give the server a bounded time to finish.
		select {
		case err := <-done:
			if errors.Is(err, errStop) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-time.After(shutdownGrace):
			return fmt.Errorf("no clean shutdown within %v (%v)", shutdownGrace, context.Cause(ctx))
		}
	}
}
