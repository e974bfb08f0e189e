// board.mjs turns MicroPython's WebAssembly port into a serial board:
// bytes from the host arrive on stdin, the board's output leaves on stdout,
// diagnostics go to stderr. The Go testboard puts a pty in front of it.
//
// The port alone is not a faithful board (see README.md beside this file), so
// this wrapper supplies: \n -> \r\n on output, the "R\x00" answer to a
// raw-paste request, a real soft reboot (a fresh interpreter, files kept),
// Ctrl-C while Python sleeps, a working input(), and WebREPL's file
// transfer done natively, beside the REPL, as extmod/modwebrepl.c does.
//
// Environment: IOT_MPY_MODULE (required) is the path of the package's
// micropython.mjs; IOT_MPY_HEAPSIZE sets the heap in bytes (default 1 MiB);
// IOT_FILE_FDS="3,4" names the file-transfer channel's pipes (requests in,
// answers out); without it there is no such channel.
//
// With IOT_SIM=1 the board is a virtual ESP32 (see README.md): machine,
// time from the host clock, boot.py and main.py, sys.stdin on the serial
// line, a heap like an ESP32's; IOT_SIM_NAME names it (machine.unique_id()).
// IOT_SIM_DIR (with or without IOT_SIM) keeps its files in a host folder,
// written through at every change (persist.mjs). Its network
// lives in net.mjs (loaded only then, if present), which exports
//
//   installNet(mp, hooks)   (may return a Promise, which is awaited)
//
// called after every boot with the fresh interpreter `mp` (the object
// loadMicroPython returns), before boot.py runs. A call after the first
// means the previous interpreter is gone (soft reboot): close what it had
// open. `hooks` is the same object every time:
//
//   hooks.interrupted() -> true when a Ctrl-C arrived on stdin while code
//                          runs; the Ctrl-C is consumed (a board eats it).
//                          Call it between wait slices of <= 20 ms.
//   hooks.service()     -> flush the board's output, read stdin into the
//                          input queue, serve testboard file transfers.
//   hooks.log(msg)      -> a diagnostic line on stderr.

import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createStore } from './persist.mjs';
import { createHeapGuard } from './heap.mjs';

const CTRL_A = 0x01, CTRL_B = 0x02, CTRL_C = 0x03, CTRL_D = 0x04, CTRL_E = 0x05;
const RAW_BANNER = 'raw REPL; CTRL-B to exit\r\n';
const FRIENDLY_BANNER_END = 'for more information.\r\n';
// A jump of the millisecond clock that ends any sleep shorter than ~35 min,
// chosen so that the microsecond clock (ms * 1000, mod 2^32) jumps too.
const TICKS_JUMP_MS = 2147483;

function log(msg) {
  try { fs.writeSync(2, `board.mjs: ${msg}\n`); } catch { /* stderr gone */ }
}

// A fatal error is one line of stack on stderr: node's own report would
// quote the package's minified source (one line of 100 KB).
process.on('uncaughtException', (e) => {
  log(`fatal: ${e && e.stack || e}`);
  process.exit(1);
});

const modulePath = process.env.IOT_MPY_MODULE;
if (!modulePath) {
  log('IOT_MPY_MODULE is not set');
  process.exit(2);
}
const SIM = process.env.IOT_SIM === '1';
// With IOT_SIM the default heap makes gc.mem_free() right after boot about
// 110 KB, as on an ESP32 without PSRAM, and heap.mjs keeps the port from
// growing its heap beyond what a board would hold (MemoryError instead).
const SIM_HEAPSIZE = 116 * 1024;
const heapsize = parseInt(process.env.IOT_MPY_HEAPSIZE || '', 10) || (SIM ? SIM_HEAPSIZE : 1024 * 1024);
const simName = process.env.IOT_SIM_NAME || 'sim';
// machine.reset(): exit with EX_TEMPFAIL, "restart me", to the launcher.
const EXIT_RESET = 75;
const EXIT_DEEPSLEEP = 76; // sim.DeepSleepExit: a wake from deep sleep is a reset

// The board's own Python modules live in the interpreter's filesystem under
// PY_DIR, right after '' in sys.path: importable, never persisted, hidden
// from os.listdir('/'). They are read once from py/ beside this file.
const PY_DIR = '/.sim';
const pyFiles = [];
if (SIM) {
  const base = fileURLToPath(new URL('./py/', import.meta.url));
  const walk = (dir, rel) => {
    let ents = [];
    try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) { pyFiles.push({ rel: r, dir: true }); walk(path.join(dir, e.name), r); }
      else if (e.name.endsWith('.py')) pyFiles.push({ rel: r, data: fs.readFileSync(path.join(dir, e.name)) });
    }
  };
  walk(base, '');
}
const notPersisted = (p) => p === PY_DIR || p.startsWith(`${PY_DIR}/`);

