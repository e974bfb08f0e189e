// persist.mjs keeps the board's filesystem in a host folder (IOT_SIM_DIR),
// as a board's flash keeps its files: the folder is loaded into the
// interpreter's in-memory filesystem at every boot, and every change made on
// the board is written through at once, so a process killed at any moment
// loses nothing that was closed (or flushed) on the board.
//
// The port's Emscripten build has no NODEFS, so the FS object's functions
// are wrapped: the syscalls look them up on the object at every call. Host
// files are replaced atomically (a temporary file beside the target, then a
// rename), so a kill never leaves half a file.

import fs from 'node:fs';
import path from 'node:path';

const O_ACCMODE = 3; // O_RDONLY is 0
const TMP_SUFFIX = '.sim-tmp';

// createStore returns the store of host folder dir (created if missing).
// skip(boardPath) names board paths that are not persisted (the board's own
// modules). log receives diagnostics.
export function createStore(dir, skip, log) {
  fs.mkdirSync(dir, { recursive: true });
  const root = path.resolve(dir);
  let suspended = false;

  // hostPath maps an absolute board path to the host, or null.
  const hostPath = (p) => (p === '/' || skip(p) ? null : path.join(root, p));

  const tmpName = (host) => path.join(path.dirname(host), `.${path.basename(host)}${TMP_SUFFIX}`);

  function writeHost(host, data) {
    const tmp = tmpName(host);
    try {
      fs.writeFileSync(tmp, data, { mode: 0o644 });
      fs.renameSync(tmp, host);
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch { /* never written */ }
      throw e;
    }
  }

  // each runs a host operation for a change the board already made; a host
  // failure is logged, the board's state stays as it is.
  function each(what, f) {
    try { f(); } catch (e) { if (e.code !== 'ENOENT' && e.code !== 'EEXIST') log(`${what}: ${e.message}`); }
  }

  // load copies the host folder into FS (a fresh interpreter's filesystem)
  // and wraps FS's mutating functions so that changes reach the host.
  function load(FS) {
    suspended = true;
    try {
      const walk = (hostDir, boardDir) => {
        for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
          const h = path.join(hostDir, ent.name);
          const b = boardDir === '/' ? `/${ent.name}` : `${boardDir}/${ent.name}`;
          if (ent.name.endsWith(TMP_SUFFIX)) { // left by a kill mid-write
            each(`remove ${h}`, () => fs.unlinkSync(h));
            continue;
          }
          if (skip(b)) continue;
          try {
            const st = fs.statSync(h);
            if (ent.isDirectory()) {
              try { FS.mkdir(b); } catch { /* exists */ }
              walk(h, b);
            } else if (ent.isFile()) {
              FS.writeFile(b, fs.readFileSync(h));
            } else {
              continue;
            }
            FS.utime(b, st.atimeMs, st.mtimeMs);
          } catch (e) {
            log(`cannot load ${h}: ${e.message || e}`);
          }
        }
      };
      walk(root, '/');
    } finally {
      suspended = false;
    }
    wrap(FS);
  }

  function wrap(FS) {
    const abs = (p) => path.posix.resolve(FS.cwd(), String(p));
    const fileData = (node) => {
      const c = node.contents;
      if (!c) return Buffer.alloc(0);
      return Buffer.from(c.buffer ? c.subarray(0, node.usedBytes) : c.slice(0, node.usedBytes));
    };
    // syncNode writes the file node to the host if it is still reachable
    // under the name it had (an unlinked open file is not).
    const syncNode = (node) => {
      if (suspended || !node || !FS.isFile(node.mode)) return;
      const p = FS.getPath(node);
      const host = hostPath(p);
      if (host === null) return;
      let same = false;
      try { same = FS.lookupPath(p).node === node; } catch { /* gone */ }
      if (same) each(`write ${host}`, () => writeHost(host, fileData(node)));
    };

    const { close, unlink, rmdir, rename, mkdir, truncate, ftruncate } = FS;
    FS.close = (stream) => {
      const writable = (stream.flags & O_ACCMODE) !== 0;
      const node = stream.node;
      const r = close.call(FS, stream);
      if (writable) syncNode(node);
      return r;
    };
    FS.unlink = (p) => {
      const r = unlink.call(FS, p);
      const host = suspended ? null : hostPath(abs(p));
      if (host !== null) each(`unlink ${host}`, () => fs.unlinkSync(host));
      return r;
    };
    FS.rmdir = (p) => {
      const r = rmdir.call(FS, p);
      const host = suspended ? null : hostPath(abs(p));
      if (host !== null) each(`rmdir ${host}`, () => fs.rmdirSync(host));
      return r;
    };
    FS.mkdir = (p, ...rest) => {
      const r = mkdir.call(FS, p, ...rest);
      const host = suspended ? null : hostPath(abs(p));
      if (host !== null) each(`mkdir ${host}`, () => fs.mkdirSync(host, { mode: 0o755 }));
      return r;
    };
    FS.rename = (o, n) => {
      const ao = abs(o), an = abs(n);
      const r = rename.call(FS, o, n);
      if (suspended) return r;
      const ho = hostPath(ao), hn = hostPath(an);
      if (ho !== null && hn !== null) {
        each(`rename ${ho}`, () => fs.renameSync(ho, hn));
      } else if (hn !== null) { // moved in from an unpersisted place
        each(`write ${hn}`, () => syncTree(FS, an));
      } else if (ho !== null) {
        each(`remove ${ho}`, () => fs.rmSync(ho, { recursive: true, force: true }));
      }
      return r;
    };
    FS.truncate = (p, len) => {
      const r = truncate.call(FS, p, len);
      // FS.open truncates by node (O_TRUNC); its close writes the file.
      if (typeof p === 'string') {
        try { syncNode(FS.lookupPath(abs(p)).node); } catch { /* gone */ }
      }
      return r;
    };
    FS.ftruncate = (fd, len) => {
      const r = ftruncate.call(FS, fd, len);
      const stream = FS.getStream(fd);
      if (stream) syncNode(stream.node);
      return r;
    };
    // syncFd is for fsync (a Python flush()): the file so far reaches the host.
    store.syncFd = (fd) => {
      const stream = FS.getStream(fd);
      if (stream && (stream.flags & O_ACCMODE) !== 0) syncNode(stream.node);
    };

    function syncTree(FS, p) {
      const host = hostPath(p);
      const st = FS.stat(p);
      if (FS.isDir(st.mode)) {
        fs.mkdirSync(host, { recursive: true });
        for (const n of FS.readdir(p)) if (n !== '.' && n !== '..') syncTree(FS, `${p}/${n}`);
      } else {
        syncNode(FS.lookupPath(p).node);
      }
    }
  }

  const store = { dir: root, load, syncFd: () => {} };
  return store;
}
