// net.mjs is the main-thread half of the virtual board's network: the
// object globalThis.iotnet whose functions the board's Python modules
// (socket, select, ssl in py/) call synchronously through `import js`.
// Each function hands its request to the Worker in networker.mjs and waits
// for the reply with Atomics.wait, in slices of at most 20 ms; between
// slices it asks board.mjs (hooks) whether a Ctrl-C came, and lets it flush
// output and serve file transfers, since node's event loop cannot run.
//
// Interface with Python (every function returns at once or after its wait):
// a number >= 0 or a string is a result, a negative number is -errno,
// INTERRUPTED (-1000) means Ctrl-C (Python raises KeyboardInterrupt, the
// socket keeps its state), and a string starting with '!' is an error the
// board raises as OSError(code[, name]) ('!V text' is a ValueError).
// Bytes travel through a character device (see devpath): Python writes a
// payload to it before send/sendto/tls, and reads a received payload from
// it after recv/recvfrom, with no per-byte conversion.
// Timeouts (tmo) are in ms: -1 blocks, 0 does not wait.

import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';

const INTERRUPTED = -1000;
const CANCELLED = -1001;
const SLICE_MS = 20;
const EIO = -os.constants.errno.EIO;
const DEV_MAJOR = 250; // an unused major number in Emscripten's FS

function log(msg) {
  try { fs.writeSync(2, `net.mjs: ${msg}\n`); } catch { /* stderr gone */ }
}

let hooks = { interrupted: () => false, service: () => {} };
let mp = null;
let worker = null;
let port = null;
let sig = null; // [0]: bumped on each reply, [1]: 1 worker up, 2 worker dead
let seq = 0;
let inbox = null; // the received payload, read through the device
let inboxOff = 0;
let outbox = null; // the payload last written to the device, for the next request
let devSeq = 0;
let lastLook = 0; // when call last looked for a Ctrl-C
// Calls in progress: more than one when a Timer callback run during a wait
// makes a call of its own; replies to the outer ones wait in stash.
const active = new Set();
const stash = new Map();
const LOOK_MS = 5;

function ensureWorker() {
  if (worker !== null) return;
  sig = new Int32Array(new SharedArrayBuffer(8));
  const ch = new MessageChannel();
  port = ch.port1;
  worker = new Worker(new URL('./networker.mjs', import.meta.url), {
    workerData: { port: ch.port2, sig },
    transferList: [ch.port2],
  });
  worker.unref();
  port.unref(); // replies are read with receiveMessageOnPort, never as events
  worker.on('error', (err) => log(`network worker: ${err && err.stack || err}`));
}

// waitReply waits up to ms for the reply to id. Replies to requests given
// up on earlier are dropped, after putting back what they took; replies to
// outer calls in progress are kept for them.
function waitReply(id, ms) {
  const end = Date.now() + ms;
  const kept = stash.get(id);
  if (kept !== undefined) {
    stash.delete(id);
    return kept;
  }
  for (;;) {
    const v = Atomics.load(sig, 0);
    let m;
    while ((m = receiveMessageOnPort(port)) !== undefined) {
      if (m.message.id === id) return m.message;
      if (active.has(m.message.id)) stash.set(m.message.id, m.message);
      else undo(m.message);
    }
    if (Atomics.load(sig, 1) === 2) return { id, r: EIO };
    const left = end - Date.now();
    if (left <= 0) return null;
    Atomics.wait(sig, 0, v, Math.min(left, SLICE_MS));
  }
}

function undo(msg) {
  if (msg.u && msg.r !== CANCELLED) port.postMessage({ ...msg.u, data: msg.d });
}

// call sends a request and waits for its reply, watching for Ctrl-C.
function call(msg, transfer) {
  ensureWorker();
  const id = ++seq;
  msg.id = id;
  active.add(id);
  try {
    return wait(id, msg, transfer);
  } finally {
    active.delete(id);
    stash.delete(id);
  }
}

function wait(id, msg, transfer) {
  port.postMessage(msg, transfer || []);
  for (;;) {
    const rep = waitReply(id, SLICE_MS);
    if (rep !== null) {
      // A loop of calls that never wait must still see a Ctrl-C (and
      // show its output): the interrupt is raised in Python right after
      // this call, as between two statements on a board.
      const now = Date.now();
      if (now - lastLook >= LOOK_MS) {
        lastLook = now;
        if (lookInterrupted()) mp._module._mp_sched_keyboard_interrupt();
        service();
      }
      return rep;
    }
    lastLook = Date.now();
    if (lookInterrupted()) {
      port.postMessage({ op: 'cancel', cancel: id });
      const late = waitReply(id, 2000);
      if (late !== null) undo(late);
      return { id, r: INTERRUPTED };
    }
    service();
  }
}

function lookInterrupted() {
  try {
    return hooks.interrupted();
  } catch (err) {
    log(`hooks.interrupted: ${err}`);
    return false;
  }
}

// service lets board.mjs do its chores; hooks.timers, when board.mjs gives
// it, runs due machine.Timer callbacks (a board runs them while a socket
// call waits).
function service() {
  try {
    hooks.service();
    if (typeof hooks.timers === 'function') hooks.timers();
  } catch (err) {
    log(`hooks.service: ${err}`);
  }
}

function result(rep) {
  if (rep.d) {
    inbox = rep.d;
    inboxOff = 0;
  }
  return rep.r;
}

// takeOutbox gives the payload of n bytes Python has just written (an
// empty payload may never reach the device).
function takeOutbox(n) {
  const out = n > 0 && outbox !== null ? outbox : new Uint8Array(0);
  outbox = null;
  return out;
}