// store keeps the filesystem in IOT_SIM_DIR, or is null (files in memory).
let store = null;
if (process.env.IOT_SIM_DIR) {
  try {
    store = createStore(process.env.IOT_SIM_DIR, notPersisted, log);
  } catch (e) {
    log(`IOT_SIM_DIR: cannot use ${process.env.IOT_SIM_DIR} as the board's filesystem: ${e.message}`);
    process.exit(2);
  }
}

// The host folder's .sim (never loaded onto the board) carries the reset
// cause over a process restart.
function resetCauseFile() { return store ? path.join(store.dir, '.sim', 'reset-cause') : null; }
let resetCause = 'PWRON';
{
  const f = resetCauseFile();
  if (f) {
    try { resetCause = fs.readFileSync(f, 'utf8').trim() || 'PWRON'; fs.unlinkSync(f); } catch { /* power on */ }
  }
}

const stdin = process.stdin; // created first: libuv makes fd 0 non-blocking, which pollInput relies on
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pause(ms) { Atomics.wait(sleeper, 0, 0, ms); }

// ---- output ---------------------------------------------------------------

let outChunks = [];
let outLen = 0;
let lastOutCR = false;
let muted = false; // set while a fresh interpreter prints what we replace
let mutedText = '';

function writeRaw(bytes) {
  if (muted) {
    mutedText += Buffer.from(bytes).toString('latin1');
    return;
  }
  outChunks.push(Buffer.from(bytes));
  outLen += bytes.length;
  if (outLen >= 4096) flushOut();
}

// flushOut writes the buffered output to stdout. keepHeld leaves a held
// traceback-line start (see hideFrames) for the write that completes it.
function flushOut(keepHeld = false) {
  if (frameHeld.length > 0 && !keepHeld) {
    outChunks.push(Buffer.from(frameHeld));
    outLen += frameHeld.length;
    frameHeld = [];
    atLineStart = false;
  }
  if (outLen === 0) return;
  const buf = outChunks.length === 1 ? outChunks[0] : Buffer.concat(outChunks, outLen);
  outChunks = [];
  outLen = 0;
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN') { pause(1); continue; }
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    }
  }
}

// hideFrames drops the traceback lines of the board's own modules
// ('  File "/.sim/socket.py", line 99, in accept'): on an ESP32 they are C
// and never show. A line start that may become one is held back until it
// does or does not; flushOut releases it (a traceback line is printed in
// one go, so it is complete by then).
const FRAME_PREFIX = Buffer.from('  File "/.sim/');
let frameHeld = [];
let frameDrop = false;
let atLineStart = true;
function hideFrames(bytes) {
  const out = [];
  for (const b of bytes) {
    if (frameDrop) {
      if (b === 0x0a) { frameDrop = false; atLineStart = true; }
      continue;
    }
    if (frameHeld.length > 0 || (atLineStart && b === FRAME_PREFIX[0])) {
      if (b === FRAME_PREFIX[frameHeld.length]) {
        frameHeld.push(b);
        if (frameHeld.length === FRAME_PREFIX.length) { frameHeld = []; frameDrop = true; }
        continue;
      }
      out.push(...frameHeld);
      frameHeld = [];
    }
    out.push(b);
    atLineStart = b === 0x0a;
  }
  return out;
}

// The REPL's own text is already \r\n; Python's print uses a bare \n, which a
// real board's "cooked" output turns into \r\n.
function boardOut(bytes) {
  const res = [];
  for (const b of SIM ? hideFrames(bytes) : bytes) {
    if (b === 0x0a && !lastOutCR) res.push(0x0d);
    res.push(b);
    lastOutCR = b === 0x0d;
  }
  writeRaw(res);
  if (!executing()) watchRepl(res);
  else stopButton(); // a program that prints in a loop gives JavaScript control here
}

// stopButton looks for a Ctrl-C, at most every 2 ms, where JavaScript gets
// control while a program runs without sleeping (a print, a sleep(0)), and
// schedules the KeyboardInterrupt, which the VM raises at its next jump.
function stopButton() {
  const now = Date.now();
  if (mp === null || now - lastPoll < 2) return;
  lastPoll = now;
  pollInput();
  if (takeInterrupt()) mp._module._mp_sched_keyboard_interrupt();
}

// ---- REPL mode, seen from the REPL's own output ---------------------------

let rawMode = false;
let rawLineEmpty = true;
let replTail = '';

function watchRepl(bytes) {
  replTail = (replTail + Buffer.from(bytes).toString('latin1')).slice(-64);
  if (replTail.endsWith(RAW_BANNER)) {
    rawMode = true;
    rawLineEmpty = true;
  } else if (replTail.endsWith(FRIENDLY_BANNER_END)) {
    rawMode = false;
  }
}

// ---- input ----------------------------------------------------------------

let q = [];
let qHead = 0;
let stdinEnded = false;
const stdinIsPipe = (() => {
  try { const st = fs.fstatSync(0); return st.isFIFO() || st.isSocket(); } catch { return false; }
})();

