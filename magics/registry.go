package magics

import (
	"log/slog"

	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// Options configure the default set of magics.
type Options struct {
	// Level is the kernel's log level, set by %loglevel.
	Level *slog.LevelVar
	// DevicesPath is the devices file (%register, %name, %%connect --all).
	DevicesPath string
	// Logger receives the magics' logs; nil discards them.
	Logger *slog.Logger
	// Discover lists serial ports for %discover; nil means
	// serialport.Discover.
	Discover func() ([]serialport.Port, error)
}

// Default returns a registry holding every magic of the kernel.
func Default(o Options) *Registry {
	if o.Discover == nil {
		o.Discover = serialport.Discover
	}
	r := NewRegistry()
	groups := [][]*Magic{
		GeneralMagics(o.Level),
		deviceMagics(deviceDeps{devicesPath: o.DevicesPath, discover: o.Discover}),
		BoardMagics(o.DevicesPath),
		FileMagics(),
		HostMagics(),
		PlotMagics(),
	}
	for _, g := range groups {
		for _, m := range g {
			r.Add(m)
		}
	}
	return r
}
