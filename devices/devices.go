// Package devices reads and writes the devices file: a YAML mapping from a
// board's name to where it is (url), what it is (uid) and, for WebREPL, its
// password. Passwords live only in this file, never in a notebook, and are
// never printed.
//
//	# ~/.config/iot-kernel/devices.yaml
//	# default: the board a notebook's first cell connects to when no
//	# board is connected and the notebook had none before.
//	default: esp32
//	kitchen:
//	  url: ws://192.168.1.20:8266
//	  password: secret
//	bench:
//	  url: /dev/ttyACM0
//	  uid: e6614103e7213a2f
//	esp32:                     # a virtual board (see package sim)
//	  url: sim:esp32
//	  heap: 110k               # Python heap: bytes, or with k or m
//	  ip: 192.168.4.2          # the address its WLAN reports
//	  expose: false            # true: servers listen on every host interface
//	  hosts:                   # where its connections go instead
//	    google.com: 127.0.0.1:18080
//
// The key default is reserved: its value is a board's name in this file, or
// a board address (sim, /dev/ttyACM0, ...). heap, ip, expose and hosts are
// for virtual boards (url: sim or sim:NAME) only. What an address may be is
// transport's table (transport.ParseAddress); a url must be one, and a
// name must not be. The file is one YAML document, and each key is given
// once.
//
// Editing keeps the file's comments and order: the file is held as a
// yaml.v3 node tree and only the entries that change are touched. Update
// edits under a lock (FILE.lock), so kernels editing the file at once keep
// each other's edits.
package devices

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
	"github.com/iot-kernel/iot-kernel/transport"
	"gopkg.in/yaml.v3"
)

// EnvPath names the environment variable that overrides the file's path.
const EnvPath = "IOT_DEVICES"

// DefaultKey is the reserved top-level key that names the default board.
const DefaultKey = "default"

// Device is one entry of the devices file.
type Device struct {
	Name     string // the key of the entry
	URL      string // a board address (see transport.ParseAddress)
	UID      string // machine.unique_id() in hex
	Password string // WebREPL password; never printed
	Line     int    // line of the entry in the file, 0 if not from a file

	// A virtual board's settings (url: sim or sim:NAME); see sim.Config.
	Heap   int               // Python heap in bytes; 0: the board's default
	IP     string            // the address its network interface reports
	Expose bool              // servers listen on every host interface
	Hosts  map[string]string // "name[:port]" -> "addr[:port]"
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
	if d.Heap > 0 {
		b.WriteString(" heap: " + strconv.Itoa(d.Heap))
	}
	if d.IP != "" {
		b.WriteString(" ip: " + d.IP)
	}
	if d.Expose {
		b.WriteString(" expose: true")
	}
	if len(d.Hosts) > 0 {
		keys := make([]string, 0, len(d.Hosts))
		for k := range d.Hosts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" hosts:")
		for _, k := range keys {
			b.WriteString(" " + k + "=" + d.Hosts[k])
		}
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
	def     string     // the default board: a name in the file or an address
	doc     *yaml.Node // document node; nil for a missing or empty file
	// loaded is the content the file was read from, so that Save can tell
	// the file was changed by someone else since (nil: missing or empty).
	loaded []byte
}

// Default is the board a notebook connects to when it has none: the name
// of an entry, or a board address; "" when the file names none.
func (f *File) Default() string { return f.def }

// MaxSize bounds the devices file: a few boards take a few hundred bytes,
// so a larger file is a mistake (a log, a device) and is not read.
const MaxSize = 4 << 20