function enqueue(buf) {
  for (const b of buf) q.push(b);
}
function qLen() { return q.length - qHead; }
function qShift() {
  const c = q[qHead++];
  if (qHead > 4096 && qHead * 2 > q.length) { q = q.slice(qHead); qHead = 0; }
  return c;
}

const readBuf = Buffer.alloc(4096);
// pollInput moves whatever the host has sent into the queue without waiting.
// Bytes node has buffered come first, then the pipe itself: libuv only reads
// while the event loop runs, which it does not while Python runs.
function pollInput() {
  let chunk;
  while ((chunk = stdin.read()) !== null) enqueue(chunk);
  if (!stdinIsPipe || stdinEnded) return;
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, readBuf, 0, readBuf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') return;
      if (e.code === 'EOF') { stdinEnded = true; return; }
      throw e;
    }
    if (n === 0) { stdinEnded = true; return; }
    enqueue(readBuf.subarray(0, n));
  }
}

// ---- the interpreter ------------------------------------------------------

let mp = null; // current interpreter
let ticksSkew = 0;
let lastPoll = 0;
let lastNow = 0;
let sameNow = 0;

// ---- native file transfer --------------------------------------------------
//
// A real board's WebREPL reads and writes files in C (modwebrepl.c), beside
// the REPL: the running program is not interrupted. Here the Go testboard
// sends requests on a pipe of their own and they are served against the
// Emscripten FS directly, whenever JavaScript has control: while the REPL
// waits for input, or while Python sleeps (onTicks).
//
// Request:  op u8 (1 PUT, 2 GET) | name length u16 LE | data length u32 LE | name | data
// Answer:   status u8 (0 ok, 1 failed) | data length u32 LE | data

const FILE_PUT = 1, FILE_GET = 2;
const [ctlIn, ctlOut] = (process.env.IOT_FILE_FDS || '').split(',').map((x) => parseInt(x, 10));
const ctlEnabled = Number.isInteger(ctlIn) && Number.isInteger(ctlOut);
// Like stdin, a net.Socket makes the pipe non-blocking, so it can be polled.
const ctl = ctlEnabled ? new net.Socket({ fd: ctlIn, readable: true, writable: false }) : null;
let ctlBuf = Buffer.alloc(0);
let ctlEnded = false;
const ctlReadBuf = Buffer.alloc(65536);

function pollCtl() {
  let chunk;
  const parts = [ctlBuf];
  while ((chunk = ctl.read()) !== null) parts.push(chunk);
  while (!ctlEnded) {
    let n;
    try {
      n = fs.readSync(ctlIn, ctlReadBuf, 0, ctlReadBuf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') break;
      if (e.code === 'EOF') { ctlEnded = true; break; }
      throw e;
    }
    if (n === 0) { ctlEnded = true; break; }
    parts.push(Buffer.from(ctlReadBuf.subarray(0, n)));
  }
  ctlBuf = parts.length === 1 ? ctlBuf : Buffer.concat(parts);
}

// serveFiles answers every complete request. Not while there is no
// interpreter (during a soft reboot): the files would miss the new one.
function serveFiles() {
  if (!ctlEnabled || mp === null) return;
  pollCtl();
  while (ctlBuf.length >= 7) {
    const nameLen = ctlBuf.readUInt16LE(1);
    const dataLen = ctlBuf.readUInt32LE(3);
    if (ctlBuf.length < 7 + nameLen + dataLen) return;
    const op = ctlBuf[0];
    const name = ctlBuf.subarray(7, 7 + nameLen).toString('utf8');
    const data = ctlBuf.subarray(7 + nameLen, 7 + nameLen + dataLen);
    ctlBuf = ctlBuf.subarray(7 + nameLen + dataLen);
    let status = 1;
    let out = Buffer.alloc(0);
    try {
      if (op === FILE_PUT) {
        putFile(name, data);
        status = 0;
      } else if (op === FILE_GET) {
        out = Buffer.from(mp.FS.readFile(name));
        status = 0;
      }
    } catch (e) {
      log(`file transfer ${op} ${name}: ${e}`);
    }
    const hdr = Buffer.alloc(5);
    hdr[0] = status;
    hdr.writeUInt32LE(out.length, 1);
    writeAll(ctlOut, Buffer.concat([hdr, out]));
  }
}

// putFile writes under a temporary name and renames, so that a failed
// transfer leaves no half-written file.
function putFile(name, data) {
  const FS = mp.FS;
  const slash = name.lastIndexOf('/');
  const tmp = `${name.slice(0, slash + 1)}.${name.slice(slash + 1)}.webrepl-tmp`;
  if (FS.analyzePath(name).exists && FS.isDir(FS.stat(name).mode)) throw new Error(`${name} is a directory`);
  try {
    FS.writeFile(tmp, data);
    FS.rename(tmp, name);
  } catch (e) {
    try { FS.unlink(tmp); } catch { /* never created */ }
    throw e;
  }
}

function writeAll(fd, buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN') { pause(1); continue; }
      if (e.code === 'EPIPE') return; // the host is gone
      throw e;
    }
  }
}

