// Package devices reads and writes the devices file: a YAML mapping from a
// board's name to where it is (url), what it is (uid) and, for WebREPL, its
// password. Passwords live only in this file, never in a notebook, and are
// never printed.
//
//	# ~/.config/iot-kernel/devices.yaml
//	kitchen:
//	  url: ws://192.168.1.20:8266
//	  password: secret
//	bench:
//	  url: /dev/ttyACM0
//	  uid: e6614103e7213a2f
//
// Editing keeps the file's comments and order: the file is held as a
// yaml.v3 node tree and only the entries that change are touched.
package devices

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// EnvPath names the environment variable that overrides the file's path.
const EnvPath = "IOT_DEVICES"

// Device is one entry of the devices file.
type Device struct {
	Name     string // the key of the entry
	URL      string // serial path or URL (serial://, ws://, rfc2217://)
	UID      string // machine.unique_id() in hex
	Password string // WebREPL password; never printed
	Line     int    // line of the entry in the file, 0 if not from a file
}

// String shows the device with its password masked.
func (d Device) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	b.WriteString(":")
	if d.URL != "" {
		b.WriteString(" url: " + d.URL)
	}
	if d.UID != "" {
		b.WriteString(" uid: " + d.UID)
	}
	if d.Password != "" {
		b.WriteString(" password: ***")
	}
	return b.String()
}

// ErrNotFound is wrapped by errors about a name not in the file.
var ErrNotFound = errors.New("no such device")

// DefaultPath returns $IOT_DEVICES, or devices.yaml in the user's config
// directory for iot-kernel (~/.config/iot-kernel/devices.yaml on Linux).
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("devices file: %w (set %s)", err, EnvPath)
	}
	return filepath.Join(dir, "iot-kernel", "devices.yaml"), nil
}

// File is a loaded devices file.
type File struct {
	Path    string
	devices []Device
	doc     *yaml.Node // document node; nil for a missing or empty file
}

// Load reads the devices file at path. A missing file is an empty one. A
// malformed file gives an error naming the file and line ("FILE:LINE: ...").
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a devices file's content; path is used in error messages and
// by Save.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, f.yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return f, nil // empty file or only comments
	}
	f.doc = &doc
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return f, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, f.errorf(root.Line, "expected a mapping of device names to entries (name: {url: ..., uid: ..., password: ...})")
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, f.errorf(k.Line, "a device name must be a non-empty string")
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, f.errorf(k.Line, "device %q already defined at line %d", k.Value, prev)
		}
		seen[k.Value] = k.Line
		d, err := f.entry(k, v)
		if err != nil {
			return nil, err
		}
		f.devices = append(f.devices, d)
	}
	return f, nil
}

func (f *File) entry(k, v *yaml.Node) (Device, error) {
	d := Device{Name: k.Value, Line: k.Line}
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		// "name: URL" is accepted as a short form.
		if err := CheckURL(v.Value); err != nil {
			return d, f.errorf(v.Line, "device %q: %v", k.Value, err)
		}
		d.URL = v.Value
		return d, nil
	}
	if v.Kind != yaml.MappingNode {
		return d, f.errorf(v.Line, "device %q: expected url, uid and password keys", k.Value)
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			return d, f.errorf(val.Line, "device %q: %s must be a string", k.Value, key.Value)
		}
		s := val.Value
		if val.Tag == "!!null" {
			s = ""
		}
		switch key.Value {
		case "url":
			if err := CheckURL(s); err != nil {
				return d, f.errorf(val.Line, "device %q: %v", k.Value, err)
			}
			d.URL = s
		case "uid":
			d.UID = strings.ToLower(s)
		case "password":
			d.Password = s
		default:
			return d, f.errorf(key.Line, "device %q: unknown key %q (want url, uid or password)", k.Value, key.Value)
		}
	}
	if d.URL == "" && d.UID == "" {
		return d, f.errorf(k.Line, "device %q has neither url nor uid", k.Value)
	}
	return d, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into "FILE:3: ...".
func (f *File) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil && m[0] == 0 {
		n, _ := strconv.Atoi(msg[m[2]:m[3]])
		return f.errorf(n, "%s", msg[m[1]:])
	}
	return fmt.Errorf("%s: %s", f.Path, msg)
}

func (f *File) errorf(line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s", f.Path, line, fmt.Sprintf(format, a...))
}

// Devices returns the entries in file order.
func (f *File) Devices() []Device {
	return append([]Device(nil), f.devices...)
}

// Names returns the device names, sorted.
func (f *File) Names() []string {
	out := make([]string, len(f.devices))
	for i, d := range f.devices {
		out[i] = d.Name
	}
	sort.Strings(out)
	return out
}

