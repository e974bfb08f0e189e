package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad command line, as the flag package uses
)

// command is one subcommand. Its help text is generated from its flag set,
// so it cannot drift from what it parses.
type command struct {
	name    string
	args    string // argument synopsis after the name
	summary string
	flags   func(*env) (*flag.FlagSet, func(ctx context.Context) int)
	details string // printed after the flags in the command's help
	// positional: the command takes arguments after its flags.
	positional bool
}

// env is what a subcommand runs with.
type env struct {
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"run", "-f CONNECTION_FILE [--log-level LEVEL] [--max-message-mb N]", "run the kernel (Jupyter starts this)", runFlags, runDetails, false},
		{"install", "[--user|--sys-prefix|--prefix DIR] [--name N] [--display-name T] [--force]", "install the kernel spec so Jupyter can find the kernel", installFlags, "", false},
		{"uninstall", "[--name N] [--user|--sys-prefix|--prefix DIR] [--force]", "remove the kernel spec", uninstallFlags, "", false},
		{"replay", "[flags] NOTEBOOK...", "run notebooks on a board and compare each cell's outputs with the stored ones", replayFlags, replayDetails, true},
		{"version", "", "print the version", versionFlags, "", false},
		{"help", "[COMMAND]", "show help for a command", nil, "", false},
	}
}

// run is the whole program: it parses args (without the program name),
// runs the subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(e, rest)
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "iot-kernel: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	fs, do := cmd.flags(e)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, rest, cmd.positional); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 && !cmd.positional {
		fmt.Fprintf(stderr, "iot-kernel %s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return do(ctx)
}

// parseFlags parses args into fs. With positional set, flags may come
// after the arguments too (`replay a.ipynb b.ipynb --junit r.xml`), as
// they do in the commands people paste into CI; "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string, positional bool) error {
	if !positional {
		return fs.Parse(args)
	}
	var rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], append(rest, args[i+1:]...)
			break
		}
	}
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return fs.Parse(append([]string{"--"}, append(pos, rest...)...))
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name && c.flags != nil {
			return c, true
		}
	}
	return command{}, false
}

// newFlagSet returns a flag set whose usage shows the command's synopsis.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("iot-kernel "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		c, _ := lookup(name)
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s.\n", strings.TrimSpace("iot-kernel "+c.name+" "+c.args), capitalize(c.summary))
		if hasFlags(fs) {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
		if c.details != "" {
			fmt.Fprintf(fs.Output(), "\n%s", c.details)
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "iot-kernel %s: a Jupyter kernel for MicroPython boards\n\nusage: iot-kernel COMMAND [flags]\n\ncommands:\n", versionString())
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'iot-kernel help COMMAND' for a command's flags.\n")
}

func help(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stdout)
		return exitOK
	}
	cmd, ok := lookup(args[0])
	if !ok {
		if args[0] == "help" {
			usage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "iot-kernel help: unknown command %q\n", args[0])
		return exitUsage
	}
	fs, _ := cmd.flags(e)
	fs.SetOutput(e.stdout)
	fs.Usage()
	return exitOK
}

func versionFlags(e *env) (*flag.FlagSet, func(context.Context) int) {
	fs := newFlagSet(e, "version")
	return fs, func(context.Context) int {
		fmt.Fprintln(e.stdout, "iot-kernel", versionString())
		return exitOK
	}
}

// versionString is the -ldflags version, else the module version, else
// "devel" with the VCS revision the binary was built from.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		v += "-" + rev[:min(len(rev), 12)]
		if modified == "true" {
			v += "-dirty"
		}
	}
	return v
}