// runningFile is set while boot.py or main.py runs (outside the REPL, which
// is what enables the interrupt character otherwise).
let runningFile = false;

function executing() {
  return mp !== null && (runningFile || mp._module._mp_hal_get_interrupt_char() === CTRL_C);
}

// takeInterrupt removes a pending Ctrl-C from the input, as a board's UART
// handler consumes the interrupt character, and reports whether there was
// one. Only while code runs: otherwise Ctrl-C is ordinary REPL input.
function takeInterrupt() {
  // Not inside Timer callbacks run from a wait (hooks.timers): the wait
  // that called them must see the Ctrl-C, not a callback.
  if (!executing() || inTimers) return false;
  const i = q.indexOf(CTRL_C, qHead);
  if (i < 0) return false;
  q.splice(i, 1);
  return true;
}

// service does what JavaScript owes the host whenever it has control.
function service() {
  heapSafePoint();
  flushOut();
  pollInput();
  serveFiles();
}

// hooks are what net.mjs may call while it blocks (see the top of the file).
const hooks = {
  interrupted() {
    pollInput();
    return takeInterrupt();
  },
  service,
  log,
  // timers runs the due machine.Timer callbacks, as a board does while a
  // socket call blocks (re-entrant: called from inside a js call).
  timers() {
    if (timerHook === null || mp === null || inTimers) return;
    callTimers();
  },
};

// net is net.mjs's module namespace, or null.
let netModule = null;
if (SIM) {
  const netPath = fileURLToPath(new URL('./net.mjs', import.meta.url));
  if (fs.existsSync(netPath)) {
    netModule = await import(pathToFileURL(netPath).href);
    if (typeof netModule.installNet !== 'function') {
      log('net.mjs exports no installNet: no network');
      netModule = null;
    }
  }
}

// onTicks runs inside every call of the port's millisecond clock, which
// time.sleep() polls in a busy loop. That is the only place where JavaScript
// gets control while Python runs, so Ctrl-C is looked for here.
//
// The interrupt is scheduled first, with the clock unchanged, so that the
// sleep's loop raises it at its next pending check, inside the sleep, and
// nothing after the sleep runs. Only if the clock is read again (a loop
// that does not check, as sleep_us) does it jump, to end that sleep too.
let jumpPending = false;
function onTicks() {
  if (mp === null) return;
  if (jumpPending) {
    jumpPending = false;
    ticksSkew += TICKS_JUMP_MS;
  }
  const now = Date.now();
  if (now - lastPoll >= 2) {
    lastPoll = now;
    service();
    if (takeInterrupt()) {
      mp._module._mp_sched_keyboard_interrupt();
      jumpPending = true;
    }
  }
  // The clock is being polled in a loop (a sleep): give the CPU back.
  if (now === lastNow) {
    if (++sameNow > 200) pause(1);
  } else {
    lastNow = now;
    sameNow = 0;
  }
}

// sleepMs waits ms milliseconds for time.sleep: the port's own sleep polls
// the clock in a busy loop, taking a good share of a core for as long as it
// lasts (onTicks can only pause between polls), which eight sleeping boards
// on two cores feel. This one waits in slices, doing between them what
// onTicks does: serve the host, and on a Ctrl-C schedule the interrupt and
// return at once (the caller's next jump raises it).
const SLEEP_SLICE_MS = 20;
function sleepMs(ms) {
  if (!(ms > 0)) {
    // As the port's, a zero or negative time does not wait; a loop of
    // sleep(0) still stops at the stop button.
    stopButton();
    return false;
  }
  const end = Date.now() + Math.floor(ms);
  for (;;) {
    service();
    if (takeInterrupt()) {
      mp._module._mp_sched_keyboard_interrupt();
      return true;
    }
    const left = end - Date.now();
    if (left <= 0) return false;
    pause(Math.min(left, SLEEP_SLICE_MS));
  }
}

// sleepUs waits us microseconds for time.sleep_us: the port's counts in
// its millisecond clock, so that sleep_us(300) took a whole millisecond.
// Whole milliseconds are slept as sleepMs does; the rest is waited out on
// the high-resolution clock, as a board's sleep_us spins on its timer.
function sleepUs(us) {
  if (!(us > 0)) {
    stopButton();
    return;
  }
  const end = performance.now() + us / 1000;
  if (us >= 2000 && sleepMs(Math.floor(us / 1000) - 1)) return;
  while (performance.now() < end) { /* spin: less than 2 ms */ }
  stopButton();
}

// TICKS_MASK is the port's ticks period less one (2**30 - 1), which
// time.py checks before it takes ticks_us from here.
const TICKS_MASK = 0x3fffffff;

// The port's file system reports Emscripten's (WASI's) errno numbers, while
// its errno module and every real board use Linux's: OSError(44) where a
// board raises OSError(2) ("[Errno 2] ENOENT"). Translate them.
const WASI_TO_LINUX_ERRNO = {
  63: 1, 44: 2, 29: 5, 8: 9, 6: 11, 48: 12, 2: 13, 10: 16, 20: 17, 72: 18, 43: 19,
  54: 20, 31: 21, 28: 22, 33: 24, 22: 27, 51: 28, 67: 29, 66: 30, 37: 36, 52: 38,
  55: 39, 32: 40, 58: 95,
};

