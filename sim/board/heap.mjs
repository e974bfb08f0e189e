// heap.mjs bounds the Python heap as an ESP32 without PSRAM bounds it.
//
// The port's heap is split (MICROPY_GC_SPLIT_HEAP_AUTO): when an allocation
// does not fit, gc_try_add_heap (py/gc.c) mallocs a new area of at least the
// current heap's size (MIN(avail, MAX(total_heap, needed)), avail being
// gc_get_max_new_split(), a constant 128 MiB here) from the wasm memory. And
// its gc_collect() collects nothing while Python runs (it cannot see the
// roots wasm keeps in locals): it only flags a collection for when control
// returns to JavaScript. So inside one exec garbage is never freed; the heap
// grows instead. Refusing all growth would raise MemoryError in any loop
// that makes more garbage than the heap holds, which a board collects.
//
// So the guard decides each growth as a board would: it keeps the wasm
// memory full with blocks of its own (malloc'd through the exported malloc,
// a margin left free for C's own small allocations), so a new heap area
// must grow the memory, which calls the import emscripten_resize_heap. There
// it counts the live bytes of the heap (a read-only, conservative mark from
// every word outside the heap areas and its own blocks: statics, C stack,
// Python stack), and grows the memory only if live data plus the request
// fit in the first area (the board's heap); otherwise it refuses, malloc
// fails, gc_try_add_heap fails and the VM raises MemoryError. The count
// misses only pointers held in wasm locals (an object being built), so it
// errs by a few bytes. After a growth the guard takes the rest of the grown
// memory at the next safe point (an import call, outside malloc).

const MARGIN = 64 * 1024;
const SLACK = 4096;
const BYTES_PER_BLOCK = 16;
const AT_HEAD = 1, AT_TAIL = 2;
// Hog block sizes, largest first; the smallest leaves < 256 bytes free.
const HOG_MAX = 16 * 1024 * 1024, HOG_MIN = 256;

// createHeapGuard wraps a fresh instance's imports (before instantiation).
// Call arm(instance, module, heapsize) once loadMicroPython has made the
// heap (module: the Emscripten module, whose _malloc JavaScript calls).
export function createHeapGuard(imports, log) {
  const g = {
    armed: false,
    hogging: false,
    exports: null,
    first: 0,        // address of the first area's struct (in mp_state_ctx)
    ftb: false,      // the struct has a finaliser table field
    limit: 0,        // the board's heap: the first area's pool bytes
    hog: [],         // [addr, size] of our blocks
    needHog: false,  // memory was granted: take the rest at a safe point
    grew: false,     // a heap area was granted since the last top level
    jsMalloc: 0,     // > 0 while JavaScript mallocs (a string for Python)
    refused: 0,
  };
  const realResize = imports.env.emscripten_resize_heap;
  // resize grows the memory by what was asked only: the runtime's own
  // resize adds 20% of the memory, which later areas would take unseen.
  // Growing first makes its view of the old memory empty (a detached
  // buffer), so it then grows by nothing and only renews its views.
  const resize = (requested) => {
    const mem = g.exports.memory;
    const pages = Math.ceil(((requested >>> 0) - mem.buffer.byteLength) / 65536);
    try {
      if (pages > 0) mem.grow(pages);
    } catch {
      return 0;
    }
    return realResize(requested);
  };
  imports.env.emscripten_resize_heap = (requested) => {
    if (!g.armed) return realResize(requested);
    if (g.hogging) return 0;
    // The runtime's JavaScript never checks malloc's result: always grant.
    if (g.jsMalloc > 0) {
      g.needHog = true;
      return resize(requested);
    }
    const mem = g.exports.memory.buffer.byteLength;
    const delta = (requested >>> 0) - mem;
    const areas = listAreas(g);
    const total = areas.reduce((s, a) => s + (a.pe - a.start), 0);
    // Smaller than a new area (at least the heap's size): C's own malloc.
    if (delta < total / 2) {
      g.needHog = true;
      return resize(requested);
    }
    const live = liveBytes(g, areas);
    // A request beyond the heap's size is one big allocation (needed =
    // failed_alloc + ~13/512); sbrk rounds it up by up to 64 KB.
    // A small request's size is unknown: the heap is full when the GC asks,
    // and the area it gets is at least the heap's size, filled unseen; so
    // grant it only if a board would still have SLACK bytes free after
    // collecting.
    const big = delta - 65536 > total ? Math.floor((delta - 65536) * 512 / 525) : 0;
    if (live + Math.max(big, SLACK) > g.limit) {
      g.refused++;
      return 0;
    }
    g.needHog = true;
    g.grew = true;
    return resize(requested);
  };

  g.arm = (instance, module, heapsize) => {
    g.exports = instance.exports;
    if (typeof g.exports.malloc !== 'function' || typeof g.exports.free !== 'function') {
      log('heap: no malloc export: the heap grows on demand');
      return false;
    }
    if (!findFirstArea(g, heapsize)) {
      log('heap: the heap area was not found: the heap grows on demand');
      return false;
    }
    g.armed = true;
    takeFree(g);
    const jsMalloc = module._malloc;
    if (typeof jsMalloc === 'function') {
      module._malloc = (n) => {
        g.jsMalloc++;
        try {
          return jsMalloc(n);
        } finally {
          g.jsMalloc--;
        }
      };
    }
    return true;
  };
  // safePoint takes what a growth left free; call it only where no malloc
  // is under way (from an import, or from JavaScript between calls).
  g.safePoint = () => {
    if (g.armed && g.needHog) takeFree(g);
  };
  // topLevel takes what the collection at the top level freed (empty areas
  // go back to malloc); call it when a call into the port has returned.
  g.topLevel = () => {
    if (g.armed && (g.needHog || g.grew)) {
      g.grew = false;
      takeFree(g);
    }
  };
  // live reports the heap's live bytes as the guard counts them.
  g.live = () => (g.armed ? liveBytes(g, listAreas(g)) : -1);
  return g;
}

