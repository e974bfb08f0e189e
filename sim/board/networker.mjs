// networker.mjs is the virtual board's network stack: a worker_threads
// Worker that owns every socket, listener and TLS session, because the
// board's main thread sits in Python (or in Atomics.wait) and never runs
// node's event loop. net.mjs (the main thread) sends one request at a time
// on a MessagePort; each gets exactly one reply, after which this worker
// bumps sig[0] and notifies it, so the main thread can wait with
// Atomics.wait and read the reply with receiveMessageOnPort.
//
// Blocking requests (accept, recv, connect, poll, TLS handshake) wait here
// until they can be answered, their timeout passes (-ETIMEDOUT) or the main
// thread cancels them ({op:'cancel'}, after a Ctrl-C). A request takes data
// or a connection only in the reply that answers it, and such a reply names
// how to undo it (u), so that a reply crossing a cancel is put back and no
// byte is lost.
//
// Errors are negative errno numbers, Linux's, as the board's errno module
// reports them; a failed name lookup is '!-202' as on an ESP32 (lwIP's
// EAI_FAIL).
//
// Environment (inherited from the board process): IOT_SIM_HOSTS (a JSON
// host map), IOT_SIM_EXPOSE=1 (a bind to 0.0.0.0 listens on every host
// interface, else on 127.0.0.1 only), IOT_SIM_IP (the board's address).

import { workerData } from 'node:worker_threads';
import net from 'node:net';
import dgram from 'node:dgram';
import dns from 'node:dns';
import tls from 'node:tls';
import os from 'node:os';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Duplex } from 'node:stream';

const { port, sig } = workerData;
const E = os.constants.errno;
const CANCELLED = -1001;
const EAI_FAIL = '!-202';
const POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 16, POLLNVAL = 32;
const HIGH = 256 * 1024; // receive queue / send buffer bound
const LOW = 64 * 1024;
const EXPOSE = process.env.IOT_SIM_EXPOSE === '1';
const SIM_IP = process.env.IOT_SIM_IP || '127.0.0.1';
const HOSTS = parseHosts(process.env.IOT_SIM_HOSTS);

function log(msg) {
  try { fs.writeSync(2, `networker.mjs: ${msg}\n`); } catch { /* stderr gone */ }
}

// A crash is reported in sig[1] so that a waiting main thread stops waiting.
process.on('uncaughtException', (err) => {
  log(`fatal: ${err && err.stack || err}`);
  Atomics.store(sig, 1, 2);
  Atomics.notify(sig, 0);
});

function parseHosts(text) {
  if (!text) return {};
  try {
    const m = JSON.parse(text);
    if (m && typeof m === 'object' && !Array.isArray(m)) {
      const out = {};
      for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = String(v);
      return out;
    }
  } catch (err) {
    log(`IOT_SIM_HOSTS is not a JSON object (${err.message}): ignored`);
  }
  return {};
}

// mapHost applies IOT_SIM_HOSTS: "name:port" first, then "name"; a value
// without a port keeps the one asked for.
function mapHost(host, p) {
  const h = String(host).toLowerCase();
  const v = HOSTS[`${h}:${p}`] ?? HOSTS[h];
  if (v === undefined) return [h, p];
  const i = v.lastIndexOf(':');
  if (i > 0 && /^\d+$/.test(v.slice(i + 1))) return [v.slice(0, i), parseInt(v.slice(i + 1), 10)];
  return [v, p];
}

function errnoOf(err) {
  const n = err && E[err.code];
  return typeof n === 'number' ? n : E.EIO;
}

// resolve gives [ip, port] for a host as the board would reach it, or
// throws the reply to give (a negative errno or EAI_FAIL).
async function resolve(host, p) {
  const [h, mp] = mapHost(host, p);
  if (h === '' || h === '0.0.0.0') return ['0.0.0.0', mp];
  if (net.isIPv4(h)) return [h, mp];
  if (net.isIP(h)) throw -E.EAFNOSUPPORT;
  try {
    const { address } = await dns.promises.lookup(h, { family: 4 });
    return [address, mp];
  } catch {
    throw EAI_FAIL;
  }
}