// The character device's operations: reads give the last received
// payload, a write replaces the payload for the next request (one write
// per payload, so a write left over by a Ctrl-C cannot leak into the next
// one). Both copy straight between the wasm heap and node buffers.
const devOps = {
  read(stream, buffer, offset, length) {
    if (inbox === null) return 0;
    const n = Math.min(length, inbox.length - inboxOff);
    new Uint8Array(buffer.buffer, buffer.byteOffset + offset, n).set(inbox.subarray(inboxOff, inboxOff + n));
    inboxOff += n;
    if (inboxOff >= inbox.length) inbox = null;
    return n;
  },
  write(stream, buffer, offset, length) {
    outbox = new Uint8Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + length));
    return length;
  },
};

function num(x, dflt) {
  return typeof x === 'number' ? x : dflt;
}

const api = {
  // devpath creates the device node for Python to open; undev removes
  // the name again (the open file keeps working), so that it never shows
  // in the board's filesystem.
  devpath() {
    const FS = mp.FS;
    // In board.mjs's folder of modules when there is one: never persisted.
    const dir = FS.analyzePath('/.sim').exists ? '/.sim' : '';
    const path = `${dir}/.iotnet-${++devSeq}`;
    FS.mkdev(path, 0o666, FS.makedev(DEV_MAJOR, 0));
    return path;
  },
  undev(path) {
    try { mp.FS.unlink(String(path)); } catch (err) { log(`unlink ${path}: ${err}`); }
  },

  // info is the board's address and name: "ip\nname".
  info() {
    return `${process.env.IOT_SIM_IP || '127.0.0.1'}\n${process.env.IOT_SIM_NAME || 'sim'}`;
  },

  socket(type) { return call({ op: 'socket', type: num(type, 1) }).r; },
  close(sid) { return call({ op: 'close', sid }).r; },
  setopt(sid, level, opt, val) { return call({ op: 'setopt', sid, level, opt, val }).r; },
  bind(sid, host, p) { return call({ op: 'bind', sid, host: String(host), port: num(p, 0) }).r; },
  listen(sid, backlog) { return call({ op: 'listen', sid, backlog: num(backlog, 2) }).r; },
  accept(sid, tmo) { return call({ op: 'accept', sid, tmo: num(tmo, -1) }).r; },
  connect(sid, host, p, tmo) {
    return call({ op: 'connect', sid, host: String(host), port: num(p, 0), tmo: num(tmo, -1) }).r;
  },
  // send sends the payload of n bytes written to the device.
  send(sid, tmo, n) {
    const data = takeOutbox(n);
    return call({ op: 'send', sid, data, tmo: num(tmo, -1) }, [data.buffer]).r;
  },
  sendto(sid, host, p, n) {
    const data = takeOutbox(n);
    return call({ op: 'sendto', sid, data, host: String(host), port: num(p, 0), tmo: -1 }, [data.buffer]).r;
  },
  // recv leaves the payload in the device and returns its length.
  recv(sid, n, mode, tmo) {
    return result(call({ op: 'recv', sid, n: num(n, -1), mode: num(mode, 0), tmo: num(tmo, -1) }));
  },
  // recvfrom returns "length ip port".
  recvfrom(sid, n, tmo) { return result(call({ op: 'recvfrom', sid, n: num(n, 0), tmo: num(tmo, -1) })); },
  // gai returns "ip port" for a host and port, after IOT_SIM_HOSTS.
  gai(host, p) { return call({ op: 'gai', host: String(host), port: num(p, 0) }).r; },
  // poll takes "sid:events,..." and returns the ready ones the same way.
  poll(spec, tmo) {
    const list = [];
    for (const item of String(spec).split(',')) {
      if (!item) continue;
      const [s, ev] = item.split(':');
      list.push([parseInt(s, 10), parseInt(ev, 10)]);
    }
    return call({ op: 'poll', list, tmo: num(tmo, -1) }).r;
  },
  // tls starts TLS on a connected socket; the payload is key, cert and CA
  // data one after the other, of the lengths given.
  tls(sid, server, reqs, hostname, nkey, ncert, nca, tmo) {
    const all = takeOutbox(nkey + ncert + nca);
    let off = 0;
    const part = (n) => {
      if (!n) return undefined;
      const b = all.subarray(off, off + n);
      off += n;
      return b;
    };
    const key = part(nkey), cert = part(ncert), ca = part(nca);
    return call({
      op: 'tls', sid, server: !!server, reqs: num(reqs, 0), hostname: hostname ? String(hostname) : '',
      key, cert, ca, tmo: num(tmo, -1),
    }).r;
  },
};

/**
 * installNet makes the network reachable from the interpreter mp (its
 * Python modules find it as js.iotnet). board.mjs calls it after creating
 * each interpreter, with hooks = { interrupted(): boolean (a Ctrl-C
 * arrived; consumed), service(): void (flush output, serve file
 * transfers), and optionally timers(): void (run due machine.Timer
 * callbacks) }. On a later call (a soft reboot) every socket of the
 * previous interpreter is closed, as on the board.
 */
export function installNet(interp, h) {
  mp = interp;
  if (h) hooks = h;
  inbox = null;
  outbox = null;
  mp.FS.registerDevice(mp.FS.makedev(DEV_MAJOR, 0), devOps);
  globalThis.iotnet = api;
  if (worker !== null) {
    const saved = hooks;
    hooks = { interrupted: () => false, service: saved.service };
    try { call({ op: 'reset' }); } finally { hooks = saved; }
  }
}
