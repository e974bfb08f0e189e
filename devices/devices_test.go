package devices

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{name: "duplicate", yaml: "a: x\nb: y\na: z\n", wantErr: `devices.yaml:3: device "a" already defined at line 1`},
		{name: "no url nor uid", yaml: "a:\n  password: p\n", wantErr: `devices.yaml:1: device "a" has neither url nor uid`},
		{name: "list value", yaml: "a:\n  url: [x]\n", wantErr: `devices.yaml:2: device "a": url must be a string`},
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
				if got[i] != tt.want[i] {
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

func TestDefaultName(t *testing.T) {
	tests := map[string]string{
		"/dev/ttyACM0":                    "ttyACM0",
		"serial:///dev/ttyUSB1?baud=9600": "ttyUSB1",
		"COM3":                            "COM3",
		"ws://192.168.1.20:8266":          "192.168.1.20",
		"ws://board.local/":               "board.local",
		"rfc2217://localhost:2217":        "localhost",
	}
	for url, want := range tests {
		if got := DefaultName(url); got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestURLKinds(t *testing.T) {
	tests := []struct {
		url              string
		webREPL, network bool
	}{
		{"/dev/ttyACM0", false, false},
		{"serial:///dev/ttyUSB1", false, false},
		{"COM3", false, false},
		{"ws://192.168.1.20:8266", true, true},
		{"wss://board.local", true, true},
		{"rfc2217://localhost:2217", false, true},
	}
	for _, tt := range tests {
		if got := IsWebREPL(tt.url); got != tt.webREPL {
			t.Errorf("IsWebREPL(%q) = %v, want %v", tt.url, got, tt.webREPL)
		}
		if got := IsNetwork(tt.url); got != tt.network {
			t.Errorf("IsNetwork(%q) = %v, want %v", tt.url, got, tt.network)
		}
	}
}
