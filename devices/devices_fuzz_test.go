package devices

import (
	"reflect"
	"strings"
	"testing"
)

// A fuzz target of the devices file. Seeds live in
// testdata/fuzz/FuzzParse/; run it with
//
//	go test ./devices -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s

// sameDevices compares entries without their line numbers, which move
// when the file is written back.
func sameDevices(a, b []Device) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Line, y.Line = 0, 0
		if len(x.Hosts) == 0 && len(y.Hosts) == 0 {
			x.Hosts, y.Hosts = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// Whatever the file holds, Parse either refuses it with an error naming
// the file, or reads it; a file it reads is written back (untouched, after
// adding a board, after removing one) as a file that reads back the same.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "/cfg/devices.yaml"
		df, err := Parse(path, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("Parse(%q): error %q does not name the file", data, err)
			}
			return
		}
		for _, d := range df.Devices() {
			if d.URL == "" && d.UID == "" {
				t.Fatalf("Parse(%q): entry %q has neither url nor uid", data, d.Name)
			}
			other := d
			other.Password = "another password"
			if d.Password != "" && d.String() != other.String() {
				t.Fatalf("Parse(%q): %q shows the password", data, d.String())
			}
		}
		reread := func(what string, f *File) *File {
			t.Helper()
			out, err := f.Bytes()
			if err != nil {
				t.Fatalf("Parse(%q), %s: Bytes: %v", data, what, err)
			}
			again, err := Parse(path, out)
			if err != nil {
				t.Fatalf("Parse(%q), %s: the file written back does not read:\n%s\nerror: %v", data, what, out, err)
			}
			return again
		}
		again := reread("unchanged", df)
		if !sameDevices(again.Devices(), df.Devices()) || again.Default() != df.Default() {
			t.Fatalf("Parse(%q) written back reads differently:\n%v default %q\n%v default %q", data, df.Devices(), df.Default(), again.Devices(), again.Default())
		}

		// Adding a board keeps the others and the default.
		add := Device{Name: "fuzz-added", URL: "sim:fuzz", UID: "0a0b"}
		if err := df.Set(add); err != nil {
			t.Fatalf("Set: %v", err)
		}
		added := reread("after Set", df)
		if d, ok := added.Lookup(add.Name); !ok || d.URL != add.URL || d.UID != add.UID {
			t.Fatalf("Parse(%q): after Set the file has %v, want %v", data, d, add)
		}
		if !sameDevices(added.Devices(), df.Devices()) || added.Default() != df.Default() {
			t.Fatalf("Parse(%q): after Set the file reads %v default %q, want %v default %q", data, added.Devices(), added.Default(), df.Devices(), df.Default())
		}

		// Removing the first board drops it alone (and the default with it).
		first := df.Devices()[0].Name
		if err := df.Remove(first); err != nil {
			t.Fatalf("Remove(%q): %v", first, err)
		}
		removed := reread("after Remove", df)
		if _, ok := removed.Lookup(first); ok {
			t.Fatalf("Parse(%q): %q still in the file after Remove", data, first)
		}
		if !sameDevices(removed.Devices(), df.Devices()) || removed.Default() != df.Default() {
			t.Fatalf("Parse(%q): after Remove the file reads %v default %q, want %v default %q", data, removed.Devices(), removed.Default(), df.Devices(), df.Default())
		}
	})
}
