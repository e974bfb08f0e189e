# select for the virtual board: the port's own select, extended so that a
# poll on sockets waits in the network worker (interruptible by Ctrl-C)
# instead of spinning. Other streams are polled by the port's select.
import sys

_sp = sys.path
sys.path = []  # find the built-in module, not this file
try:
    import select as _b
finally:
    sys.path = _sp
del _sp

POLLIN = _b.POLLIN
POLLOUT = _b.POLLOUT
POLLERR = _b.POLLERR
POLLHUP = _b.POLLHUP
_SLICE = 10  # ms between looks at non-socket streams


class poll:
    def __init__(self):
        self._m = {}  # object -> event mask

    def register(self, o, em=POLLIN | POLLOUT):
        self._m[o] = em

    def modify(self, o, em):
        if o not in self._m:
            raise OSError(2)
        self._m[o] = em

    def unregister(self, o):
        self._m.pop(o, None)

    def poll(self, timeout=-1):
        return list(self.ipoll(timeout))

    def ipoll(self, timeout=-1, flags=0):
        import socket, time

        socks = {}
        spec = []
        other = None
        for o, em in self._m.items():
            s = getattr(o, "_s", None)
            if s is not None and isinstance(o, socket.socket):
                socks[s] = o
                spec.append("%d:%d" % (s, em))
            else:
                if other is None:
                    other = _b.poll()
                other.register(o, em)
        spec = ",".join(spec)
        t0 = time.ticks_ms()
        while True:
            res = other.poll(0) if other else []
            left = -1 if timeout is None or timeout < 0 else max(0, timeout - time.ticks_diff(time.ticks_ms(), t0))
            wait = 0 if res else left
            if other and not res and (wait < 0 or wait > _SLICE):
                wait = _SLICE
            r = socket._x(socket._n.poll(spec, wait)) if spec else ""
            if not spec and wait:
                time.sleep_ms(wait if wait > 0 else _SLICE)
            if r:
                for item in r.split(","):
                    s, ev = item.split(":")
                    res.append((socks[int(s)], int(ev)))
            if res or left == 0:
                break
        if flags & 1:
            for o, _ in res:
                self._m[o] = 0
        return res


def select(rlist, wlist, xlist, timeout=None):
    p = poll()
    for o in rlist:
        p.register(o, POLLIN)
    for o in wlist:
        p._m[o] = p._m.get(o, 0) | POLLOUT
    for o in xlist:
        p._m.setdefault(o, 0)
    ms = -1 if timeout is None else int(timeout * 1000)
    r, w, x = [], [], []
    for o, ev in p.poll(ms):
        if ev & (POLLIN | POLLHUP | POLLERR) and o in rlist:
            r.append(o)
        if ev & (POLLOUT | POLLERR) and o in wlist:
            w.append(o)
        if ev & POLLERR and o in xlist:
            x.append(o)
    return r, w, x