// heapGuard bounds the current interpreter's heap (IOT_SIM), or is null;
// newGuard is the one made for the instance being loaded.
let heapGuard = null;
let newGuard = null;
function heapSafePoint() {
  if (heapGuard !== null) heapGuard.safePoint();
}
// heapTopLevel: a call into the port returned (its collection has run).
function heapTopLevel() {
  if (heapGuard !== null) heapGuard.topLevel();
}

const realInstantiate = WebAssembly.instantiate.bind(WebAssembly);
let compiled = null;
WebAssembly.instantiate = async (source, imports) => {
  const ticks = imports.env.mp_js_ticks_ms;
  if (typeof ticks === 'function') {
    imports.env.mp_js_ticks_ms = () => { onTicks(); return ticks() + ticksSkew; };
  } else {
    log('mp_js_ticks_ms not found: Ctrl-C cannot stop time.sleep()');
  }
  for (const name of Object.keys(imports.env)) {
    const f = imports.env[name];
    if (!name.startsWith('__syscall_') || typeof f !== 'function') continue;
    imports.env[name] = (...args) => {
      const r = f(...args);
      if (typeof r === 'number' && r < 0 && WASI_TO_LINUX_ERRNO[-r]) return -WASI_TO_LINUX_ERRNO[-r];
      return r;
    };
  }
  // A UART sends each byte as it is printed. Python's output reaches
  // boardOut through write(1, ...): flush after each such write, so output
  // (and the raw REPL's "OK") reaches the host even when a busy loop or a
  // long computation follows and JavaScript gets no other turn.
  if (typeof imports.env.fd_write === 'function') {
    const write = imports.env.fd_write;
    imports.env.fd_write = (fd, ...rest) => {
      heapSafePoint();
      const r = write(fd, ...rest);
      if (fd === 1 || fd === 2) flushOut(true);
      return r;
    };
  }
  if (store !== null && typeof imports.env.fd_sync === 'function') {
    const sync = imports.env.fd_sync;
    imports.env.fd_sync = (fd) => {
      const r = sync(fd);
      if (r === 0) store.syncFd(fd);
      return r;
    };
  }
  // Compile once: a soft reboot makes a new instance from the same code.
  if (compiled === null) {
    compiled = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
  }
  // With IOT_SIM the heap is bounded as a board's (heap.mjs); boot() arms
  // the guard once the port has made its heap.
  const guard = SIM ? createHeapGuard(imports, log) : null;
  const instance = await realInstantiate(compiled, imports);
  if (guard !== null) newGuard = { guard, instance };
  return { module: compiled, instance };
};

const { loadMicroPython } = await import(pathToFileURL(modulePath).href);

// readLine implements input(): echo, backspace, Enter; Ctrl-C gives null
// (KeyboardInterrupt), Ctrl-D on an empty line gives false (EOFError).
let skipLF = false;
function readLine(prompt) {
  boardOut(Buffer.from(String(prompt), 'utf8'));
  let line = [];
  for (;;) {
    if (qLen() === 0) {
      flushOut();
      pollInput();
      if (qLen() === 0) {
        if (stdinEnded) { flushOut(); process.exit(0); }
        // As a board's WebREPL does, serve file transfers while input()
        // waits: this loop keeps node's event loop from doing it.
        serveFiles();
        pause(2);
        continue;
      }
    }
    const c = qShift();
    if (skipLF && c === 0x0a) { skipLF = false; continue; }
    skipLF = false;
    if (c === 0x0d || c === 0x0a) {
      skipLF = c === 0x0d;
      boardOut([0x0d, 0x0a]);
      return Buffer.from(line).toString('utf8');
    }
    if (c === CTRL_C) {
      boardOut([0x0d, 0x0a]);
      return null;
    }
    if (c === CTRL_D && line.length === 0) {
      boardOut([0x0d, 0x0a]);
      return false;
    }
    if (c === 0x08 || c === 0x7f) {
      if (line.length > 0) {
        line.pop();
        boardOut([0x08, 0x20, 0x08]);
      }
      continue;
    }
    if (c < 0x20 && c !== 0x09) continue;
    line.push(c);
    boardOut([c]);
  }
}

// SETUP gives the interpreter what a board has and the port lacks: an
// input() that reads the serial line, and os.ilistdir entries with a size
// (VfsPosix yields 3-tuples, board filesystems 4-tuples).

const SETUP = `
def _tb_setup(rl):
    import builtins, os
    def input(prompt=''):
        r = rl(str(prompt))
        if r is None:
            raise KeyboardInterrupt
        if r is False:
            raise EOFError
        return r
    builtins.input = input
    il = os.ilistdir
    def ilistdir(path='.'):
        for e in il(path):
            if len(e) > 3:
                yield e
                continue
            size = 0
            if e[1] == 0x8000:
                p = e[0] if path in ('', '.') else path.rstrip('/') + '/' + e[0]
                try:
                    size = os.stat(p)[6]
                except OSError:
                    pass
            yield (e[0], e[1], e[2], size)
    os.ilistdir = ilistdir
`;