// Load reads the devices file at path. A missing file is an empty one. A
// malformed file gives an error naming the file and line ("FILE:LINE: ...").
func Load(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readFile reads the devices file, nil if it is missing. It refuses what
// is not a regular file before opening it: opening a FIFO would wait for a
// writer that may never come.
func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("devices file %s is not a regular file (%v): point %s at a YAML file", path, st.Mode().Type(), EnvPath)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("devices file %s is over %d MiB, more than any list of boards: point %s at the right file", path, MaxSize>>20, EnvPath)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// Parse reads a devices file's content; path is used in error messages and
// by Save.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, loaded: data}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, f.yamlError(err)
	}
	// Save writes one document, so a second one would be lost with all
	// it holds; it is refused rather than ignored.
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return nil, f.errorf(second.Line, "a second YAML document (---): the devices file is one mapping of names to boards; move its entries into the first and remove the ---")
	case !errors.Is(err, io.EOF):
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
	defLine := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, f.errorf(k.Line, "a device name must be a non-empty string")
		}
		if k.Value == DefaultKey {
			if defLine > 0 {
				return nil, f.errorf(k.Line, "default already given at line %d", defLine)
			}
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "" {
				return nil, f.errorf(k.Line, "default names the default board: a device of this file or an address (default: esp32); it is not a device itself")
			}
			if err := CheckURL(v.Value); err != nil {
				return nil, f.errorf(v.Line, "default: %v", err)
			}
			f.def, defLine = v.Value, k.Line
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, f.errorf(k.Line, "device %q already defined at line %d", k.Value, prev)
		}
		if err := checkName(k.Value); err != nil {
			return nil, f.errorf(k.Line, "%v", err)
		}
		seen[k.Value] = k.Line
		d, err := f.entry(k, v)
		if err != nil {
			return nil, err
		}
		f.devices = append(f.devices, d)
	}
	if f.def != "" && !transport.IsAddress(f.def) {
		if _, ok := f.Lookup(f.def); !ok {
			return nil, f.errorf(defLine, "default: %q is neither a device of this file nor a board address", f.def)
		}
	}
	return f, nil
}

func (f *File) entry(k, v *yaml.Node) (Device, error) {
	d := Device{Name: k.Value, Line: k.Line}
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		// "name: URL" is accepted as a short form.
		if strings.TrimSpace(v.Value) == "" {
			return d, f.errorf(v.Line, "device %q has an empty address: give its url (name: /dev/ttyUSB0) or a url or uid key", k.Value)
		}
		if err := checkURL(v.Value); err != nil {
			return d, f.errorf(v.Line, "device %q: %v", k.Value, err)
		}
		d.URL = v.Value
		return d, nil
	}
	if v.Kind != yaml.MappingNode {
		return d, f.errorf(v.Line, "device %q: expected url, uid and password keys", k.Value)
	}
	simLine := 0 // the line of a virtual board's setting
	urlLine := 0
	given := map[string]int{} // key -> its line
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		// A key given twice would be read from its last line and edited
		// on its first by Set, so an edit would seem to be lost.
		if prev, dup := given[key.Value]; dup {
			return d, f.errorf(key.Line, "device %q: %s already given at line %d", k.Value, key.Value, prev)
		}
		given[key.Value] = key.Line
		if key.Value == "hosts" {
			hosts, err := f.hosts(k.Value, val)
			if err != nil {
				return d, err
			}
			d.Hosts, simLine = hosts, key.Line
			continue
		}
		if val.Kind != yaml.ScalarNode {
			return d, f.errorf(val.Line, "device %q: %s must be a string", k.Value, key.Value)
		}
		s := val.Value
		if val.Tag == "!!null" {
			s = ""
		}
		switch key.Value {
		case "heap":
			n, err := ParseSize(s)
			if err != nil {
				return d, f.errorf(val.Line, "device %q: heap: %v", k.Value, err)
			}
			d.Heap, simLine = n, key.Line
		case "ip":
			if ip := net.ParseIP(s); ip == nil || ip.To4() == nil {
				return d, f.errorf(val.Line, "device %q: ip: %q is not an IPv4 address", k.Value, s)
			}
			d.IP, simLine = s, key.Line
		case "expose":
			b, err := parseBool(s)
			if err != nil {
				return d, f.errorf(val.Line, "device %q: expose: %v", k.Value, err)
			}
			d.Expose, simLine = b, key.Line
		case "url":
			if err := CheckURL(s); err != nil {
				return d, f.errorf(val.Line, "device %q: %v", k.Value, err)
			}
			d.URL, urlLine = s, val.Line
		case "uid":
			d.UID = strings.ToLower(s)
		case "password":
			d.Password = s
		default:
			return d, f.errorf(key.Line, "device %q: unknown key %q (want url, uid, password, or for a virtual board heap, ip, expose, hosts)", k.Value, key.Value)
		}
	}
	if d.URL == "" && d.UID == "" {
		return d, f.errorf(k.Line, "device %q has neither url nor uid", k.Value)
	}
	if d.URL != "" {
		if err := checkURL(d.URL); err != nil {
			return d, f.errorf(urlLine, "device %q: url: %v", k.Value, err)
		}
	}
	if simLine > 0 && transport.AddressKind(d.URL) != transport.KindSim {
		return d, f.errorf(simLine, "device %q: heap, ip, expose and hosts are for virtual boards (url: sim or sim:NAME)", k.Value)
	}
	return d, nil
}

