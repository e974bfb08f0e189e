package magics

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
)

// GeneralMagics returns %lsmagic and %loglevel; level is the kernel's log
// level that %loglevel changes.
func GeneralMagics(level *slog.LevelVar) []*Magic {
	return []*Magic{lsmagicMagic(), loglevelMagic(level)}
}

func lsmagicMagic() *Magic {
	m := &Magic{Name: "lsmagic", Kind: Line, Summary: "List the magics; %NAME -h shows one's options."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) > 0 {
				return Usagef(m, "takes no arguments")
			}
			if env.Magics == nil {
				return fmt.Errorf("%%lsmagic: no magics registered")
			}
			var lines, cells []string
			width := 0
			for _, mm := range env.Magics.List() {
				width = max(width, len(mm.Name)+2)
			}
			for _, mm := range env.Magics.List() {
				if mm.Kind&Line != 0 {
					lines = append(lines, fmt.Sprintf("  %-*s %s", width, "%"+mm.Name, firstSentence(mm.Summary)))
				}
				if mm.Kind&Cell != 0 {
					cells = append(cells, fmt.Sprintf("  %-*s %s", width, "%%"+mm.Name, firstSentence(mm.Summary)))
				}
			}
			var b strings.Builder
			b.WriteString("Line magics (on a line of their own, anywhere in a cell):\n")
			b.WriteString(strings.Join(lines, "\n"))
			b.WriteString("\n\nCell magics (on the first line; they take the whole cell):\n")
			b.WriteString(strings.Join(cells, "\n"))
			b.WriteString("\n\n!COMMAND runs COMMAND in the host's shell. %NAME -h shows a magic's options.\n")
			env.Out.Stream("stdout", b.String())
			return nil
		}
	}
	return m
}

// firstSentence shortens a summary for a listing: its first sentence,
// which may go on over several lines.
func firstSentence(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return strings.TrimSuffix(s, " ")
}

func loglevelMagic(level *slog.LevelVar) *Magic {
	if level == nil {
		level = new(slog.LevelVar)
	}
	m := &Magic{Name: "loglevel", Kind: Line, Args: "[debug|info|warn|error]",
		Summary: "Show or set how much the kernel logs (to its own log, not the notebook)."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			switch len(args) {
			case 0:
				env.Out.Stream("stdout", "Log level: "+level.Level().String()+"\n")
				return nil
			case 1:
			default:
				return Usagef(m, "want one LEVEL")
			}
			var l slog.Level
			word := strings.ToLower(args[0])
			if word == "warning" {
				word = "warn"
			}
			if err := l.UnmarshalText([]byte(word)); err != nil {
				return Usagef(m, "unknown level %q (want debug, info, warn or error)", args[0])
			}
			level.Set(l)
			env.Out.Stream("stdout", "Log level: "+l.String()+"\n")
			return nil
		}
	}
	return m
}
