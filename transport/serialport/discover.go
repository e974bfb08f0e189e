package serialport

import (
	"errors"
	"fmt"
	"strings"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// Port describes one serial port found by Discover.
type Port struct {
	Path    string // device path, e.g. /dev/ttyUSB0
	Chip    string // USB chip or board family named from VID/PID; "" if not USB
	VID     string // USB vendor ID, 4 lowercase hex digits; "" if not USB
	PID     string // USB product ID, 4 lowercase hex digits
	Serial  string // USB serial number, when the device has one
	Product string // USB product string, when the device has one
	// BoardLike is true for USB chips found on MicroPython boards.
	BoardLike bool
}

// String describes the port for messages: its path, and for USB ports the
// VID:PID, chip and product.
func (p Port) String() string {
	if p.VID == "" {
		return p.Path
	}
	s := fmt.Sprintf("%s (%s:%s %s", p.Path, p.VID, p.PID, p.Chip)
	if p.Product != "" {
		s += ", " + p.Product
	}
	return s + ")"
}

// chip names a USB VID:PID pair. An empty pid matches any product of the
// vendor.
type chip struct{ vid, pid, name string }

// chips are the USB-serial bridges and native USB consoles of MicroPython
// boards.
var chips = []chip{
	{"303a", "", "Espressif USB (ESP32-S2/S3/C3/C6 native)"},
	{"10c4", "ea60", "CP210x"},
	{"1a86", "7523", "CH340"},
	{"1a86", "55d4", "CH9102"},
	{"0403", "6001", "FTDI FT232R"},
	{"0403", "6015", "FTDI FT231X"},
	{"2e8a", "", "RP2040 (Raspberry Pi Pico)"},
	{"0483", "", "STM32 (pyboard/STM32)"},
	{"f055", "", "MicroPython pyboard"},
}

// chipName names the chip behind a USB VID/PID (any case) and says whether
// it is found on MicroPython boards.
func chipName(vid, pid string) (name string, boardLike bool) {
	vid, pid = strings.ToLower(vid), strings.ToLower(pid)
	for _, c := range chips {
		if c.vid == vid && (c.pid == "" || c.pid == pid) {
			return c.name, true
		}
	}
	return "USB serial " + vid + ":" + pid, false
}

// Discover lists the serial ports of this machine, naming the USB chip
// behind each one. Ports that are not USB (built-in UARTs) are listed with
// an empty Chip.
func Discover() ([]Port, error) {
	names, err := serial.GetPortsList()
	if err != nil {
		return nil, fmt.Errorf("listing serial ports: %w", err)
	}
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("reading USB details of serial ports: %w", err)
	}
	byName := make(map[string]*enumerator.PortDetails, len(details))
	for _, d := range details {
		if d != nil && d.Name != "" {
			byName[d.Name] = d
		}
	}
	ports := make([]Port, 0, len(names))
	for _, name := range names {
		p := Port{Path: name}
		if d := byName[name]; d != nil && d.IsUSB {
			p.VID, p.PID = strings.ToLower(d.VID), strings.ToLower(d.PID)
			p.Serial, p.Product = d.SerialNumber, d.Product
			p.Chip, p.BoardLike = chipName(p.VID, p.PID)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// pickAuto returns the path of the first board-like port.
func pickAuto(ports []Port) (string, error) {
	for _, p := range ports {
		if p.BoardLike {
			return p.Path, nil
		}
	}
	if len(ports) == 0 {
		return "", errors.New("serial auto: no serial ports found; check that the board is plugged in and that this user may open it (group dialout)")
	}
	seen := make([]string, len(ports))
	for i, p := range ports {
		seen[i] = p.String()
	}
	return "", fmt.Errorf("serial auto: no board-like USB serial port among %s; name the port instead of auto", strings.Join(seen, ", "))
}
