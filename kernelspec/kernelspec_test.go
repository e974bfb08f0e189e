package kernelspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernelspec/internal/logo"
)

// isolate points every variable the data dir rules read at temp dirs, so
// no test can touch the real user's Jupyter dirs.
func isolate(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"JUPYTER_DATA_DIR", "XDG_DATA_HOME", "VIRTUAL_ENV", "CONDA_PREFIX", "APPDATA"} {
		t.Setenv(v, "")
	}
	return home
}

func readSpec(t *testing.T, dir string) Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("kernel.json is not JSON: %v\n%s", err, b)
	}
	return s
}

func TestInstallDestination(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the default user dir checked here is Linux's; CI runs on Linux")
	}
	tests := []struct {
		name    string
		env     map[string]string // relative values are joined to a temp root
		opt     Options
		wantDir string // relative to the temp root
		wantErr string
	}{
		{
			name:    "user scope uses JUPYTER_DATA_DIR",
			env:     map[string]string{"JUPYTER_DATA_DIR": "jdd", "XDG_DATA_HOME": "xdg"},
			wantDir: "jdd/kernels/iot-micropython",
		},
		{
			name:    "user scope falls back to XDG_DATA_HOME",
			env:     map[string]string{"XDG_DATA_HOME": "xdg"},
			wantDir: "xdg/jupyter/kernels/iot-micropython",
		},
		{
			name:    "user scope falls back to ~/.local/share",
			wantDir: "home/.local/share/jupyter/kernels/iot-micropython",
		},
		{
			name:    "sys-prefix uses the active virtualenv",
			env:     map[string]string{"VIRTUAL_ENV": "venv", "CONDA_PREFIX": "conda", "JUPYTER_DATA_DIR": "jdd"},
			opt:     Options{Scope: ScopeSysPrefix},
			wantDir: "venv/share/jupyter/kernels/iot-micropython",
		},
		{
			name:    "sys-prefix uses a conda env",
			env:     map[string]string{"CONDA_PREFIX": "conda"},
			opt:     Options{Scope: ScopeSysPrefix},
			wantDir: "conda/share/jupyter/kernels/iot-micropython",
		},
		{
			name:    "sys-prefix without an environment explains",
			opt:     Options{Scope: ScopeSysPrefix},
			wantErr: "VIRTUAL_ENV",
		},
		{
			name:    "prefix",
			env:     map[string]string{"JUPYTER_DATA_DIR": "jdd"},
			opt:     Options{Scope: ScopePrefix, Prefix: "pfx"},
			wantDir: "pfx/share/jupyter/kernels/iot-micropython",
		},
		{
			name:    "prefix scope needs a prefix",
			opt:     Options{Scope: ScopePrefix},
			wantErr: "prefix",
		},
		{
			name:    "name is lowercased like jupyter_client does",
			env:     map[string]string{"JUPYTER_DATA_DIR": "jdd"},
			opt:     Options{Name: "My-Board_2.x"},
			wantDir: "jdd/kernels/my-board_2.x",
		},
		{
			name:    "invalid name",
			env:     map[string]string{"JUPYTER_DATA_DIR": "jdd"},
			opt:     Options{Name: "../evil"},
			wantErr: "invalid kernel name",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			root := t.TempDir()
			t.Setenv("HOME", filepath.Join(root, "home"))
			for k, v := range tc.env {
				t.Setenv(k, filepath.Join(root, v))
			}
			opt := tc.opt
			if opt.Prefix != "" {
				opt.Prefix = filepath.Join(root, opt.Prefix)
			}
			opt.Binary = "/opt/iot/bin/iot-kernel"
			dir, err := Install(opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Install error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.wantDir); dir != want {
				t.Fatalf("installed in %s, want %s", dir, want)
			}
			for _, f := range []string{"kernel.json", "logo-32x32.png", "logo-64x64.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
		})
	}
}

func TestKernelJSON(t *testing.T) {
	isolate(t)
	jdd := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", jdd)
	dir, err := Install(Options{Binary: "/usr/local/bin/iot-kernel", DisplayName: "Boards", Metadata: map[string]any{"debugger": false}})
	if err != nil {
		t.Fatal(err)
	}
	got := readSpec(t, dir)
	want := []string{"/usr/local/bin/iot-kernel", "run", "-f", "{connection_file}"}
	if strings.Join(got.Argv, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("argv = %q, want %q", got.Argv, want)
	}
	if got.DisplayName != "Boards" || got.Language != "python" || got.InterruptMode != "message" {
		t.Errorf("kernel.json = %+v", got)
	}
	if got.Metadata["debugger"] != false {
		t.Errorf("metadata = %v, want debugger false", got.Metadata)
	}
}

func TestDefaultsAndRelativeBinary(t *testing.T) {
	isolate(t)
	t.Setenv("JUPYTER_DATA_DIR", t.TempDir())
	t.Chdir(t.TempDir())
	dir, err := Install(Options{Binary: "bin/iot-kernel"})
	if err != nil {
		t.Fatal(err)
	}
	s := readSpec(t, dir)
	if !filepath.IsAbs(s.Argv[0]) || !strings.HasSuffix(s.Argv[0], "/bin/iot-kernel") {
		t.Errorf("argv[0] = %q, want an absolute path to bin/iot-kernel", s.Argv[0])
	}
	if s.DisplayName != DefaultDisplayName || filepath.Base(dir) != DefaultName {
		t.Errorf("defaults not applied: dir %s, display name %q", dir, s.DisplayName)
	}

	// No binary given: the running executable is used.
	dir, err = Install(Options{Name: "self"})
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if got := readSpec(t, dir).Argv[0]; got != exe {
		t.Errorf("argv[0] = %q, want the running executable %q", got, exe)
	}
}

