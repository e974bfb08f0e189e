package devices

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []Device
		wantErr string // substring; "" means no error
	}{
		{name: "empty", yaml: "", want: nil},
		{name: "only comments", yaml: "# nothing yet\n", want: nil},
		{name: "full entry", yaml: "kitchen:\n  url: ws://10.0.0.2:8266\n  password: pw\n  uid: ABCD\n",
			want: []Device{{Name: "kitchen", URL: "ws://10.0.0.2:8266", Password: "pw", UID: "abcd", Line: 1}}},
		{name: "short form", yaml: "bench: /dev/ttyACM0\n",
			want: []Device{{Name: "bench", URL: "/dev/ttyACM0", Line: 1}}},
		{name: "order kept", yaml: "b: /dev/b\na: /dev/a\n",
			want: []Device{{Name: "b", URL: "/dev/b", Line: 1}, {Name: "a", URL: "/dev/a", Line: 2}}},
		{name: "uid only", yaml: "x:\n  uid: 0102\n", want: []Device{{Name: "x", UID: "0102", Line: 1}}},
		{name: "syntax error", yaml: "a:\n  url: x\n b: [\n", wantErr: "devices.yaml:2: did not find expected key"},
		{name: "tab indentation", yaml: "a:\n\turl: x\n", wantErr: "devices.yaml:2: "},
		{name: "password in url", yaml: "a:\n  url: ws://:sekrit@10.0.0.2\n", wantErr: `devices.yaml:2: device "a": a board URL must not hold a password`},
		{name: "password in short form", yaml: "a: ws://me:sekrit@10.0.0.2/\n", wantErr: `devices.yaml:1: device "a": a board URL must not hold a password`},
		{name: "not a mapping", yaml: "- a\n- b\n", wantErr: "devices.yaml:1: expected a mapping"},
		{name: "unknown key", yaml: "a:\n  url: x\n  pasword: y\n", wantErr: `devices.yaml:3: device "a": unknown key "pasword"`},
		{name: "duplicate", yaml: "a: /dev/x\nb: /dev/y\na: /dev/z\n", wantErr: `devices.yaml:3: device "a" already defined at line 1`},
		{name: "key twice in an entry", yaml: "bench:\n  url: /dev/ttyUSB0\n  url: /dev/ttyUSB1\n", wantErr: `devices.yaml:3: device "bench": url already given at line 2`},
		{name: "host twice", yaml: "s:\n  url: sim\n  hosts:\n    a: b\n    a: c\n", wantErr: `devices.yaml:5: device "s": hosts: a already given at line 4`},
		{name: "second document", yaml: "a: /dev/ttyUSB0\n---\nkitchen:\n  url: ws://10.0.0.2:8266\n  password: sekrit\n", wantErr: `devices.yaml:2: a second YAML document (---)`},
		{name: "comment-only second document", yaml: "a: /dev/ttyUSB0\n---\n# old boards\n", wantErr: `devices.yaml:2: a second YAML document`},
		{name: "explicit first document", yaml: "---\na: /dev/ttyUSB0\n", want: []Device{{Name: "a", URL: "/dev/ttyUSB0", Line: 2}}},
		{name: "url no address", yaml: "x:\n  url: esp32\n", wantErr: `devices.yaml:2: device "x": url: "esp32": not a board address`},
		{name: "relative path no address", yaml: "x:\n  url: dev/ttyUSB0\n  uid: ab\n", wantErr: `devices.yaml:2: device "x": url: "dev/ttyUSB0": not a board address`},
		{name: "unknown scheme", yaml: "x: http://10.0.0.2\n", wantErr: `devices.yaml:1: device "x": "http://10.0.0.2": unknown kind of board address`},
		{name: "unknown scheme with password", yaml: "x: http://me:sekrit@10.0.0.2\n", wantErr: `devices.yaml:1: device "x": a board URL must not hold a password`},
		{name: "name is an address", yaml: "sim:\n  url: ws://10.0.0.2:8266\n", wantErr: `devices.yaml:1: the name "sim" is itself a board address`},
		{name: "serial path as name", yaml: "/dev/ttyUSB0: ws://10.0.0.2:8266\n", wantErr: `devices.yaml:1: the name "/dev/ttyUSB0" is itself a board address`},
		{name: "no url nor uid", yaml: "a:\n  password: p\n", wantErr: `devices.yaml:1: device "a" has neither url nor uid`},
		{name: "empty short form", yaml: "a: ''\n", wantErr: `devices.yaml:1: device "a" has an empty address`},
		{name: "tagged empty short form", yaml: "a: !x\n", wantErr: `devices.yaml:1: device "a" has an empty address`},
		{name: "list value", yaml: "a:\n  url: [x]\n", wantErr: `devices.yaml:2: device "a": url must be a string`},
		{name: "virtual board", yaml: "esp32:\n  url: sim:esp32\n  heap: 110k\n  ip: 192.168.4.2\n  expose: true\n  hosts:\n    google.com: 127.0.0.1:18080\n    google.com:443: 127.0.0.1:18443\n",
			want: []Device{{Name: "esp32", URL: "sim:esp32", Line: 1, Heap: 110 * 1024, IP: "192.168.4.2", Expose: true,
				Hosts: map[string]string{"google.com": "127.0.0.1:18080", "google.com:443": "127.0.0.1:18443"}}}},
		{name: "heap in bytes", yaml: "s:\n  url: sim\n  heap: 200000\n  expose: no\n", want: []Device{{Name: "s", URL: "sim", Line: 1, Heap: 200000}}},
		{name: "heap in MiB", yaml: "s:\n  url: sim\n  heap: 2M\n", want: []Device{{Name: "s", URL: "sim", Line: 1, Heap: 2 << 20}}},
		{name: "bad heap", yaml: "s:\n  url: sim\n  heap: lots\n", wantErr: `devices.yaml:3: device "s": heap: "lots" is not a size`},
		{name: "bad heap quoted as written", yaml: "s:\n  url: sim\n  heap: 1.5k\n", wantErr: `devices.yaml:3: device "s": heap: "1.5k" is not a size`},
		{name: "bad ip", yaml: "s:\n  url: sim\n  ip: 300.1.1.1\n", wantErr: `devices.yaml:3: device "s": ip: "300.1.1.1" is not an IPv4 address`},
		{name: "bad expose", yaml: "s:\n  url: sim\n  expose: maybe\n", wantErr: `devices.yaml:3: device "s": expose: "maybe" is not true or false`},
		{name: "hosts not a mapping", yaml: "s:\n  url: sim\n  hosts: x\n", wantErr: `devices.yaml:3: device "s": hosts must be a mapping`},
		{name: "bad hosts port", yaml: "s:\n  url: sim\n  hosts:\n    a: b:99999\n", wantErr: `devices.yaml:4: device "s": hosts: "b:99999" is not host[:port]`},
		{name: "sim settings on a serial board", yaml: "s:\n  url: /dev/ttyACM0\n  heap: 100k\n", wantErr: `devices.yaml:3: device "s": heap, ip, expose and hosts are for virtual boards`},
		{name: "default", yaml: "default: b\nb: sim:b\n", want: []Device{{Name: "b", URL: "sim:b", Line: 2}}},
		{name: "default address", yaml: "default: sim\n", want: nil},
		{name: "default unknown", yaml: "default: nosuch\nb: sim:b\n", wantErr: `devices.yaml:1: default: "nosuch" is neither a device of this file nor a board address`},
		{name: "default mapping", yaml: "default:\n  url: sim\n", wantErr: `devices.yaml:1: default names the default board`},
		{name: "default with a password", yaml: "default: ws://:sekrit@10.0.0.2:8266\n", wantErr: `devices.yaml:1: default: a board URL must not hold a password`},
		{name: "default twice", yaml: "default: sim\ndefault: sim:x\n", wantErr: `devices.yaml:2: default already given at line 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("/cfg/devices.yaml", []byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "sekrit") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := f.Devices()
			if len(got) != len(tt.want) {
				t.Fatalf("devices = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("device %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLookups(t *testing.T) {
	f, err := Parse("d.yaml", []byte("a:\n  url: serial:///dev/ttyACM0\n  uid: AA01\nb:\n  url: ws://h:8266/\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		how, key, want string
	}{
		{"name", "a", "a"},
		{"name", "zz", ""},
		{"url", "/dev/ttyACM0", "a"},
		{"url", "serial:///dev/ttyACM0", "a"},
		{"url", "ws://h:8266", "b"},
		{"url", "ws://h:8267", ""},
		{"uid", "aa01", "a"},
		{"uid", "AA01", "a"},
		{"uid", "bb", ""},
	}
	for _, tt := range tests {
		var d Device
		var ok bool
		switch tt.how {
		case "name":
			d, ok = f.Lookup(tt.key)
		case "url":
			d, ok = f.ByURL(tt.key)
		case "uid":
			d, ok = f.ByUID(tt.key)
		}
		if ok != (tt.want != "") || d.Name != tt.want {
			t.Errorf("%s %q = %q, %v; want %q", tt.how, tt.key, d.Name, ok, tt.want)
		}
	}
	if got := f.Names(); strings.Join(got, ",") != "a,b" {
		t.Errorf("Names = %v", got)
	}
}

func TestStringMasksPassword(t *testing.T) {
	d := Device{Name: "k", URL: "ws://h", Password: "hunter2"}
	s := d.String()
	if strings.Contains(s, "hunter2") || !strings.Contains(s, "password: ***") {
		t.Errorf("String() = %q", s)
	}
}

func TestEditKeepsComments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "devices.yaml")
	orig := "# my boards\nkitchen: # the one by the fridge\n  url: ws://10.0.0.2:8266\n  password: pw\n\n# bench boards\nbench: /dev/ttyACM0\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Device{Name: "garage", URL: "rfc2217://h:2217"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Device{Name: "bench", URL: "/dev/ttyACM1", UID: "ff"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"# my boards", "# the one by the fridge", "# bench boards", "password: pw", "garage:", "url: rfc2217://h:2217", "url: /dev/ttyACM1", "uid: ff"} {
		if !strings.Contains(text, want) {
			t.Errorf("saved file lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "kitchen") > strings.Index(text, "bench") || strings.Index(text, "bench") > strings.Index(text, "garage") {
		t.Errorf("order changed:\n%s", text)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 (the file holds passwords)", st.Mode().Perm())
	}

	f, err = Load(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d, _ := f.Lookup("kitchen"); d.Password != "pw" {
		t.Errorf("kitchen lost its password: %+v", d)
	}
	if err := f.Remove("kitchen"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("kitchen"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "bench,garage" {
		t.Errorf("after remove: %s", got)
	}
}

func TestSetNewFileAndBadName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "devices.yaml")
	f, err := Load(path)
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if len(f.Devices()) != 0 {
		t.Fatal("missing file has devices")
	}
	if err := f.Set(Device{Name: "a b", URL: "x"}); err == nil {
		t.Error("a name with a space was accepted")
	}
	if err := f.Set(Device{Name: "a", URL: "/dev/x"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := f.Lookup("a"); !ok || d.URL != "/dev/x" {
		t.Errorf("reloaded %+v", f.Devices())
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(EnvPath, "/x/d.yaml")
	if p, err := DefaultPath(); err != nil || p != "/x/d.yaml" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
	t.Setenv(EnvPath, "")
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	if p, err := DefaultPath(); err != nil || p != "/cfg/iot-kernel/devices.yaml" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
}

func TestDefaultBoard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "devices.yaml")
	orig := "# the board notebooks start on\ndefault: esp32 # a virtual one\n\nesp32:\n  url: sim:esp32\n  heap: 110k # like an ESP32 without PSRAM\n  hosts:\n    google.com: 127.0.0.1:18080\nbench: /dev/ttyACM0\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Default() != "esp32" {
		t.Errorf("Default = %q", f.Default())
	}
	if got := strings.Join(f.Names(), ","); got != "bench,esp32" {
		t.Errorf("Names = %q; default is not a device", got)
	}
	if err := f.Set(Device{Name: DefaultKey, URL: "sim"}); err == nil {
		t.Error("Set accepted a device called default")
	}
	// an edit keeps the default, the virtual board's settings and the comments
	if err := f.Set(Device{Name: "esp32", URL: "sim:esp32", UID: "aabbccddeeff"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{"# the board notebooks start on", "default: esp32 # a virtual one", "heap: 110k # like an ESP32", "google.com: 127.0.0.1:18080", "uid: aabbccddeeff"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("after Set, the file lacks %q:\n%s", want, data)
		}
	}
	d, _ := f.Lookup("esp32")
	if d.Heap != 110*1024 || d.Hosts["google.com"] != "127.0.0.1:18080" {
		t.Errorf("after Set, esp32 = %+v", d)
	}
	// removing the default board removes the default
	if err := f.Remove("esp32"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f2, err := Load(path)
	if err != nil {
		t.Fatalf("after removing the default board: %v", err)
	}
	if f2.Default() != "" {
		t.Errorf("Default after Remove = %q", f2.Default())
	}
}

// %register --force over a virtual board with a serial port: the virtual
// board's settings go, so the file still loads.
func TestSetDropsVirtualBoardSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.yaml")
	orig := "esp32:\n  url: sim:esp32\n  heap: 110k\n  ip: 192.168.4.2\n  expose: true\n  hosts:\n    google.com: 127.0.0.1:18080\nbench: /dev/ttyUSB3\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Device{Name: "esp32", URL: "/dev/ttyUSB0"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Lookup("esp32"); d.Heap != 0 || d.IP != "" || d.Expose || d.Hosts != nil {
		t.Errorf("after Set to a serial port, esp32 = %+v", d)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		data, _ := os.ReadFile(path)
		t.Fatalf("the saved file does not load: %v\n%s", err, data)
	}
	if d, _ := g.Lookup("esp32"); d.URL != "/dev/ttyUSB0" || d.Heap != 0 || d.Hosts != nil {
		t.Errorf("reloaded esp32 = %+v", d)
	}
}

// Save refuses to write a file that would not load; the old one stays.
func TestSaveRefusesFileThatWouldNotLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.yaml")
	orig := "a: /dev/ttyUSB0\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// an edit that goes wrong: the entry a given a second time
	root := f.root()
	root.Content = append(root.Content, root.Content[0], root.Content[1])
	err = f.Save()
	if err == nil || !strings.Contains(err.Error(), "the file is unchanged") {
		t.Errorf("Save of a file that does not load = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != orig {
		t.Errorf("the file was changed to:\n%s", data)
	}
}

func TestSetRejectsWhatConnectCannotReach(t *testing.T) {
	f := &File{Path: "d.yaml"}
	for _, n := range []string{"sim", "auto", "COM3", "/dev/ttyUSB0", "./tty"} {
		if err := f.Set(Device{Name: n, URL: "ws://10.0.0.2:8266"}); err == nil || !strings.Contains(err.Error(), "is itself a board address") {
			t.Errorf("Set(name %q) = %v, want the name refused: %%connect %s reads it as an address", n, err, n)
		}
	}
	for _, u := range []string{"esp32", "dev/ttyUSB0", "http://10.0.0.2", "ws://"} {
		if err := f.Set(Device{Name: "x", URL: u}); err == nil {
			t.Errorf("Set(url %q) accepted a url that is no board address", u)
		}
	}
	if err := f.Set(Device{Name: "x", URL: "http://me:sekrit@h"}); err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("Set of a url with a password = %v", err)
	}
	if len(f.Devices()) != 0 {
		t.Errorf("refused devices were added: %v", f.Devices())
	}
}

// Saving through a symlinked devices file writes the file it links to.
func TestSaveKeepsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "devices.yaml")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("a: /dev/ttyUSB0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "devices.yaml")
	if err := os.Symlink(filepath.Join("dotfiles", "devices.yaml"), link); err != nil {
		t.Fatal(err)
	}
	f, err := Load(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Device{Name: "b", URL: "/dev/ttyUSB1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink %s was replaced (%v)", link, err)
	}
	g, err := Load(real)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Lookup("b"); !ok {
		t.Errorf("the linked-to file lacks b: %v", g.Devices())
	}

	// a link to a file not made yet: the file is made where it points
	dangling := filepath.Join(dir, "new.yaml")
	target := filepath.Join(dir, "dotfiles", "new.yaml")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	if err := Update(dangling, func(f *File) error { return f.Set(Device{Name: "c", URL: "sim"}) }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the dangling symlink %s was replaced (%v)", dangling, err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the file the link names was not made: %v", err)
	}
}

// Two kernels registering a board at the same time both keep theirs.
func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.yaml")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Update(path, func(f *File) error {
				return f.Set(Device{Name: fmt.Sprintf("b%d", i), URL: fmt.Sprintf("/dev/ttyUSB%d", i)})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Devices()); got != n {
		t.Errorf("%d of %d registrations made at once are in the file: %v", got, n, f.Names())
	}
}

// A Save over a file changed since it was loaded would lose that change;
// it is refused instead.
func TestSaveRefusesChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.yaml")
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Set(Device{Name: "theirs", URL: "/dev/ttyUSB1"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(); err != nil {
		t.Fatal(err)
	}
	if err := first.Set(Device{Name: "mine", URL: "/dev/ttyUSB0"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(); !errors.Is(err, ErrChanged) {
		t.Errorf("Save over a file changed since Load = %v, want ErrChanged", err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Lookup("theirs"); !ok {
		t.Errorf("the other kernel's registration is lost: %v", f.Names())
	}
	// saving again after a successful save is no conflict
	if err := other.Set(Device{Name: "more", URL: "/dev/ttyUSB2"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(); err != nil {
		t.Errorf("a second Save: %v", err)
	}
	if err := Update(path, func(f *File) error { return errors.New("no") }); err == nil || err.Error() != "no" {
		t.Errorf("Update with a failing edit = %v", err)
	}
	if err := (&File{}).Save(); err == nil {
		t.Error("Save of a File without a path succeeded")
	}
}

// $IOT_DEVICES at a FIFO or a huge file gives an error at once, rather
// than hanging every %connect or reading it all.
func TestLoadRefusesWhatIsNoDevicesFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, "is not a regular file"},
		{dir, "is not a regular file"},
		{big, "is over 4 MiB"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(tt.path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), EnvPath) {
				t.Errorf("Load(%s) = %v, want %q", tt.path, err, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) still waiting after 5s", tt.path)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ws://:pw@10.0.0.2:8266": "ws://***@10.0.0.2:8266",
		"ws://me:p@w@h/x":        "ws://***@h/x",
		"ws://10.0.0.2:8266":     "ws://10.0.0.2:8266",
		"/dev/ttyUSB0":           "/dev/ttyUSB0",
		"rfc2217://u@h:2217/a@b": "rfc2217://***@h:2217/a@b",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
