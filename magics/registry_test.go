package magics

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

func TestDefaultRegistersEveryMagic(t *testing.T) {
	r := Default(Options{})
	for _, name := range []string{"connect", "disconnect", "discover", "register", "unregister", "softreset",
		"hardreset", "uid", "name", "info", "synctime", "gettime", "lsmagic", "loglevel", "cp", "cd"} {
		if _, ok := r.Lookup(name, Line); !ok {
			t.Errorf("%%%s is not registered", name)
		}
	}
	if _, ok := r.Lookup("connect", Cell); !ok {
		t.Error("the cell magic connect is not registered")
	}
	for _, m := range r.List() {
		if m.Summary == "" || !strings.HasPrefix(m.Help(), "Usage: %") {
			t.Errorf("%s: no summary or help", m.Name)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		words []string
		want  string
		q, a  bool
	}{
		{[]string{"x"}, "x", false, false},
		{[]string{"-q", "x"}, "x", true, false},
		{[]string{"x", "-q"}, "x", true, false},
		{[]string{"x", "-q", "y", "--all"}, "x,y", true, true},
		{[]string{"x", "--", "-q"}, "x,-q", false, false},
		{[]string{"-", "y"}, "-,y", false, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		q := fs.Bool("q", false, "")
		a := fs.Bool("all", false, "")
		args, err := parseInterspersed(fs, tt.words)
		if err != nil {
			t.Errorf("%q: %v", tt.words, err)
			continue
		}
		if strings.Join(args, ",") != tt.want || *q != tt.q || *a != tt.a {
			t.Errorf("%q: args %q q=%v all=%v", tt.words, args, *q, *a)
		}
	}
}

func TestLineAndCellMagicShareAName(t *testing.T) {
	var got []string
	mk := func(kind Kind, tag string) *Magic {
		return &Magic{Name: "both", Kind: kind, Summary: tag, Setup: func(fs *flag.FlagSet) Runner {
			return func(_ context.Context, _ *Env, args []string, body string) error {
				got = append(got, tag+":"+strings.Join(args, ",")+":"+body)
				return nil
			}
		}}
	}
	r := NewRegistry(mk(Line, "line"), mk(Cell, "cell"))
	ctx := context.Background()
	if err := r.Run(ctx, &Env{}, "both a", Line, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx, &Env{}, "both b", Cell, "body"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "line:a: cell:b:body" {
		t.Errorf("ran %q", got)
	}
	if ls := r.List(); len(ls) != 2 || ls[0].Kind != Line || ls[1].Kind != Cell {
		t.Errorf("List = %v", ls)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second line magic of the same name was accepted")
		}
	}()
	r.Add(mk(Line, "again"))
}

func TestCombinedShortBoolFlags(t *testing.T) {
	tests := []struct {
		words   []string
		args    string
		r, f    bool
		wantErr bool
	}{
		{[]string{"-rf", ":lib"}, ":lib", true, true, false},
		{[]string{":lib", "-fr"}, ":lib", true, true, false},
		{[]string{"--", "-rf"}, "-rf", false, false, false},
		{[]string{"-rn", "x"}, "", false, false, true}, // n is a string flag: not combinable
		{[]string{"-rz"}, "", false, false, true},      // z is no flag at all
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		r := fs.Bool("r", false, "")
		f := fs.Bool("f", false, "")
		fs.String("n", "", "")
		args, err := parseInterspersed(fs, tt.words)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, want error %v", tt.words, err, tt.wantErr)
			continue
		}
		if err == nil && (strings.Join(args, ",") != tt.args || *r != tt.r || *f != tt.f) {
			t.Errorf("%q: args %q r=%v f=%v", tt.words, args, *r, *f)
		}
	}
}

// A flag error names the magic as it is written: %%name for a cell magic,
// %name for a line magic, as Usagef's errors do.
func TestFlagErrorsNameTheMagicAsWritten(t *testing.T) {
	mk := func(kind Kind) *Magic {
		return &Magic{Name: "both", Kind: kind, Summary: "s", Setup: func(fs *flag.FlagSet) Runner {
			fs.Int("n", 0, "")
			return func(context.Context, *Env, []string, string) error { return nil }
		}}
	}
	r := NewRegistry(mk(Line), mk(Cell))
	ctx := context.Background()
	for _, tt := range []struct {
		kind       Kind
		line, want string
	}{
		{Cell, "both --bogus", "%%both: flag provided but not defined: -bogus\n"},
		{Cell, "both -n abc", "%%both: invalid value"},
		{Cell, `both "unclosed`, "%%both: cannot split arguments"},
		{Line, "both --bogus", "%both: flag provided but not defined: -bogus\n"},
	} {
		err := r.Run(ctx, &Env{}, tt.line, tt.kind, "")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q (kind %d): %v; want it to start %q", tt.line, tt.kind, err, tt.want)
		}
	}
}

// A tab after a magic's name separates it from its arguments, as a space
// does ("%cd<TAB>DIR" was an unknown magic "cd\tDIR").
func TestTabAfterMagicName(t *testing.T) {
	dir := t.TempDir()
	reg := NewRegistry(HostMagics()...)
	env := &Env{Out: &kerneltest.Recorder{}, Boards: noBoards{}, Host: NewHost(t.TempDir(), nil), Magics: reg}
	if err := reg.Run(context.Background(), env, "cd\t"+dir, Line, ""); err != nil {
		t.Fatalf("%%cd<TAB>DIR: %v", err)
	}
	if got := env.Host.Dir(); got != dir {
		t.Errorf("after %%cd<TAB>%s the directory is %s", dir, got)
	}
}