func TestReinstallReplaces(t *testing.T) {
	isolate(t)
	jdd := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", jdd)
	dir, err := Install(Options{Binary: "/a/iot-kernel", DisplayName: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(Options{Binary: "/b/iot-kernel", DisplayName: "New"}); err != nil {
		t.Fatal(err)
	}
	s := readSpec(t, dir)
	if s.DisplayName != "New" || s.Argv[0] != "/b/iot-kernel" {
		t.Errorf("reinstall kept the old spec: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reinstall kept a file of the old spec")
	}
	entries, err := os.ReadDir(filepath.Join(jdd, "kernels"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("kernels dir holds %d entries, want just the spec (no temp dirs left)", len(entries))
	}
}

func TestUninstall(t *testing.T) {
	isolate(t)
	jdd := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", jdd)
	prefix := t.TempDir()

	userDir, err := Install(Options{Binary: "/x/iot-kernel"})
	if err != nil {
		t.Fatal(err)
	}
	prefixDir, err := Install(Options{Scope: ScopePrefix, Prefix: prefix, Binary: "/x/iot-kernel"})
	if err != nil {
		t.Fatal(err)
	}

	// Removing from the prefix leaves the user's spec alone.
	if dir, err := Uninstall(Options{Scope: ScopePrefix, Prefix: prefix}); err != nil || dir != prefixDir {
		t.Fatalf("Uninstall = %q, %v; want %q", dir, err, prefixDir)
	}
	if _, err := os.Stat(prefixDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("prefix spec still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(userDir, "kernel.json")); err != nil {
		t.Errorf("user spec went away: %v", err)
	}

	// A second removal reports that nothing is there.
	_, err = Uninstall(Options{Scope: ScopePrefix, Prefix: prefix})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second uninstall error = %v, want fs.ErrNotExist", err)
	}

	// A directory that is not a kernel spec is never removed.
	other := filepath.Join(jdd, "kernels", "notaspec")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Uninstall(Options{Name: "notaspec"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("uninstall of a non-spec dir error = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("non-spec dir was removed: %v", err)
	}

	if _, err := Uninstall(Options{Name: "IOT-MicroPython"}); err != nil {
		t.Fatalf("uninstall by name in another case: %v", err)
	}
	if _, err := os.Stat(userDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("user spec still there: %v", err)
	}
}

// Another kernel's spec of the same name is neither replaced by Install
// nor removed by Uninstall, unless forced.
func TestForeignSpecKept(t *testing.T) {
	isolate(t)
	prefix := t.TempDir()
	dir := filepath.Join(prefix, "share", "jupyter", "kernels", "python3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ipy := `{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3", "language": "python"}`
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), []byte(ipy), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := Options{Scope: ScopePrefix, Prefix: prefix, Name: "python3", Binary: "/x/iot-kernel"}
	kept := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(dir, "kernel.json")); err != nil || string(b) != ipy {
			t.Fatalf("%s: the Python spec is gone or changed: %v %s", what, err, b)
		}
	}
	for _, tt := range []struct {
		what string
		do   func(Options) (string, error)
	}{{"Uninstall", Uninstall}, {"Install", Install}} {
		_, err := tt.do(opt)
		if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--force") ||
			!strings.Contains(err.Error(), "ipykernel_launcher") {
			t.Errorf("%s over ipykernel's spec = %v, want ErrNotOurs naming %s and --force", tt.what, err, dir)
		}
		kept(tt.what)
	}
	// a directory of that name that holds no spec is no spec of ours either
	bare := filepath.Join(prefix, "share", "jupyter", "kernels", "bare")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(Options{Scope: ScopePrefix, Prefix: prefix, Name: "bare", Binary: "/x/iot-kernel"}); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Install over a directory without kernel.json = %v, want ErrNotOurs", err)
	}
	if err := os.WriteFile(filepath.Join(bare, "kernel.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Uninstall(Options{Scope: ScopePrefix, Prefix: prefix, Name: "bare"}); !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "starts no program") {
		t.Errorf("Uninstall of a spec with no argv = %v, want ErrNotOurs", err)
	}

	opt.Force = true
	if _, err := Install(opt); err != nil {
		t.Fatalf("Install --force: %v", err)
	}
	opt.Force = false
	if _, err := Install(opt); err != nil {
		t.Fatalf("reinstall over our own spec: %v", err)
	}
	if _, err := Uninstall(opt); err != nil {
		t.Fatalf("Uninstall of our own spec: %v", err)
	}
}

// TestLogosAreCurrent checks the committed PNGs are valid, have the sizes
// Jupyter expects, and match what the generator draws now (run
// `go generate ./kernelspec` after changing the drawing).
func TestLogosAreCurrent(t *testing.T) {
	for _, tc := range []struct {
		size int
		data []byte
	}{{32, logo32}, {64, logo64}} {
		img, err := png.Decode(bytes.NewReader(tc.data))
		if err != nil {
			t.Fatalf("logo %d: %v", tc.size, err)
		}
		if b := img.Bounds(); b.Dx() != tc.size || b.Dy() != tc.size {
			t.Fatalf("logo %d is %v", tc.size, b)
		}
		want := logo.Render(tc.size)
		got, ok := img.(*image.NRGBA)
		if !ok || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("logo-%dx%d.png is stale: run go generate ./kernelspec", tc.size, tc.size)
		}
	}
}
