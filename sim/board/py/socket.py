# socket for the virtual board: MicroPython's socket module (as on an
# ESP32) over the host's network, through js.iotnet (sim/board/net.mjs).
# Kept small: it lives in the board's heap, where a real board has C.
import js
import io

_n = js.iotnet
_p = _n.devpath()
_d = open(_p, "r+b")  # the payload channel to net.mjs
_n.undev(_p)
del _p

AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
SOL_SOCKET = 4095
SO_REUSEADDR = 4
SO_KEEPALIVE = 8
SO_BROADCAST = 32
TCP_NODELAY = 1
IP_ADD_MEMBERSHIP = 3
IP_DROP_MEMBERSHIP = 4


def _x(r):
    # A result from net.mjs, or the exception it stands for.
    t = type(r)
    if t is int:
        if r < 0:
            if r == -1000:
                raise KeyboardInterrupt
            raise OSError(-r)
    elif t is str and r and r[0] == "!":
        c, _, m = r[1:].partition(" ")
        if c == "V":
            raise ValueError(m)
        raise OSError(int(c), m) if m else OSError(int(c))
    return r


def _none(r):
    # Streams give None where a socket call would raise EAGAIN.
    if r == -11:
        return None
    return _x(r)


def _ha(a):
    # An address as an ESP32 takes it, with its errors: (host, port).
    if type(a) is not tuple and type(a) is not list:
        raise TypeError("object '%s' isn't a tuple or list" % type(a).__name__)
    if len(a) != 2:
        raise ValueError("requested length 2 but object has length %d" % len(a))
    if type(a[1]) is not int:
        raise TypeError("can't convert %s to int" % type(a[1]).__name__)
    return str(a[0]), a[1]


def _addr(s):
    a, p = s.rsplit(" ", 1)
    return (a, int(p))


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    a = _addr(_x(_n.gai(host, int(port))))
    return [(AF_INET, type or SOCK_STREAM, proto, host, a)]


class socket(io.IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0, fileno=None):
        if af != AF_INET and af != AF_INET6:
            raise OSError(97)  # EAFNOSUPPORT
        if type != SOCK_STREAM and type != SOCK_DGRAM and type != SOCK_RAW:
            raise OSError(22)  # EINVAL
        self._s = _x(_n.socket(type)) if fileno is None else fileno
        self._k = type
        self._t = -1

    def __repr__(self):
        return "<socket state=%d timeout=%d incoming=0 off=0>" % (0 if self._s else -1, self._t)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        if self._s:
            _n.close(self._s)
            self._s = 0

    def settimeout(self, t):
        self._t = -1 if t is None else min(int(t * 1000) or (1 if t > 0 else 0), 0x7FFFFFFF)

    def setblocking(self, f):
        self._t = -1 if f else 0

    def setsockopt(self, level, opt, val):
        _x(_n.setopt(self._s, level, opt, val if type(val) is int else 1))

    def bind(self, a):
        h, p = _ha(a)
        _x(_n.bind(self._s, h, p))

    def listen(self, backlog=2):
        _x(_n.listen(self._s, backlog))

    def accept(self):
        r = _x(_n.accept(self._s, self._t)).split(" ")
        return socket(AF_INET, SOCK_STREAM, 0, int(r[0])), (r[1], int(r[2]))

    def connect(self, a):
        h, p = _ha(a)
        _x(_n.connect(self._s, h, p, self._t))

    def _out(self, b, f):
        return f(_n.send(self._s, self._t, _d.write(b)))

    def send(self, b):
        return self._out(b, _x)

    def sendall(self, b):
        self._out(b, _x)

    def write(self, b):
        return self._out(b, _none)

    def sendto(self, b, a):
        h, p = _ha(a)
        return _x(_n.sendto(self._s, h, p, _d.write(b)))

    def _in(self, n, mode, f):
        k = f(_n.recv(self._s, n, mode, self._t))
        if k is None:
            return None
        return _d.read(k) if k else b""

    def recv(self, n):
        return self._in(n, 0, _x)

    def read(self, n=-1):
        return self._in(n, 3 if n < 0 else 1, _none)

    def readline(self, n=-1):
        return self._in(n, 2, _none)

    def readinto(self, b, n=-1):
        m = memoryview(b)
        if 0 <= n < len(m):
            m = m[:n]
        k = _none(_n.recv(self._s, len(m), 1, self._t))
        if k:
            _d.readinto(m[:k])
        return k

    def recvfrom(self, n):
        k, a, p = _x(_n.recvfrom(self._s, n, self._t)).split(" ")
        k = int(k)
        return (_d.read(k) if k else b""), (a, int(p))

    def makefile(self, mode="rb", buffering=0):
        return self

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL, for the port's own select
            r = _x(_n.poll("%d:%d" % (self._s, arg), 0))
            return int(r.split(":")[1]) if r else 0
        if req == 4:  # MP_STREAM_CLOSE
            self.close()
            return 0
        return -1