// hosts reads a virtual board's hosts mapping.
func (f *File) hosts(dev string, m *yaml.Node) (map[string]string, error) {
	if m.Kind != yaml.MappingNode {
		return nil, f.errorf(m.Line, "device %q: hosts must be a mapping of name[:port] to addr[:port] (google.com: 127.0.0.1:18080)", dev)
	}
	hosts := map[string]string{}
	given := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || k.Value == "" || v.Value == "" {
			return nil, f.errorf(k.Line, "device %q: hosts: each entry is name[:port]: addr[:port]", dev)
		}
		if prev, dup := given[k.Value]; dup {
			return nil, f.errorf(k.Line, "device %q: hosts: %s already given at line %d", dev, k.Value, prev)
		}
		given[k.Value] = k.Line
		for _, hp := range []string{k.Value, v.Value} {
			if err := checkHostPort(hp); err != nil {
				return nil, f.errorf(k.Line, "device %q: hosts: %v", dev, err)
			}
		}
		hosts[k.Value] = v.Value
	}
	return hosts, nil
}

// checkHostPort accepts "host" and "host:port".
func checkHostPort(s string) error {
	if strings.ContainsAny(s, " /") {
		return fmt.Errorf("%q is not host[:port]", s)
	}
	if h, p, ok := strings.Cut(s, ":"); ok {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 || h == "" {
			return fmt.Errorf("%q is not host[:port]", s)
		}
	}
	return nil
}

// ParseSize reads a size in bytes: a number, or one ending in k or m
// (KiB, MiB): "110k" is 112640.
func ParseSize(s string) (int, error) {
	written := s // quoted in the error as the user wrote it
	s = strings.TrimSpace(s)
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1024, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > (1<<31)/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with k or m: 110k)", written)
	}
	return n * mult, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
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

// checkURL accepts a board address of transport's table without a
// password in it. CheckURL goes first: ParseAddress's errors quote the URL.
func checkURL(raw string) error {
	if err := CheckURL(raw); err != nil {
		return err
	}
	_, err := transport.ParseAddress(raw)
	return err
}

// checkName rejects a name that %connect would read as an address, so
// the entry could never be reached by it.
func checkName(name string) error {
	if transport.IsAddress(name) {
		return fmt.Errorf("the name %q is itself a board address, so %%connect %s opens that address, not this entry: choose another name", name, name)
	}
	return nil
}

// Redact returns raw with the user and password part of a URL replaced
// by ***, for showing a target that CheckURL refused.
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host, path, slash := strings.Cut(rest, "/")
	at := strings.LastIndexByte(host, '@')
	if at < 0 {
		return raw
	}
	out := scheme + "://***@" + host[at+1:]
	if slash {
		out += "/" + path
	}
	return out
}