// Where a listener really binds: the board's "all interfaces" (and its own
// reported address) is loopback unless IOT_SIM_EXPOSE=1.
function listenHost(ip) {
  if (ip === '0.0.0.0' || ip === SIM_IP) return EXPOSE ? '0.0.0.0' : '127.0.0.1';
  return ip;
}

// Where a connection really goes: the board's own address is this host.
function connectHost(ip) {
  return ip === SIM_IP || ip === '0.0.0.0' ? '127.0.0.1' : ip;
}

// ---- replies and pending requests ------------------------------------------

function reply(id, r, data, undo) {
  const msg = { id, r };
  if (data) msg.d = data;
  if (undo) msg.u = undo;
  port.postMessage(msg, data ? [data.buffer] : []);
  Atomics.add(sig, 0, 1);
  Atomics.notify(sig, 0);
}

// Requests waiting for an event: usually one (the main thread waits for
// each reply), more when a Timer callback run during a wait makes its own
// call. Every event that may change an answer calls settle.
const pending = new Map(); // id -> { check, timer }

function settle() {
  for (const [id, p] of pending) {
    const out = p.check();
    if (out !== undefined) finish(id, out);
  }
}

function finish(id, out) {
  const p = pending.get(id);
  pending.delete(id);
  if (p.timer) clearTimeout(p.timer);
  reply(id, out[0], out[1], out[2]);
}

// start answers at once when check can, else waits for tmo ms (-1: for
// ever; 0: answers -EAGAIN, or what onTimeout gives).
function start(id, tmo, check, onTimeout) {
  const out = check();
  if (out !== undefined) {
    reply(id, out[0], out[1], out[2]);
    return;
  }
  const expire = () => {
    pending.delete(id);
    const t = onTimeout ? onTimeout() : undefined;
    if (t !== undefined) reply(id, t[0], t[1], t[2]);
    else reply(id, tmo === 0 ? -E.EAGAIN : -E.ETIMEDOUT);
  };
  if (tmo === 0) {
    expire();
    return;
  }
  const p = { check };
  if (tmo > 0) p.timer = setTimeout(expire, tmo);
  pending.set(id, p);
}

// ---- sockets --------------------------------------------------------------

const socks = new Map();
let nextSid = 1;

function entry(type) {
  return {
    type, // 'tcp' | 'udp'
    state: 'new', // new | bound | listening | connecting | connected | closed
    sock: null, // net.Socket or tls.TLSSocket
    server: null,
    udp: null,
    rq: [], rqLen: 0, eof: false, err: 0,
    aq: [], // accepted, not yet taken
    dq: [], // datagrams: [data, address, port]
    reuse: false, broadcast: false,
    local: null, // [ip, port] asked for by bind
    tlsDone: false,
    peer: null,
  };
}

function add(e) {
  const sid = nextSid++;
  socks.set(sid, e);
  return sid;
}

function attach(e, s) {
  e.sock = s;
  e.on = {
    data: (b) => {
      if (e.state === 'closed') return;
      e.rq.push(b);
      e.rqLen += b.length;
      if (e.rqLen > HIGH) s.pause();
      settle();
    },
    end: () => { e.eof = true; settle(); },
    error: (err) => { if (!e.err) e.err = errnoOf(err); e.errObj = err; settle(); },
    close: () => { e.eof = true; settle(); },
    drain: settle,
  };
  for (const [ev, f] of Object.entries(e.on)) s.on(ev, f);
}

// detach removes attach's listeners (node's own stay).
function detach(e) {
  if (!e.sock || !e.on) return;
  for (const [ev, f] of Object.entries(e.on)) e.sock.removeListener(ev, f);
  e.on = null;
}

