package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/iot-kernel/iot-kernel/kernelspec"
)

// scopeFlags are the destination flags shared by install and uninstall,
// named as in `jupyter kernelspec install`.
type scopeFlags struct {
	user, sysPrefix bool
	prefix          string
	prefixSet       bool // --prefix was given
	force           bool
}

func (s *scopeFlags) register(fs *flag.FlagSet, force string) {
	fs.BoolVar(&s.user, "user", false, "use the per-user Jupyter data dir (default; $JUPYTER_DATA_DIR if set)")
	fs.BoolVar(&s.sysPrefix, "sys-prefix", false, "use the active Python environment ($VIRTUAL_ENV or $CONDA_PREFIX)/share/jupyter")
	// A Func flag, not a string: --prefix "" (an unset variable in a
	// script) must not fall back to the user's data dir.
	fs.Func("prefix", "use `DIR`/share/jupyter", func(v string) error {
		if v == "" {
			return errors.New("want a directory (for the per-user data dir, use --user)")
		}
		s.prefix, s.prefixSet = v, true
		return nil
	})
	fs.BoolVar(&s.force, "force", false, force)
}

func (s *scopeFlags) options() (kernelspec.Options, error) {
	n := 0
	for _, set := range []bool{s.user, s.sysPrefix, s.prefixSet} {
		if set {
			n++
		}
	}
	if n > 1 {
		return kernelspec.Options{}, errors.New("use only one of --user, --sys-prefix and --prefix")
	}
	switch {
	case s.sysPrefix:
		return kernelspec.Options{Scope: kernelspec.ScopeSysPrefix, Force: s.force}, nil
	case s.prefixSet:
		return kernelspec.Options{Scope: kernelspec.ScopePrefix, Prefix: s.prefix, Force: s.force}, nil
	}
	return kernelspec.Options{Scope: kernelspec.ScopeUser, Force: s.force}, nil
}

func installFlags(e *env) (*flag.FlagSet, func(context.Context) int) {
	fs := newFlagSet(e, "install")
	var scope scopeFlags
	scope.register(fs, "replace a spec of that name that is another kernel's")
	name := fs.String("name", kernelspec.DefaultName, "kernel `name`: the spec's directory, as in jupyter console --kernel NAME")
	display := fs.String("display-name", kernelspec.DefaultDisplayName, "name shown in the front end's kernel menu")
	return fs, func(context.Context) int {
		opt, err := scope.options()
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel install:", err)
			return exitUsage
		}
		opt.Name, opt.DisplayName = *name, *display // Binary: this one (kernelspec's default)
		dir, err := kernelspec.Install(opt)
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel install:", err)
			return exitError
		}
		fmt.Fprintf(e.stdout, "Installed kernelspec %s in %s\n", filepath.Base(dir), dir)
		return exitOK
	}
}

func uninstallFlags(e *env) (*flag.FlagSet, func(context.Context) int) {
	fs := newFlagSet(e, "uninstall")
	var scope scopeFlags
	scope.register(fs, "remove the spec even if it is another kernel's")
	name := fs.String("name", kernelspec.DefaultName, "kernel `name` to remove")
	return fs, func(context.Context) int {
		opt, err := scope.options()
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel uninstall:", err)
			return exitUsage
		}
		opt.Name = *name
		dir, err := kernelspec.Uninstall(opt)
		if err != nil {
			fmt.Fprintln(e.stderr, "iot-kernel uninstall:", err)
			return exitError
		}
		fmt.Fprintf(e.stdout, "Removed %s\n", dir)
		return exitOK
	}
}
