// Command testboard runs an emulated MicroPython board for tests.
//
// Usage:
//
//	testboard [-kind microbit|wasm] [-pace BAUD] [-webrepl PASSWORD] [-rfc2217] [-v]
//
// It starts the board and prints one line with the path of its serial
// device, then one line with the WebREPL URL (ws://...) if -webrepl is
// given, then one with the RFC 2217 URL (rfc2217://...) if -rfc2217 is
// given. It runs until its standard input ends or it gets SIGINT or
// SIGTERM, then stops everything.
//
// Lines on standard input drive the board: "kill" unplugs it, "restart"
// plugs it in again (same device path); each answers one line, "ok" or
// "error: ...".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testboard:", err)
		os.Exit(1)
	}
}

func run() error {
	kind := flag.String("kind", string(testboard.Microbit), "board: microbit or wasm")
	pace := flag.Int("pace", -1, "pace host-to-board bytes at this baud rate (0 = no pacing; default: the board's own, 115200 for the micro:bit's UART)")
	webrepl := flag.String("webrepl", "", "also serve WebREPL with this password")
	rfc2217 := flag.Bool("rfc2217", false, "also serve RFC 2217 through ser2net")
	repo := flag.String("repo", "", "directory holding node_modules (wasm); default: found from the working directory")
	verbose := flag.Bool("v", false, "log board events to stderr")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		return errors.New("unexpected arguments")
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case *pace < 0:
		*pace = 0 // the board's own
	case *pace == 0:
		*pace = -1 // none
	}

	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	b, err := testboard.Start(startCtx, testboard.Kind(*kind), testboard.Options{
		PaceBaud: *pace,
		Logger:   logger,
		RepoRoot: *repo,
	})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Println(b.Path())

	if *webrepl != "" {
		s, err := testboard.StartWebREPL(startCtx, b, *webrepl)
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println(s.URL())
	}
	if *rfc2217 {
		s, err := testboard.StartRFC2217(startCtx, b)
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println(s.URL())
	}

	done := make(chan error, 1)
	go func() { done <- commands(ctx, b, os.Stdin, os.Stdout) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	}
}

// commands serves the lines on stdin until it ends.
func commands(ctx context.Context, b *testboard.Board, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var err error
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "":
			continue
		case "kill":
			err = b.Kill()
		case "restart":
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err = b.Restart(rctx)
			cancel()
		default:
			err = fmt.Errorf("unknown command %q (want kill or restart)", cmd)
		}
		if err != nil {
			fmt.Fprintln(out, "error:", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	return nil
}
