# asyncio streams for the virtual board: open_connection, start_server and
# the Stream they give, on non-blocking sockets waited for in the loop.
import socket
from . import _wait, create_task, CancelledError


class Stream:
    def __init__(self, s, e={}):
        self.s = s
        self.e = e
        self.out = b""

    def get_extra_info(self, v):
        return self.e[v]

    def close(self):
        if self.s:
            self.s.close()
            self.s = None

    async def wait_closed(self):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        self.close()

    def read(self, n=-1):
        r = b""
        while True:
            yield from _wait(self.s, 0)
            d = self.s.read(n)
            if d is None:
                continue
            if n >= 0:
                return d
            if not d:
                return r
            r += d

    def readinto(self, buf):
        while True:
            yield from _wait(self.s, 0)
            n = self.s.readinto(buf)
            if n is not None:
                return n

    def readexactly(self, n):
        r = b""
        while len(r) < n:
            d = yield from self.read(n - len(r))
            if not d:
                raise EOFError
            r += d
        return r

    def readline(self):
        r = b""
        while True:
            yield from _wait(self.s, 0)
            d = self.s.readline()
            if d is None:
                continue
            r += d
            if not d or r[-1:] == b"\n":
                return r

    def write(self, buf):
        self.out += buf

    def drain(self):
        while self.out:
            yield from _wait(self.s, 1)
            if self.s.write(self.out) is not None:
                self.out = b""


StreamReader = Stream
StreamWriter = Stream


async def open_connection(host, port, ssl=None):
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    s.setblocking(False)
    try:
        s.connect(ai[-1])
    except OSError as e:
        if e.errno != 115:  # EINPROGRESS
            raise
    await _wait(s, 1)
    s.send(b"")  # raises what the connect met (ECONNREFUSED, ...)
    if ssl:
        if ssl is True:
            import ssl as _ssl

            ssl = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        s = ssl.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
        s.setblocking(False)
    st = Stream(s)
    return st, st


class Server:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        self.close()
        await self.wait_closed()

    def close(self):
        self.task.cancel()

    async def wait_closed(self):
        try:
            await self.task
        except CancelledError:
            pass


async def _serve(s, cb, ssl):
    try:
        while True:
            await _wait(s, 0)
            try:
                c, a = s.accept()
            except OSError:
                continue
            c.setblocking(False)
            if ssl:
                c = ssl.wrap_socket(c, server_side=True, do_handshake_on_connect=False)
                c.setblocking(False)
            st = Stream(c, {"peername": a})
            create_task(cb(st, st))
    finally:
        s.close()


async def start_server(cb, host, port, backlog=5, ssl=None):
    ai = socket.getaddrinfo(host, port)[0]
    s = socket.socket()
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(ai[-1])
    s.listen(backlog)
    srv = Server()
    srv.task = create_task(_serve(s, cb, ssl))
    return srv