// boot creates a fresh interpreter. It returns the text the REPL printed.
// With IOT_SIM it then runs boot.py, and main.py when the REPL will be the
// friendly one (as a board does), and returns true if main.py asked for a
// soft reboot (SystemExit).
async function boot(files, raw) {
  setTimerHook(null);
  heapGuard = null;
  newGuard = null;
  // sys.stderr shares the UART with stdout, as on a real board (ESP32,
  // RP2040): without its own hook the port sends it to node's console.
  const next = await loadMicroPython({ heapsize, stdout: boardOut, stderr: boardOut, linebuffer: false });
  if (newGuard !== null) {
    if (newGuard.guard.arm(newGuard.instance, next._module, heapsize)) heapGuard = newGuard.guard;
    newGuard = null;
  }
  tidyRoot(next.FS);
  if (store !== null) store.load(next.FS);
  else if (files) restoreFiles(next.FS, files);
  next.runPython(SETUP);
  next.globals.get('_tb_setup')(readLine);
  next.globals.delete('_tb_setup');
  // sys.stdin reads the serial line on every board (the test board too):
  // left to the port, it read fd 0 behind the input queue's back, so an
  // answer was taken by it or by input() depending on timing.
  connectStdin(next.FS);
  if (SIM) simSetup(next);
  if (netModule !== null) await netModule.installNet(next, hooks);
  mp = next;
  if (SIM) {
    if (runFile('boot.py') || (!raw && runFile('main.py'))) return true;
  }
  muted = true;
  mutedText = '';
  mp.replInit();
  return false;
}

// ---- the virtual ESP32 (IOT_SIM=1) ---------------------------------------

// uniqueID is the board's 6 bytes (machine.unique_id(), the WLAN MAC),
// derived from its name: a locally administered unicast MAC.
const uniqueID = (() => {
  const h = crypto.createHash('sha256').update(`iot-sim:${simName}`).digest();
  h[0] = (h[0] & 0xfc) | 0x02;
  return h.subarray(0, 6).toString('hex');
})();
// rtcOffsetMs is what machine.RTC().datetime(...) set, relative to the host
// clock; it survives a soft reboot, as a board's RTC does.
let rtcOffsetMs = 0;
let cpuFreq = 240000000;

// timerHook runs the due machine.Timer callbacks of the current
// interpreter, or is null. A new interpreter has none.
let timerHook = null;
// timerPoll runs runTimers while there are timers, and only then: an idle
// board with none wakes node for nothing (it was 200 wake-ups a second).
let timerPoll = null;
function setTimerHook(fn) {
  timerHook = typeof fn === 'function' ? fn : null;
  if (timerHook !== null && timerPoll === null) timerPoll = setInterval(runTimers, TIMER_POLL_MS);
  else if (timerHook === null && timerPoll !== null) { clearInterval(timerPoll); timerPoll = null; }
}
let inTimers = false;
const TIMER_POLL_MS = 5;

function callTimers() {
  inTimers = true;
  try {
    timerHook();
  } catch (e) {
    log(`timer callback: ${e && e.message || e}`);
  } finally {
    inTimers = false;
  }
}

// runTimers is called by the event loop: the REPL is idle, unless a
// character is being processed (pumping) or code runs.
function runTimers() {
  if (timerHook === null || mp === null || pumping || executing() || inTimers) return;
  callTimers();
  heapTopLevel();
  flushOut();
  // The callbacks read the clock, which reads stdin into the queue: feed
  // what came (no 'readable' event will say so).
  if (qLen() > 0 || stdinEnded) startPump();
}

// boardAPI is the JS module _simboard the board's Python modules use.
// Numbers that may exceed 31 bits travel as strings (see HOOKS.md).
const boardAPI = {
  name: simName,
  uid: uniqueID,
  reset_cause() { return resetCause; },
  now() { return String((Date.now() + rtcOffsetMs) / 1000); },
  now_ns() { return ((BigInt(Date.now()) + BigInt(Math.round(rtcOffsetMs))) * 1000000n).toString(); },
  set_time(secs) { rtcOffsetMs = parseFloat(secs) * 1000 - Date.now(); },
  sync_time() { rtcOffsetMs = 0; },
  // timer_hook(fn) gives the function that runs due machine.Timer
  // callbacks (None: no timers); it is called while the REPL is idle.
  // The CPU clock (machine.freq()) is hardware state: a soft reboot keeps it.
  get_freq() { return cpuFreq; },
  // heap_limit() is the board's heap in bytes (0: not bounded).
  heap_limit() { return heapGuard !== null ? heapGuard.limit : 0; },
  set_freq(hz) { cpuFreq = hz; },
  timer_hook(fn) { setTimerHook(fn); },
  // sleep_ms(ms) is time.sleep's and time.sleep_ms's wait (py/time.py).
  sleep_ms(ms) { sleepMs(Number(ms)); },
  // sleep_us(us) and ticks_us() count microseconds, where the port's own
  // move in whole milliseconds.
  sleep_us(us) { sleepUs(Number(us)); },
  ticks_us() { return Math.floor(performance.now() * 1000) & TICKS_MASK; },
  reset(cause) {
    const f = resetCauseFile();
    if (f) {
      try { fs.mkdirSync(path.dirname(f), { recursive: true }); fs.writeFileSync(f, String(cause || 'HARD')); } catch (e) { log(`reset cause: ${e.message}`); }
    }
    flushOut();
    process.exit(cause === 'DEEPSLEEP' ? EXIT_DEEPSLEEP : EXIT_RESET);
  },
};

