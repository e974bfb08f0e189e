package serialport

import (
	"strings"
	"testing"
)

func TestChipName(t *testing.T) {
	tests := []struct {
		vid, pid  string
		name      string
		boardLike bool
	}{
		{"303a", "1001", "Espressif USB (ESP32-S2/S3/C3/C6 native)", true},
		{"303A", "4001", "Espressif USB (ESP32-S2/S3/C3/C6 native)", true},
		{"10c4", "ea60", "CP210x", true},
		{"10C4", "EA60", "CP210x", true},
		{"1a86", "7523", "CH340", true},
		{"1a86", "55d4", "CH9102", true},
		{"0403", "6001", "FTDI FT232R", true},
		{"0403", "6015", "FTDI FT231X", true},
		{"2e8a", "0005", "RP2040 (Raspberry Pi Pico)", true},
		{"0483", "5740", "STM32 (pyboard/STM32)", true},
		{"f055", "9800", "MicroPython pyboard", true},
		{"10c4", "8a2a", "USB serial 10c4:8a2a", false},
		{"046d", "c52b", "USB serial 046d:c52b", false},
	}
	for _, tt := range tests {
		name, boardLike := chipName(tt.vid, tt.pid)
		if name != tt.name || boardLike != tt.boardLike {
			t.Errorf("chipName(%s, %s) = %q, %v; want %q, %v", tt.vid, tt.pid, name, boardLike, tt.name, tt.boardLike)
		}
	}
}

func TestPickAuto(t *testing.T) {
	uart := Port{Path: "/dev/ttyS0"}
	mouse := Port{Path: "/dev/ttyACM0", VID: "046d", PID: "c52b", Chip: "USB serial 046d:c52b"}
	esp := Port{Path: "/dev/ttyUSB0", VID: "10c4", PID: "ea60", Chip: "CP210x", BoardLike: true}
	pico := Port{Path: "/dev/ttyACM1", VID: "2e8a", PID: "0005", Chip: "RP2040 (Raspberry Pi Pico)", BoardLike: true}

	if got, err := pickAuto([]Port{uart, mouse, esp, pico}); err != nil || got != esp.Path {
		t.Errorf("pickAuto = %q, %v; want %q", got, err, esp.Path)
	}

	_, err := pickAuto([]Port{uart, mouse})
	if err == nil {
		t.Fatal("pickAuto found a board among no board-like ports")
	}
	for _, want := range []string{"/dev/ttyS0", "/dev/ttyACM0", "046d:c52b"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not list %q", err, want)
		}
	}

	if _, err := pickAuto(nil); err == nil || !strings.Contains(err.Error(), "no serial ports") {
		t.Errorf("pickAuto(nil) = %v", err)
	}
}

// Discover runs on any machine; whatever it finds must be well formed.
func TestDiscoverWellFormed(t *testing.T) {
	ports, err := Discover()
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	for _, p := range ports {
		if p.Path == "" {
			t.Errorf("port without a path: %+v", p)
		}
		if p.BoardLike && p.VID == "" {
			t.Errorf("board-like port without a USB VID: %+v", p)
		}
	}
}