// take removes the first n bytes of e's receive queue into a fresh array
// (transferred to the main thread).
function take(e, n) {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const b = e.rq[0];
    const k = Math.min(b.length, n - off);
    out.set(b.subarray(0, k), off);
    off += k;
    if (k === b.length) e.rq.shift();
    else e.rq[0] = b.subarray(k);
  }
  e.rqLen -= n;
  if (e.sock && e.rqLen < LOW && e.sock.isPaused && e.sock.isPaused()) e.sock.resume();
  return out;
}

function indexOfNL(e, limit) {
  let off = 0;
  for (const b of e.rq) {
    if (off >= limit) return -1;
    const i = b.indexOf(0x0a);
    if (i >= 0 && off + i < limit) return off + i;
    off += b.length;
  }
  return -1;
}

function readiness(e, ev) {
  if (!e || e.state === 'closed') return POLLNVAL;
  let r = 0;
  if (e.type === 'udp') {
    if (e.dq.length > 0) r |= POLLIN;
    r |= POLLOUT;
    if (e.err) r |= POLLERR;
  } else if (e.server) {
    if (e.aq.length > 0) r |= POLLIN;
    if (e.err) r |= POLLERR;
  } else if (e.state === 'connected') {
    if (e.rqLen > 0 || e.eof) r |= POLLIN;
    if (e.err) r |= POLLERR | POLLIN | POLLOUT;
    else if (!e.eof || e.sock.writable) {
      if (e.sock.writableLength < HIGH) r |= POLLOUT;
    }
    if (e.eof && e.rqLen === 0 && !e.sock.writable) r |= POLLHUP;
  } else if (e.state === 'connecting') {
    if (e.err) r |= POLLERR | POLLOUT | POLLIN;
  }
  return r & (ev | POLLERR | POLLHUP | POLLNVAL);
}

function closeEntry(e) {
  if (e.state === 'closed') return;
  e.state = 'closed';
  if (e.sock) {
    const s = e.sock;
    detach(e);
    s.on('data', () => {}); // drain what still comes
    s.on('error', () => {});
    // Closed both ways once what was written has gone, as a board's
    // close() does: the peer's later sends fail (reset), they do not
    // vanish into a half-open socket. Within 2 s in any case.
    s.end(() => s.destroy());
    setTimeout(() => s.destroy(), 2000).unref();
  }
  if (e.server) {
    e.server.close();
    for (const c of e.aq) c.sock.destroy();
    e.aq = [];
  }
  if (e.udp) {
    try { e.udp.close(); } catch { /* closed */ }
  }
  e.rq = [];
  e.rqLen = 0;
}

function get(sid) {
  const e = socks.get(sid);
  return e && e.state !== 'closed' ? e : null;
}

// listen binds a TCP listener now, so that a port in use fails bind() as on
// the board. Connections that come before listen() wait in the queue.
function tcpListen(e, host, p, done) {
  const srv = net.createServer({ allowHalfOpen: true, noDelay: true });
  srv.on('connection', (s) => {
    if (e.state === 'closed' || e.aq.length >= 64) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    const c = entry('tcp');
    c.state = 'connected';
    c.peer = [String(s.remoteAddress).replace(/^::ffff:/, ''), s.remotePort];
    attach(c, s);
    e.aq.push(c);
    settle();
  });
  let answered = false;
  srv.once('listening', () => {
    answered = true;
    e.server = srv;
    srv.on('error', (err) => { e.err = errnoOf(err); settle(); });
    if (e.state === 'closed') srv.close();
    done(0);
  });
  srv.once('error', (err) => {
    if (answered) return;
    answered = true;
    done(-errnoOf(err));
  });
  srv.listen({ host, port: p, backlog: 16, exclusive: true });
}