// SIM_SETUP runs at every boot with IOT_SIM: the board's modules on
// sys.path, gc reporting the heap as a board does.
const SIM_SETUP = `
def _sim_setup():
    import sys
    sys.path.insert(1, '${PY_DIR}')
    import _simgc
    sys.modules['gc'] = _simgc
    # utime is the C module whatever the path: make it the board's time.
    import time
    sys.modules['utime'] = time
    import os, _simos
    if not hasattr(os, 'uname'):
        os.uname = _simos.uname
_sim_setup()
del _sim_setup
def _sim_run(name):
    import sys
    try:
        f = open(name)
    except OSError:
        return 0
    with f:
        src = f.read()
    try:
        exec(compile(src, name, 'exec'), __import__('__main__').__dict__)
    except SystemExit:
        return 1
    except BaseException as e:
        # The traceback as a board prints it: without this function's frame.
        import io
        s = io.StringIO()
        sys.print_exception(e, s)
        t = s.getvalue().split('\\n')
        if len(t) > 1 and '_sim_run' in t[1]:
            del t[1]
        print('\\n'.join(t), end='')
    return 0
`;

function simSetup(m) {
  const FS = m.FS;
  // Hide PY_DIR from the root's listing: a board's root holds only its files.
  const readdir = FS.readdir;
  const hidden = PY_DIR.slice(1);
  FS.readdir = (p) => {
    const names = readdir.call(FS, p);
    let root = false;
    try { root = FS.lookupPath(p).path === '/'; } catch { /* readdir threw already */ }
    return root ? names.filter((n) => n !== hidden) : names;
  };
  FS.mkdir(PY_DIR);
  for (const f of pyFiles) {
    if (f.dir) FS.mkdir(`${PY_DIR}/${f.rel}`);
    else FS.writeFile(`${PY_DIR}/${f.rel}`, f.data);
  }
  m.registerJsModule('_simboard', boardAPI);
  m.runPython(SIM_SETUP);
}

// connectStdin makes sys.stdin read the serial line, as on a board: no echo
// (the kernel's input() reads it so), waiting for at least one byte; a
// Ctrl-C while code runs raises KeyboardInterrupt (the read fails with EINTR
// after an interrupt is scheduled, and MicroPython's retry loop raises it).
function connectStdin(FS) {
  const stream = FS.getStream(0);
  if (!stream) { log('no stdin stream: sys.stdin stays unconnected'); return; }
  const WASI_EINTR = 27;
  const POLLIN = 1, POLLOUT = 4;
  stream.stream_ops = {
    ...stream.stream_ops,
    // select/poll on sys.stdin: readable only when a byte is waiting (the
    // TTY's own poll says always).
    poll() {
      pollInput();
      // A Ctrl-C is the interrupt, not data: the poll's loop raises it.
      if (takeInterrupt()) {
        mp._module._mp_sched_keyboard_interrupt();
        return POLLOUT;
      }
      return POLLOUT | (qLen() > 0 ? POLLIN : 0);
    },
    read(_stream, buffer, offset, length) {
      for (;;) {
        pollInput();
        if (takeInterrupt()) {
          mp._module._mp_sched_keyboard_interrupt();
          throw new FS.ErrnoError(WASI_EINTR);
        }
        if (qLen() > 0) {
          let n = 0;
          while (n < length && qLen() > 0) buffer[offset + n++] = qShift();
          return n;
        }
        if (stdinEnded) { flushOut(); process.exit(0); }
        flushOut();
        serveFiles();
        pause(2);
      }
    },
  };
}

// runFile runs boot.py or main.py if present, as a board does at boot; it
// returns true when the file asked for a soft reboot (SystemExit).
function runFile(name) {
  runningFile = true;
  try {
    return mp.globals.get('_sim_run')(name) === 1;
  } catch (e) {
    log(`running ${name}: ${e && e.message || e}`);
    return false;
  } finally {
    runningFile = false;
    heapTopLevel();
    flushOut();
  }
}

function unmute() {
  muted = false;
  const text = mutedText;
  mutedText = '';
  return text;
}