// findFirstArea finds mp_state_ctx.mem.area: the struct (next, ATB start,
// ATB length, [finaliser table], pool start, pool end, ...) whose area spans
// exactly the heapsize bytes mp_js_init malloc'd (py/mpstate.h, gc_init).
function findFirstArea(g, heapsize) {
  const U32 = new Uint32Array(g.exports.memory.buffer);
  const n = U32.length - 8;
  for (let i = 1; i < n; i++) {
    const atb = U32[i], len = U32[i + 1];
    if (atb === 0 || len === 0 || len * 64 > heapsize) continue;
    for (const ftb of [true, false]) {
      const k = ftb ? i + 3 : i + 2;
      const ps = U32[k], pe = U32[k + 1];
      if (pe - atb !== heapsize || pe - ps !== len * 4 * BYTES_PER_BLOCK || ps % BYTES_PER_BLOCK !== 0) continue;
      if (ftb && (U32[i + 2] < atb + len || U32[i + 2] > atb + len + 1)) continue;
      g.first = (i - 1) * 4;
      g.ftb = ftb;
      g.limit = pe - ps;
      return true;
    }
  }
  return false;
}

// listAreas walks the areas' list. start is where an area's memory begins
// (the first's ATB; a later one's struct, which gc_add puts at its start).
function listAreas(g) {
  const U32 = new Uint32Array(g.exports.memory.buffer);
  const areas = [];
  for (let a = g.first, k = 0; a !== 0 && k < 4096; a = U32[a >>> 2], k++) {
    const w = a >>> 2;
    const atb = U32[w + 1], len = U32[w + 2];
    const ps = U32[w + (g.ftb ? 4 : 3)], pe = U32[w + (g.ftb ? 5 : 4)];
    areas.push({ start: k === 0 ? atb : a, atb, blocks: len * 4, ps, pe });
  }
  return areas;
}

// liveBytes marks, without changing anything, what the collector would keep:
// blocks reachable from any word outside the areas, our blocks and the C
// stack's unused part. Only pointers to a block's start count, as in gc.c.
function liveBytes(g, areas) {
  const buf = g.exports.memory.buffer;
  const U32 = new Uint32Array(buf), U8 = new Uint8Array(buf);
  const marks = areas.map((a) => new Uint8Array(a.blocks));
  const kind = (a, b) => (U8[a.atb + (b >>> 2)] >>> ((b & 3) << 1)) & 3;
  const stack = [];
  const consider = (p) => {
    if ((p & (BYTES_PER_BLOCK - 1)) !== 0) return;
    for (let i = 0; i < areas.length; i++) {
      const a = areas[i];
      if (p < a.ps || p >= a.pe) continue;
      const b = (p - a.ps) >>> 4;
      if (kind(a, b) === AT_HEAD && marks[i][b] === 0) {
        marks[i][b] = 1;
        stack.push(i, b);
      }
      return;
    }
  };
  const skip = areas.map((a) => [a.start, a.pe]).concat(g.hog.map(([p, s]) => [p, p + s]));
  const ex = g.exports;
  if (typeof ex.emscripten_stack_get_end === 'function' && typeof ex.emscripten_stack_get_current === 'function') {
    skip.push([ex.emscripten_stack_get_end(), ex.emscripten_stack_get_current()]);
  }
  skip.sort((x, y) => x[0] - y[0]);
  let from = 0;
  const scan = (lo, hi) => {
    for (let w = (lo + 3) >>> 2, end = hi >>> 2; w < end; w++) consider(U32[w]);
  };
  for (const [lo, hi] of skip) {
    if (lo > from) scan(from, lo);
    if (hi > from) from = hi;
  }
  scan(from, buf.byteLength);
  let live = 0;
  while (stack.length > 0) {
    const b = stack.pop(), i = stack.pop();
    const a = areas[i];
    let n = 1;
    while (b + n < a.blocks && kind(a, b + n) === AT_TAIL) n++;
    live += n * BYTES_PER_BLOCK;
    for (let w = (a.ps >>> 2) + b * 4, end = w + n * 4; w < end; w++) consider(U32[w]);
  }
  return live;
}

// takeFree mallocs the free memory in big blocks until malloc fails (the
// guard refuses to grow the memory meanwhile), then frees a margin for C's
// own small mallocs. The margin block is taken first, so that it lies below
// our other blocks and a big request finds no free memory at the top.
function takeFree(g) {
  const { malloc, free } = g.exports;
  g.hogging = true;
  try {
    const margin = malloc(MARGIN);
    for (let s = HOG_MAX; s >= HOG_MIN; s >>>= 1) {
      for (;;) {
        const p = malloc(s);
        if (p === 0) break;
        g.hog.push([p, s]);
      }
    }
    if (margin !== 0) free(margin);
  } finally {
    g.hogging = false;
    g.needHog = false;
  }
}