// udpBound is e's UDP socket, bound on first use where the board's
// listeners bind (loopback unless IOT_SIM_EXPOSE=1): node would bind an
// unbound socket's first send or connect to every interface.
function udpBound(e) {
  const u = udpSocket(e);
  if (!e.udpBound) {
    e.udpBound = true;
    e.local = [listenHost('0.0.0.0'), 0];
    u.once('listening', () => { if (e.state === 'new') e.state = 'bound'; });
    u.bind(0, e.local[0]);
  }
  return u;
}

function udpSocket(e) {
  if (e.udp) return e.udp;
  const u = dgram.createSocket({ type: 'udp4', reuseAddr: e.reuse });
  u.on('message', (msg, rinfo) => {
    if (e.dq.length < 64) e.dq.push([msg, rinfo.address, rinfo.port]);
    settle();
  });
  u.on('error', (err) => { e.err = errnoOf(err); settle(); });
  u.on('listening', () => { if (e.broadcast) u.setBroadcast(true); });
  e.udp = u;
  return u;
}

// ---- TLS ------------------------------------------------------------------

// A Duplex over the TCP socket, so that bytes already received (a client's
// hello that came with the connection) reach the TLS layer first.
function rawStream(e, pre, ended) {
  const s = e.sock;
  detach(e);
  const d = new Duplex({
    read() { s.resume(); },
    write(chunk, enc, cb) { s.write(chunk, cb); },
    final(cb) { s.end(); cb(); },
    destroy(err, cb) { s.destroy(); cb(err); },
  });
  if (pre.length > 0) d.push(pre);
  if (ended) d.push(null);
  s.on('data', (b) => { if (!d.push(b)) s.pause(); });
  s.on('end', () => d.push(null));
  s.on('error', (err) => d.destroy(err));
  s.on('close', () => { if (!d.destroyed) d.push(null); });
  return d;
}

function pemCert(buf) {
  const b = Buffer.from(buf);
  if (b.includes('-----BEGIN')) return b;
  return new crypto.X509Certificate(b).toString();
}

function pemKey(buf) {
  const b = Buffer.from(buf);
  if (b.includes('-----BEGIN')) return b;
  for (const type of ['pkcs8', 'pkcs1', 'sec1']) {
    try {
      return crypto.createPrivateKey({ key: b, format: 'der', type }).export({ format: 'pem', type: 'pkcs8' });
    } catch { /* another encoding */ }
  }
  throw new Error('invalid key');
}

const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_REJECTED', 'INVALID_CA', 'HOSTNAME_MISMATCH',
]);

// tlsError names a failed handshake as mbedTLS on the board would.
function tlsError(e) {
  const code = e.errObj && e.errObj.code;
  if (VERIFY_CODES.has(code)) return '!-9984 MBEDTLS_ERR_X509_CERT_VERIFY_FAILED';
  if (code === 'ECONNRESET' || code === 'EPIPE' || !e.errObj) return '!-80 MBEDTLS_ERR_NET_CONN_RESET';
  return '!-30592 MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE';
}

// ---- requests -------------------------------------------------------------