// A board's root holds only its own files: drop Emscripten's empty /tmp and
// /home, its /dev (already opened) and /proc (its fd view removed unread),
// none of which a real board has.
function tidyRoot(FS) {
  // /proc/self/fd lists open streams when read, so remove it without reading it.
  try { FS.rmdir('/proc/self/fd'); } catch (e) { log(`cannot remove /proc/self/fd: ${e}`); }
  const rmrf = (p) => {
    if (FS.isDir(FS.lstat(p).mode)) {
      for (const n of FS.readdir(p)) if (n !== '.' && n !== '..') rmrf(`${p}/${n}`);
      FS.rmdir(p);
    } else {
      FS.unlink(p);
    }
  };
  for (const d of ['/tmp', '/home', '/dev', '/proc']) {
    try { rmrf(d); } catch (e) { log(`cannot remove ${d}: ${e}`); }
  }
}

// The port's files live in the instance's memory: carry them over a soft
// reboot, as a board's flash keeps them.
const SKIP = new Set(['/dev', '/proc', PY_DIR]);
function snapshotFiles(FS) {
  const files = [];
  const walk = (dir) => {
    for (const name of FS.readdir(dir)) {
      if (name === '.' || name === '..') continue;
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (SKIP.has(path)) continue;
      const st = FS.lstat(path);
      if (FS.isDir(st.mode)) {
        files.push({ path, dir: true });
        walk(path);
      } else if (FS.isFile(st.mode)) {
        files.push({ path, data: FS.readFile(path) });
      }
    }
  };
  walk('/');
  return files;
}

function restoreFiles(FS, files) {
  for (const f of files) {
    try {
      if (f.dir) {
        try { FS.mkdir(f.path); } catch { /* exists */ }
      } else {
        FS.writeFile(f.path, f.data);
      }
    } catch (e) {
      log(`cannot restore ${f.path}: ${e}`);
    }
  }
}

// softReboot does what a board does after the REPL asked for a soft reset:
// print "MPY: soft reboot", start a fresh interpreter, and come back in the
// same REPL mode.
async function softReboot() {
  const wasRaw = rawMode;
  const files = store === null ? snapshotFiles(mp.FS) : null;
  mp = null;
  resetCause = 'SOFT';
  boardOut(Buffer.from('MPY: soft reboot\n'));
  while (await boot(files, wasRaw)) {
    mp = null;
    boardOut(Buffer.from('MPY: soft reboot\n'));
  }
  serveFiles(); // requests that came while there was no interpreter
  if (wasRaw) {
    await mp.replProcessCharWithAsyncify(CTRL_A);
    unmute();
    boardOut(Buffer.from(RAW_BANNER + '>'));
    rawMode = true;
    rawLineEmpty = true;
  } else {
    boardOut(Buffer.from(unmute().replace(/^\r\n/, ''), 'latin1'));
    rawMode = false;
  }
}

async function processChar(c) {
  if (rawMode) rawLineEmpty = c === CTRL_A || c === CTRL_C || c === CTRL_D;
  const ret = await mp.replProcessCharWithAsyncify(c);
  heapTopLevel();
  if (ret !== 0) await softReboot();
}

// The port's raw-paste reads stdin as a constant 0 and hangs, so the request
// (Ctrl-E, 'A', Ctrl-A on an empty raw line) is answered here: "R\x00", the
// device understands the command but doesn't support raw paste.
let held = [];
async function feed(c) {
  if (held.length === 0) {
    if (rawMode && rawLineEmpty && c === CTRL_E) {
      held.push(c);
      return;
    }
    await processChar(c);
    return;
  }
  held.push(c);
  if (held.length === 2 && c === 0x41) return;
  if (held.length === 3 && c === CTRL_A) {
    held = [];
    boardOut(Buffer.from('R\x00', 'latin1'));
    rawLineEmpty = true;
    return;
  }
  const bytes = held;
  held = [];
  for (const b of bytes) await processChar(b);
}

let pumping = false;
async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (qLen() > 0) {
      await feed(qShift());
      if (outLen > 0 && qLen() === 0) flushOut();
    }
    flushOut();
    if (stdinEnded) process.exit(0);
  } finally {
    pumping = false;
  }
}

while (await boot(null, false)) {
  mp = null;
  boardOut(Buffer.from('MPY: soft reboot\n'));
}
boardOut(Buffer.from(unmute().replace(/^\r\n/, ''), 'latin1'));
flushOut();

function startPump() {
  pump().catch((e) => { log(`fatal: ${e && e.stack || e}`); process.exit(1); });
}

stdin.on('readable', () => {
  pollInput();
  startPump();
});
if (ctl !== null) {
  ctl.on('readable', serveFiles);
  ctl.on('end', () => { ctlEnded = true; });
  ctl.on('error', (e) => { log(`file-transfer channel: ${e}`); ctlEnded = true; });
  serveFiles();
}
stdin.on('end', () => {
  stdinEnded = true;
  pump().catch((e) => { log(`fatal: ${e && e.stack || e}`); process.exit(1); });
});
