package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/cells"
	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/transport"
)

// A notebook of three cells as a person saved it: the second's stored
// output is deliberately not what the board prints.
const replayNotebook = `{
 "cells": [
  {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [
    {"name": "stdout", "output_type": "stream", "text": ["Connected to esp32 @ /dev/ttyUSB0\n"]}],
   "source": ["%connect esp32"]},
  {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [
    {"name": "stdout", "output_type": "stream", "text": ["sum is 6\n"]}],
   "source": ["print('sum is', sum([1, 2, 4]))"]},
  {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [
    {"data": {"text/plain": ["'micropython'"]}, "execution_count": 3, "metadata": {}, "output_type": "execute_result"}],
   "source": ["import sys\n", "sys.implementation.name"]}
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 5
}
`

func TestReplayOnSim(t *testing.T) {
	if _, err := sim.FindRuntime(context.Background()); err != nil {
		testenv.SkipOrFail(t, "virtual board: %v", err)
	}
	dir := t.TempDir()
	t.Setenv("IOT_DEVICES", filepath.Join(dir, "devices.yaml")) // none: not the user's
	t.Setenv("IOT_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("GITHUB_ACTIONS", "true")
	nb := filepath.Join(dir, "sum.ipynb")
	if err := os.WriteFile(nb, []byte(replayNotebook), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.xml")
	code, out, errs := runCLI(t, "replay", "--board", "sim", nb, "--junit", report)
	if code != exitError {
		t.Fatalf("exit %d, want %d for a mismatch\nstdout:\n%s\nstderr:\n%s", code, exitError, out, errs)
	}
	for _, want := range []string{
		"FAIL " + nb + " on sim: 2 passed, 1 failed",
		"cell 2: print('sum is', sum([1, 2, 4]))",
		"--- stored cell 2", "+++ new cell 2", "-sum is 6", "+sum is 7",
		"::error file=" + nb + ",line=6,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuitesForTest
	if err := xml.Unmarshal(b, &suites); err != nil || suites.Tests != 3 || suites.Failures != 1 {
		t.Errorf("junit (%v): %+v\n%s", err, suites, b)
	}

	// --update accepts the new output; the replay then passes.
	if code, out, errs := runCLI(t, "replay", "--board", "sim", "--update", nb); code != exitOK {
		t.Fatalf("--update: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "replay", "--board", "sim", nb); code != exitOK {
		t.Fatalf("after --update: exit %d\n%s\n%s", code, out, errs)
	}
	after, _ := os.ReadFile(nb)
	if !strings.Contains(string(after), `"sum is 7\n"`) || !strings.Contains(string(after), `"Connected to esp32 @ /dev/ttyUSB0\n"`) {
		t.Errorf("--update wrote:\n%s", after)
	}
}

type junitSuitesForTest struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
}

func TestReplayUsage(t *testing.T) {
	devs := filepath.Join(t.TempDir(), "devices.yaml")
	if err := os.WriteFile(devs, []byte("esp32: /dev/ttyUSB7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IOT_DEVICES", devs)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "no notebook given"},
		{[]string{"replay", "--board", "/dev/ttyUSB0*2", "x.ipynb"}, "only virtual boards"},
		{[]string{"replay", "--board", "sim*0", "x.ipynb"}, "N from 1 to 64"},
		{[]string{"replay", "--sanitize", "/nonexistent.cfg", "x.ipynb"}, "--sanitize"},
		// said once, before any notebook runs
		{[]string{"replay", "--board", "bogus", "x.ipynb"}, `--board: unknown board "bogus": not a board address (sim, sim:NAME, a serial port, ws://, rfc2217://, serial://), nor a device in ` + devs + " (registered: esp32)"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, exitUsage, tc.want)
		}
	}
}

func TestParseFlagsInterspersed(t *testing.T) {
	e := &env{stdout: &strings.Builder{}, stderr: &strings.Builder{}}
	fs, _ := replayFlags(e)
	// As pasted into CI: flags after the notebooks; after "--" all are notebooks.
	if err := parseFlags(fs, []string{"--board", "sim", "a.ipynb", "b.ipynb", "--junit", "r.xml", "--", "--update"}, true); err != nil {
		t.Fatal(err)
	}
	if got := fs.Args(); strings.Join(got, " ") != "a.ipynb b.ipynb --update" {
		t.Errorf("arguments %q", got)
	}
	if got := fs.Lookup("junit").Value.String(); got != "r.xml" {
		t.Errorf("--junit after the notebooks: %q", got)
	}
	if got := fs.Lookup("update").Value.String(); got != "false" {
		t.Errorf("--update after -- was taken as a flag")
	}
}

// --update on a symlinked notebook (a notebooks folder linked into a
// project) writes the link's target and leaves the link a link.
func TestWriteNotebookThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.ipynb")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.ipynb")
	if err := os.Symlink("real.ipynb", link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if err := writeNotebook(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	st, err := os.Stat(target)
	if b, _ := os.ReadFile(target); string(b) != "new" || err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the target holds %q, mode %v (%v); want \"new\", 0600", b, st.Mode(), err)
	}
}

// The kernel's errors for a board it cannot reach end a replayed notebook;
// an error of the cell's own code that looks alike does not.
func TestBoardUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&kernel.ExecError{Name: cells.NoBoardError, Value: "no board connected — use %connect TARGET (connecting to esp32 failed: no such port)"}, true},
		{&kernel.ExecError{Name: "ConnectionError", Value: "sim: " + transport.ErrLinkLost.Error() + ": EOF (the next cell starts it again)",
			Err: fmt.Errorf("sim: %w: EOF (the next cell starts it again)", transport.ErrLinkLost)}, true},
		// matched by the error it wraps, never by its text
		{&kernel.ExecError{Name: "ConnectionError", Value: "sim: " + transport.ErrLinkLost.Error()}, false},
		{fmt.Errorf("run: %w", transport.ErrLinkLost), true},
		{&kernel.ExecError{Name: "ConnectionError", Value: "HTTPConnectionPool(host='localhost', port=80): Max retries exceeded"}, false},
		{&kernel.ExecError{Name: "OSError", Value: "[Errno 113] EHOSTUNREACH"}, false},
	} {
		if got := boardUnreachable(tc.err); got != tc.want {
			t.Errorf("boardUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
