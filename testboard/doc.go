// Package testboard runs real MicroPython with no hardware, for tests: an
// emulated board behind a pseudo-terminal that clients open like a USB
// serial port, and optional network front ends (WebREPL, RFC 2217).
//
// Two kinds of board exist:
//
//   - Microbit: QEMU's micro:bit running MicroPython 1.9.2 (Debian packages
//     qemu-system-arm and firmware-microbit-micropython). It boots in about
//     35 ms. Its UART buffer is 64 bytes with no flow control, so host-to-board
//     bytes are paced like its real 115200-baud UART by default; with
//     Options.PaceBaud < 0 the client must pace its writes (32 bytes with
//     2 ms gaps). About 9 KB of RAM: programs over
//     about 2 KB raise MemoryError. No raw-paste (the request is answered
//     "raw REPL; CTRL-B to exit\r\n>"). Ctrl-C interrupts anything.
//   - Wasm: MicroPython 1.27's WebAssembly port under node, with the wrapper
//     sim/board/board.mjs (npm package @micropython/micropython-webassembly-pyscript
//     1.27.0, found in node_modules). It boots in about 100 ms. It refuses
//     raw-paste ("R\x00"), soft-resets for real, takes Ctrl-C while Python
//     sleeps but not in a pure busy loop, and input() works. WebREPL file
//     transfers are served natively beside the REPL, as on a real board
//     (the micro:bit, which has no WebREPL in reality, moves files through
//     its raw REPL). sim/board/README.md lists what the wrapper supplies.
//
// Both behave like a board on a USB serial port: raw tty, \r\n line ends,
// the pty survives clients closing and reopening it, and what the board
// printed while booting is discarded. Output printed while no client reads
// waits in the pty (a few KB), then the board stalls until someone reads.
// Ctrl-C counts only once code runs: sent while the board still compiles
// (right after "OK"), it is just input.
//
// Kill simulates unplugging (the client's reads fail and Path vanishes);
// Restart plugs a fresh board in at the same Path. StartWebREPL and
// StartRFC2217 put a network in front of a board.
//
// Environment: IOT_QEMU, IOT_MICROBIT_FIRMWARE, IOT_NODE, IOT_NODE_MODULES,
// IOT_SER2NET override where the tools are found.
package testboard