// Lookup finds the device called name.
func (f *File) Lookup(name string) (Device, bool) {
	for _, d := range f.devices {
		if d.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// ErrPasswordInURL is returned for a board URL with a user or password
// part ("ws://:secret@host"): a URL is shown in outputs and logs, so the
// password belongs under `password:` in the devices file instead.
var ErrPasswordInURL = errors.New("a board URL must not hold a password: put it under `password:` in the devices file and connect by the board's name")

// CheckURL rejects a URL that carries credentials. It looks for the user
// part by hand because url.Parse's errors quote the URL, password and all.
func CheckURL(raw string) error {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	host, _, _ := strings.Cut(rest, "/")
	if strings.Contains(host, "@") {
		return ErrPasswordInURL
	}
	return nil
}

// ByURL finds the first device whose url is url (compared by SameURL).
func (f *File) ByURL(url string) (Device, bool) {
	for _, d := range f.devices {
		if d.URL != "" && SameURL(d.URL, url) {
			return d, true
		}
	}
	return Device{}, false
}

// ByUID finds the device whose uid is uid (hex, any case).
func (f *File) ByUID(uid string) (Device, bool) {
	uid = strings.ToLower(uid)
	for _, d := range f.devices {
		if d.UID != "" && d.UID == uid {
			return d, true
		}
	}
	return Device{}, false
}

// SameURL reports whether two board URLs name the same board: a bare serial
// path equals its serial:// URL, and a trailing slash does not count.
func SameURL(a, b string) bool {
	return normalize(a) == normalize(b)
}

func normalize(u string) string {
	u = strings.TrimSpace(u)
	if rest, ok := strings.CutPrefix(u, "serial://"); ok {
		u = rest
	}
	return strings.TrimSuffix(u, "/")
}

// IsWebREPL reports whether url is a WebREPL URL (ws:// or wss://), the
// one kind of link that takes a password.
func IsWebREPL(url string) bool {
	return strings.HasPrefix(url, "ws://") || strings.HasPrefix(url, "wss://")
}

// IsNetwork reports whether url reaches its board over the network
// (WebREPL or RFC 2217) rather than a serial port.
func IsNetwork(url string) bool {
	return IsWebREPL(url) || strings.HasPrefix(url, "rfc2217://")
}

// DefaultName is the name a board known only by its URL goes by: the last
// element of a serial path, or the host of a network URL
// ("/dev/ttyACM0" → "ttyACM0", "ws://192.168.1.20:8266" → "192.168.1.20").
func DefaultName(url string) string {
	u := strings.TrimSuffix(strings.TrimSpace(url), "/")
	network := false
	if i := strings.Index(u, "://"); i >= 0 {
		network = u[:i] != "serial"
		u = u[i+3:]
	}
	if network {
		u, _, _ = strings.Cut(u, "/")
		if h, _, ok := strings.Cut(u, ":"); ok && h != "" {
			u = h
		}
	} else if i := strings.LastIndexByte(u, '/'); i >= 0 && i+1 < len(u) {
		u = u[i+1:]
	}
	u, _, _ = strings.Cut(u, "?")
	if u == "" {
		return url
	}
	return u
}

// Set adds d or, when an entry of that name exists, replaces its url and
// uid (and its password when d has one), keeping the rest of the file as
// it was. Call Save to write it.
func (f *File) Set(d Device) error {
	if d.Name == "" {
		return errors.New("devices: empty device name")
	}
	if strings.ContainsAny(d.Name, " \t\n:") {
		return fmt.Errorf("devices: bad device name %q (no spaces or colons)", d.Name)
	}
	root := f.root()
	var entry *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == d.Name {
			entry = root.Content[i+1]
			if entry.Kind != yaml.MappingNode {
				// the short form "name: URL" grows into a mapping
				*entry = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: entry.HeadComment, LineComment: entry.LineComment}
			}
			break
		}
	}
	if entry == nil {
		entry = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d.Name}, entry)
	}
	setKey(entry, "url", d.URL)
	setKey(entry, "uid", d.UID)
	if d.Password != "" {
		setKey(entry, "password", d.Password)
	}
	for i, old := range f.devices {
		if old.Name == d.Name {
			if d.Password == "" {
				d.Password = old.Password
			}
			d.Line = old.Line
			f.devices[i] = d
			return nil
		}
	}
	f.devices = append(f.devices, d)
	return nil
}

// setKey sets key to value in mapping m; an empty value removes the key.
func setKey(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		if value == "" {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
		m.Content[i+1].Kind = yaml.ScalarNode
		m.Content[i+1].Tag = "!!str"
		m.Content[i+1].Value = value
		return
	}
	if value == "" {
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// Remove deletes the entry called name; it wraps ErrNotFound if there is
// none. Call Save to write it.
func (f *File) Remove(name string) error {
	idx := -1
	for i, d := range f.devices {
		if d.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("%w %q in %s", ErrNotFound, name, f.Path)
	}
	f.devices = append(f.devices[:idx], f.devices[idx+1:]...)
	root := f.root()
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == name {
			// the comment above the entry goes with it: it was about it
			root.Content = append(root.Content[:i], root.Content[i+2:]...)
			break
		}
	}
	return nil
}

// root returns the top mapping, creating the document if needed.
func (f *File) root() *yaml.Node {
	if f.doc == nil || len(f.doc.Content) == 0 {
		f.doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	r := f.doc.Content[0]
	if r.Kind != yaml.MappingNode { // a null document
		*r = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: r.HeadComment, FootComment: r.FootComment}
	}
	return r
}

// Bytes returns the file's YAML text.
func (f *File) Bytes() ([]byte, error) {
	root := f.root()
	if len(root.Content) == 0 && root.HeadComment == "" && root.FootComment == "" && f.doc.HeadComment == "" {
		return nil, nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f.doc); err != nil {
		return nil, fmt.Errorf("devices: encode %s: %w", f.Path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("devices: encode %s: %w", f.Path, err)
	}
	return b.Bytes(), nil
}

// Save writes the file atomically, readable by its owner only since it may
// hold passwords. It creates the directory if needed.
func (f *File) Save() error {
	data, err := f.Bytes()
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if err := atomicfile.Write(f.Path, data, 0o600); err != nil {
		return fmt.Errorf("devices: write %s: %w", f.Path, err)
	}
	return nil
}