const ops = {
  socket(m) {
    reply(m.id, add(entry(m.type === 2 ? 'udp' : 'tcp')));
  },

  close(m) {
    const e = socks.get(m.sid);
    if (e) closeEntry(e);
    socks.delete(m.sid);
    reply(m.id, 0);
  },

  setopt(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (m.opt === 4) e.reuse = !!m.val; // SO_REUSEADDR (listeners always reuse)
    else if (m.opt === 32) { // SO_BROADCAST
      e.broadcast = !!m.val;
      if (e.udp) try { e.udp.setBroadcast(!!m.val); } catch { /* not bound yet */ }
    }
    reply(m.id, 0);
  },

  async bind(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.state !== 'new') return reply(m.id, -E.EINVAL);
    let ip, p;
    try { [ip, p] = await resolve(m.host, m.port); } catch (r) { return reply(m.id, r); }
    const host = listenHost(ip);
    e.local = [host, p];
    if (e.type === 'tcp') {
      return tcpListen(e, host, p, (r) => {
        if (r === 0 && e.state === 'new') e.state = 'bound';
        reply(m.id, r);
      });
    }
    if (e.udpBound) return reply(m.id, -E.EINVAL); // bound by a send already
    const u = udpSocket(e);
    e.udpBound = true;
    let done = false;
    u.once('listening', () => { done = true; e.state = 'bound'; reply(m.id, 0); });
    u.once('error', (err) => { if (!done) { done = true; reply(m.id, -errnoOf(err)); } });
    u.bind(p, host);
  },

  listen(m) {
    const e = get(m.sid);
    if (!e || e.type !== 'tcp') return reply(m.id, e ? -E.EOPNOTSUPP : -E.EBADF);
    if (e.state === 'listening') return reply(m.id, 0);
    if (e.state === 'bound') {
      e.state = 'listening';
      return reply(m.id, 0);
    }
    if (e.state !== 'new') return reply(m.id, -E.EINVAL);
    // listen() without bind(): any port, as lwIP does.
    e.local = [listenHost('0.0.0.0'), 0];
    tcpListen(e, e.local[0], 0, (r) => {
      if (r === 0 && e.state === 'new') e.state = 'listening';
      reply(m.id, r);
    });
  },

  accept(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (!e.server || e.state !== 'listening') return reply(m.id, -E.EINVAL);
    start(m.id, m.tmo, () => {
      if (e.aq.length > 0) {
        const c = e.aq.shift();
        const sid = add(c);
        return [`${sid} ${c.peer[0]} ${c.peer[1]}`, null, { op: 'unaccept', sid: m.sid, child: sid }];
      }
      if (e.state === 'closed') return [-E.EBADF];
      if (e.err) return [-e.err];
      return undefined;
    });
  },

  async connect(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.state === 'connected') return reply(m.id, e.type === 'udp' ? 0 : -E.EISCONN);
    if (e.state === 'connecting') return reply(m.id, -E.EALREADY);
    let ip, p;
    try { [ip, p] = await resolve(m.host, m.port); } catch (r) { return reply(m.id, r); }
    ip = connectHost(ip);
    if (e.type === 'udp') {
      const u = udpBound(e);
      u.connect(p, ip, () => { e.state = 'connected'; reply(m.id, 0); });
      return;
    }
    const opts = { host: ip, port: p, allowHalfOpen: true, noDelay: true };
    if (e.server) { // bound first: connect from that address
      opts.localAddress = e.local[0];
      opts.localPort = e.local[1];
      e.server.close();
      e.server = null;
    }
    e.state = 'connecting';
    e.eof = false;
    const s = net.connect(opts);
    attach(e, s);
    s.once('connect', () => {
      if (e.state === 'connecting') e.state = 'connected';
      settle();
    });
    if (m.tmo === 0) return reply(m.id, -E.EINPROGRESS);
    start(m.id, m.tmo, () => {
      if (e.state === 'connected') return [0];
      if (e.err) {
        const err = e.err;
        // The failed socket's late events ('close') must not reach a
        // connection made later on this entry.
        detach(e);
        e.state = 'new';
        e.err = 0;
        e.eof = false;
        e.sock = null;
        return [-err];
      }
      return undefined;
    }, () => {
      detach(e);
      s.destroy();
      e.state = 'new';
      e.eof = false;
      e.sock = null;
      return [-E.ETIMEDOUT];
    });
  },

  send(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.type === 'udp') {
      if (e.state !== 'connected') return reply(m.id, -E.ENOTCONN);
      e.udp.send(m.data);
      return reply(m.id, m.data.length);
    }
    if (e.state !== 'connected') return reply(m.id, e.err ? -e.err : -E.ENOTCONN);
    start(m.id, m.tmo, () => {
      if (e.err) return [-e.err];
      if (!e.sock.writable) return [-E.EPIPE];
      if (e.sock.writableLength >= HIGH) return undefined;
      e.sock.write(m.data);
      return [m.data.length];
    });
  },

  // recv modes: 0 what is there (recv), 1 n bytes or to the end (read,
  // readinto), 2 a line of at most n bytes (readline; n < 0: no limit),
  // 3 everything to the end (read()).
  recv(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    const undo = { op: 'unread', sid: m.sid };
    if (e.type === 'udp') {
      start(m.id, m.tmo, () => {
        if (e.dq.length === 0) return e.err ? [-e.err] : undefined;
        const [d] = e.dq.shift();
        const out = new Uint8Array(d.subarray(0, m.n));
        return [out.length, out, { op: 'undgram', sid: m.sid, addr: '', port: 0 }];
      });
      return;
    }
    if (e.state !== 'connected') return reply(m.id, -E.ENOTCONN);
    const n = m.n < 0 ? Infinity : m.n;
    const give = (k) => (k === 0 ? [0] : [k, take(e, k), undo]);
    const done = () => e.eof || e.err;
    start(m.id, m.tmo, () => {
      if (m.mode === 0) {
        if (e.rqLen > 0) return give(Math.min(n, e.rqLen));
      } else if (m.mode === 1) {
        if (e.rqLen >= n || (done() && e.rqLen > 0)) return give(Math.min(n, e.rqLen));
      } else if (m.mode === 2) {
        const i = indexOfNL(e, Math.min(n, e.rqLen));
        if (i >= 0) return give(i + 1);
        if (e.rqLen >= n || (done() && e.rqLen > 0)) return give(Math.min(n, e.rqLen));
      } else if (done() && e.rqLen > 0) {
        return give(e.rqLen);
      }
      if (e.err) return [-e.err];
      if (e.eof) return [0];
      return undefined;
    }, () => {
      // Out of time, or not blocking: a stream read gives what it has.
      if (m.mode !== 0 && e.rqLen > 0) return give(Math.min(n, e.rqLen));
      return undefined;
    });
  },

  recvfrom(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.type !== 'udp') {
      // A stream socket's recvfrom is recv with the peer's address.
      if (e.state !== 'connected') return reply(m.id, -E.ENOTCONN);
      const peer = `${e.sock.remoteAddress} ${e.sock.remotePort}`;
      start(m.id, m.tmo, () => {
        if (e.rqLen > 0) {
          const k = Math.min(m.n, e.rqLen);
          return [`${k} ${peer}`, take(e, k), { op: 'unread', sid: m.sid }];
        }
        if (e.err) return [-e.err];
        if (e.eof) return [`0 ${peer}`];
        return undefined;
      });
      return;
    }
    if (!e.udp) return reply(m.id, -E.EINVAL);
    start(m.id, m.tmo, () => {
      if (e.dq.length === 0) return e.err ? [-e.err] : undefined;
      const [d, a, p] = e.dq.shift();
      const out = new Uint8Array(d.subarray(0, m.n));
      return [`${out.length} ${a} ${p}`, out, { op: 'undgram', sid: m.sid, addr: a, port: p }];
    });
  },

  async sendto(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.type !== 'udp') return ops.send(m);
    let ip, p;
    try { [ip, p] = await resolve(m.host, m.port); } catch (r) { return reply(m.id, r); }
    const u = udpBound(e);
    u.send(m.data, p, connectHost(ip), (err) => { if (err) { e.err = errnoOf(err); settle(); } });
    reply(m.id, m.data.length);
  },

  async gai(m) {
    try {
      const [ip, p] = await resolve(m.host, m.port);
      reply(m.id, `${ip} ${p}`);
    } catch (r) {
      reply(m.id, typeof r === 'string' ? r : EAI_FAIL);
    }
  },

  // poll: m.list is [[sid, events], ...]; the reply lists "sid:revents"
  // for the ready ones, "" when the time ran out.
  poll(m) {
    const check = () => {
      const ready = [];
      for (const [sid, ev] of m.list) {
        const r = readiness(get(sid), ev);
        if (r) ready.push(`${sid}:${r}`);
      }
      return ready.length > 0 ? [ready.join(',')] : undefined;
    };
    start(m.id, m.tmo, check, () => ['']);
  },

  tls(m) {
    const e = get(m.sid);
    if (!e) return reply(m.id, -E.EBADF);
    if (e.type !== 'tcp' || e.state !== 'connected' || e.tlsDone || e.tlsStarted) {
      return reply(m.id, -E.ENOTCONN);
    }
    let key, cert, ca;
    try {
      key = m.key && pemKey(m.key);
    } catch {
      return reply(m.id, '!V invalid key');
    }
    try {
      cert = m.cert && pemCert(m.cert);
      ca = m.ca && pemCert(m.ca);
    } catch {
      return reply(m.id, '!V invalid cert');
    }
    const pre = e.rqLen > 0 ? Buffer.from(take(e, e.rqLen)) : Buffer.alloc(0);
    const raw = rawStream(e, pre, e.eof);
    e.eof = false;
    e.err = 0;
    e.errObj = null;
    e.tlsStarted = true;
    const verify = m.reqs === 2;
    const opts = { key, cert, ca, rejectUnauthorized: verify };
    let t;
    if (m.server) {
      t = new tls.TLSSocket(raw, { ...opts, isServer: true, requestCert: m.reqs > 0 });
      t.once('secure', () => { e.tlsDone = true; settle(); });
    } else {
      const sni = m.hostname && !net.isIP(m.hostname) ? m.hostname : undefined;
      t = tls.connect({
        ...opts,
        socket: raw,
        servername: sni,
        // mbedTLS checks the name only when given one.
        checkServerIdentity: m.hostname ? (h, c) => tls.checkServerIdentity(m.hostname, c) : () => undefined,
      });
      t.once('secureConnect', () => { e.tlsDone = true; settle(); });
    }
    attach(e, t);
    if (m.tmo === 0) return reply(m.id, 0);
    start(m.id, m.tmo, () => {
      if (e.tlsDone) return [0];
      if (e.err || e.eof) return [tlsError(e)];
      return undefined;
    });
  },

  // Undo a reply that crossed a cancel: the data or connection goes back.
  unread(m) {
    const e = get(m.sid);
    if (!e || !m.data) return;
    e.rq.unshift(Buffer.from(m.data));
    e.rqLen += m.data.length;
  },

  undgram(m) {
    const e = get(m.sid);
    if (e && m.data) e.dq.unshift([Buffer.from(m.data), m.addr, m.port]);
  },

  unaccept(m) {
    const e = get(m.sid);
    const c = socks.get(m.child);
    socks.delete(m.child);
    if (!c) return;
    if (e) e.aq.unshift(c);
    else closeEntry(c);
  },

  cancel(m) {
    const p = pending.get(m.cancel);
    if (p === undefined) return; // answered already
    pending.delete(m.cancel);
    if (p.timer) clearTimeout(p.timer);
    reply(m.cancel, CANCELLED);
  },

  // A soft reboot: every socket closes, as on the board.
  reset(m) {
    for (const id of [...pending.keys()]) ops.cancel({ cancel: id });
    for (const e of socks.values()) closeEntry(e);
    socks.clear();
    setImmediate(() => reply(m.id, 0));
  },
};

port.on('message', (m) => {
  const f = ops[m.op];
  if (!f) {
    log(`unknown request ${m.op}`);
    if (m.id) reply(m.id, -E.EINVAL);
    return;
  }
  try {
    const r = f(m);
    if (r && typeof r.catch === 'function') {
      r.catch((err) => { log(`${m.op}: ${err && err.stack || err}`); reply(m.id, -E.EIO); });
    }
  } catch (err) {
    log(`${m.op}: ${err && err.stack || err}`);
    if (m.id) reply(m.id, -E.EIO);
  }
});
Atomics.store(sig, 1, 1);
