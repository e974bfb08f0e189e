package testboard

import (
	"strings"
	"testing"
)

// The raw-paste request gets the answers MicroPython's docs/reference/repl.rst
// allows for a board without raw-paste, and the raw REPL still works after.
func TestRawPasteRefused(t *testing.T) {
	want := map[Kind]string{
		Wasm:     "R\x00",                         // understood, not supported
		Microbit: "raw REPL; CTRL-B to exit\r\n>", // 1.9.2 predates raw-paste: "ra" + the rest
	}
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		c.write("\x05A\x01")
		if got := c.expect(want[kind]); got != want[kind] {
			t.Errorf("raw-paste request answered %q, want %q", got, want[kind])
		}
		c.write("print('classic')\x04")
		c.expect("OKclassic\r\n\x04\x04>")
	})
}

// Files outlive a soft reset, as in a board's flash.
func TestFilesSurviveSoftReset(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		c.exec("f=open('keep.txt','w');f.write('kept');f.close()")
		c.write("\x04")
		c.expect("soft reboot\r\nraw REPL; CTRL-B to exit\r\n>")
		if out, errOut := c.exec("print(open('keep.txt').read())"); out != "kept\r\n" {
			t.Errorf("after soft reset the file read %q (%s)", out, errOut)
		}
	})
}

func TestWasmInput(t *testing.T) {
	b := startBoard(t, Wasm)
	c := openBoard(t, b)
	c.enterRaw()
	c.write("n=input('name? ');print('hi', n)\x04")
	c.expect("OKname? ")
	c.write("ada\r")
	c.expect("ada\r\nhi ada\r\n\x04\x04>")

	c.write("input('> ')\x04")
	c.expect("OK> ")
	c.write("\x03")
	if got := c.expect("\x04>"); !strings.Contains(got, "KeyboardInterrupt") {
		t.Errorf("Ctrl-C in input() gave %q", got)
	}
}

// The wasm board reports errors with a board's errno numbers, and lists
// files with their sizes.
func TestWasmFilesystemLikeBoard(t *testing.T) {
	b := startBoard(t, Wasm)
	c := openBoard(t, b)
	c.enterRaw()
	_, errOut := c.exec("open('missing')")
	if !strings.Contains(errOut, "OSError: [Errno 2] ENOENT") {
		t.Errorf("opening a missing file raised %q", errOut)
	}
	out, _ := c.exec("import os\nopen('five','w').write('12345')\nprint([e for e in os.ilistdir() if e[0]=='five'], sorted(os.listdir()))")
	if out != "[('five', 32768, 0, 5)] ['five']\r\n" { // no /proc, /dev, /tmp: only the board's files
		t.Errorf("listing gave %q", out)
	}
}

// A friendly-REPL soft reset prints the banner again, like a board.
func TestWasmFriendlySoftReset(t *testing.T) {
	b := startBoard(t, Wasm)
	c := openBoard(t, b)
	c.write("\r\x03\x03")
	c.expect(">>> ")
	c.write("\x04")
	c.expect("MPY: soft reboot\r\nMicroPython v1.27.0")
	c.expect("Type \"help()\" for more information.\r\n>>> ")
}

// Paced at 115200 baud, a program of a few hundred bytes reaches the
// micro:bit's 64-byte buffer intact.
func TestMicrobitPacedUpload(t *testing.T) {
	b := startBoard(t, Microbit)
	c := openBoard(t, b)
	c.enterRaw()
	line := "s='" + strings.Repeat("abcdefghij", 40) + "'\n"
	if out, errOut := c.exec(line + "print(len(s))"); out != "400\r\n" {
		t.Errorf("uploaded program printed %q, %q", out, errOut)
	}
}