// ByURL finds the first device whose url is url (compared by
// transport.SameAddress).
func (f *File) ByURL(url string) (Device, bool) {
	for _, d := range f.devices {
		if d.URL != "" && transport.SameAddress(d.URL, url) {
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

// Set adds d or, when an entry of that name exists, replaces its url and
// uid (and its password when d has one), keeping the rest of the file as
// it was; a virtual board's settings go when the url is no longer a
// virtual board's. A name that is itself a board address, which
// %connect could not reach, and a url that is no board address are
// refused. Call Save to write it.
func (f *File) Set(d Device) error {
	if d.Name == "" {
		return errors.New("devices: empty device name")
	}
	if strings.ContainsAny(d.Name, " \t\n:") {
		return fmt.Errorf("devices: bad device name %q (no spaces or colons)", d.Name)
	}
	if d.Name == DefaultKey {
		return fmt.Errorf("devices: %q is reserved for the default board's name; pick another name", d.Name)
	}
	if err := checkName(d.Name); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if d.URL != "" {
		if err := checkURL(d.URL); err != nil {
			return fmt.Errorf("devices: device %q: url: %w", d.Name, err)
		}
	}
	sim := transport.AddressKind(d.URL) == transport.KindSim
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
	if !sim {
		// a virtual board's settings would make the file refuse to load
		// once the entry is no longer a virtual board
		for _, k := range simKeys {
			setKey(entry, k, "")
		}
	}
	for i, old := range f.devices {
		if old.Name == d.Name {
			if d.Password == "" {
				d.Password = old.Password
			}
			// a virtual board keeps its settings when its url changes
			if sim {
				d.Heap, d.IP, d.Expose, d.Hosts = old.Heap, old.IP, old.Expose, old.Hosts
			}
			d.Line = old.Line
			f.devices[i] = d
			return nil
		}
	}
	f.devices = append(f.devices, d)
	return nil
}

// simKeys are the keys for virtual boards only.
var simKeys = []string{"heap", "ip", "expose", "hosts"}

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
	if f.def == name {
		// the default went with its board
		f.def = ""
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == DefaultKey {
				root.Content = append(root.Content[:i], root.Content[i+2:]...)
				break
			}
		}
	}
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

// lockWait bounds how long Save and Update wait for another kernel
// editing the same devices file.
const lockWait = 5 * time.Second

// ErrChanged is wrapped by Save's error when the file was changed, by
// another kernel or an editor, since it was loaded.
var ErrChanged = errors.New("the devices file changed since it was read")

// Save writes the file atomically, readable by its owner only since it may
// hold passwords. It creates the directory if needed, writes through a
// symlink to the file it points at, and writes nothing when the result
// would not load or when the file changed since it was loaded (that
// change would be lost; the error wraps ErrChanged). Use Update to load,
// change and save in one step.
func (f *File) Save() error {
	real, unlock, err := lock(f.Path)
	if err != nil {
		return err
	}
	defer unlock()
	now, err := readFile(real)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, f.loaded) {
		return fmt.Errorf("devices: %s: %w; nothing was written: run the command again", f.Path, ErrChanged)
	}
	return f.save(real)
}

// Update loads the devices file at path, calls edit on it and saves it,
// holding a lock on the file all along so that two kernels editing it at
// once both see their edits kept. Nothing is written when edit fails.
func Update(path string, edit func(*File) error) error {
	real, unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := readFile(real)
	if err != nil {
		return err
	}
	f, err := Parse(path, data)
	if err != nil {
		return err
	}
	if err := edit(f); err != nil {
		return err
	}
	return f.save(real)
}

// save writes the file to real, the resolved path, with the lock held.
func (f *File) save(real string) error {
	data, err := f.Bytes()
	if err != nil {
		return err
	}
	if _, err := Parse(f.Path, data); err != nil {
		// a file that does not load breaks every later %connect
		return fmt.Errorf("devices: not writing %s, the edit would make it fail to load (%v); the file is unchanged", f.Path, err)
	}
	if err := atomicfile.Write(real, data, 0o600); err != nil {
		return fmt.Errorf("devices: write %s: %w", f.Path, err)
	}
	f.loaded = data
	return nil
}

// lock creates the file's directory if needed and takes the lock on the
// file that path is or links to; it returns that file's path. The lock is
// a file beside it (FILE.lock): the file itself is replaced by each save,
// so a lock on it would not last.
func lock(path string) (real string, unlock func(), err error) {
	if path == "" {
		return "", nil, errors.New("devices: the devices file has no path to save to")
	}
	real, err = resolve(path)
	if err != nil {
		return "", nil, fmt.Errorf("devices: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		return "", nil, fmt.Errorf("devices: %w", err)
	}
	lf := real + ".lock"
	fh, err := os.OpenFile(lf, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("devices: lock %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return real, func() { _ = fh.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			fh.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return "", nil, fmt.Errorf("devices: %s is held by another kernel editing %s for over %v; try again, or remove the lock file if no kernel is running", lf, path, lockWait)
			}
			return "", nil, fmt.Errorf("devices: lock %s: %w", lf, err)
		}
		time.Sleep(10 * time.Millisecond) // flock has no timeout of its own
	}
}

// resolve follows symlinks from path to the file they end at, which may
// not exist yet, so that a save replaces that file and keeps the links.
func resolve(path string) (string, error) {
	for range 40 {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		to, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(path), to)
		}
		path = to
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}
