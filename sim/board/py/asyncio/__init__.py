# asyncio for the virtual board: MicroPython's asyncio (run, create_task,
# sleep, gather, wait_for, Event, Lock, ThreadSafeFlag, the event loop;
# open_connection and start_server in stream.py) over the board's sockets. The port's own
# asyncio runs on JavaScript's event loop, which never turns while Python
# runs here; this one waits in select.poll, so Ctrl-C stops it.
import select
import sys
from time import ticks_ms, ticks_diff, ticks_add, sleep_ms as _sleep


class CancelledError(BaseException):
    pass


class TimeoutError(Exception):
    pass


_PARK = object()  # a task yields this to wait until something wakes it
_cur = [None]  # the running task
_ready = []  # tasks to run
_sleepers = []  # (deadline, gen, task)
_io = {}  # socket -> [reader, reader gen, writer, writer gen]
_poll = [select.poll()]
_flags = []  # ThreadSafeFlags with a waiter: the poll must not sleep long
_handler = [None]
_stop = [False]


class Task:
    def __init__(self, coro):
        self.coro = coro
        self.state = True  # pending
        self.data = None  # result, or exception
        self.err = False
        self.cxl = False  # CancelledError to throw at the next run
        self.gen = 0  # bumped at every wake: stale queue entries drop
        self.io = None  # (socket, 0 read | 1 write) while waiting on it
        self.queued = False
        self.waiting = []  # (task, gen) awaiting this one

    def __repr__(self):
        return "<Task>"

    def done(self):
        return not self.state

    def cancel(self):
        if not self.state:
            return False
        self.cxl = True
        if self is not _cur[0]:
            _wake(self)
        return True

    def __iter__(self):
        if self.state:
            me = _cur[0]
            self.waiting.append((me, me.gen))
            yield _PARK
        if self.err:
            raise self.data
        return self.data

    __await__ = __iter__


def _wake(t):
    if t.io:
        s, i = t.io
        t.io = None
        e = _io.get(s)
        if e and e[2 * i] is t:
            e[2 * i] = None
            _update(s)
    t.gen += 1
    if not t.queued and t.state:
        t.queued = True
        _ready.append(t)


def _wake_gen(t, g):
    if t.gen == g:
        _wake(t)


def _update(s):
    e = _io[s]
    m = (select.POLLIN if e[0] else 0) | (select.POLLOUT if e[2] else 0)
    if m:
        _poll[0].register(s, m)
    else:
        _poll[0].unregister(s)
        del _io[s]


def _finish(t, data, err):
    t.state = False
    t.data = data
    t.err = err
    w = t.waiting
    t.waiting = []
    for x, g in w:
        _wake_gen(x, g)
    if err and not w and not isinstance(data, CancelledError):
        _loop.call_exception_handler({"message": "Task exception wasn't retrieved", "future": t, "exception": data})


def _step(t):
    t.queued = False
    _cur[0] = t
    try:
        if t.cxl:
            t.cxl = False
            r = t.coro.throw(CancelledError())
        else:
            r = t.coro.send(None)
    except StopIteration as e:
        _finish(t, e.value, False)
        return
    except CancelledError as e:
        _finish(t, e, True)
        return
    except Exception as e:
        _finish(t, e, True)
        return
    finally:
        _cur[0] = None
    if t.cxl:
        _wake(t)
    elif r is None:
        _wake(t)
    elif r is _PARK:
        pass
    elif r[0] == 0:
        _sleepers.append((r[1], t.gen, t))
    else:
        i = r[0] - 1
        s = r[1]
        e = _io.get(s)
        if e is None:
            e = _io[s] = [None, 0, None, 0]
        e[2 * i] = t
        e[2 * i + 1] = t.gen
        t.io = (s, i)
        _update(s)


def _run(main):
    # Runs tasks until main (a Task) is done, or stop() with main None.
    _stop[0] = False
    while (main.state if main else not _stop[0]):
        now = ticks_ms()
        wait = -1
        keep = []
        for d, g, t in _sleepers:
            if t.gen != g:
                continue
            left = ticks_diff(d, now)
            if left <= 0:
                _wake(t)
            else:
                keep.append((d, g, t))
                wait = left if wait < 0 else min(wait, left)
        _sleepers[:] = keep
        if _ready:
            wait = 0
        if _flags:
            wait = 10 if wait < 0 else min(wait, 10)
        if _io:
            for s, ev in _poll[0].ipoll(wait):
                e = _io.get(s)
                if e is None:
                    continue
                if e[0] and ev & (select.POLLIN | select.POLLERR | select.POLLHUP):
                    _wake_gen(e[0], e[1])
                if e[2] and ev & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                    _wake_gen(e[2], e[3])
        elif wait:
            # Nothing but time (or nothing at all, as a board would wait
            # for ever): a sleep, which Ctrl-C stops.
            _sleep(wait if wait > 0 else 10)
        batch = _ready[:]
        del _ready[:]
        for t in batch:
            if t.state:
                _step(t)


def _task(aw):
    return aw if isinstance(aw, Task) else create_task(aw)


def create_task(coro):
    if not hasattr(coro, "send"):
        raise TypeError("coroutine expected")
    t = Task(coro)
    _wake(t)
    return t


def current_task():
    if _cur[0] is None:
        raise RuntimeError("no running task")
    return _cur[0]


def sleep_ms(ms):
    yield (0, ticks_add(ticks_ms(), max(0, int(ms))))


def sleep(t):
    return sleep_ms(t * 1000)


def _wait(s, i):
    yield (i + 1, s)


def wait_for_ms(aw, ms):
    t = _task(aw)
    if t.state:
        me = _cur[0]
        t.waiting.append((me, me.gen))
        _sleepers.append((ticks_add(ticks_ms(), max(0, int(ms))), me.gen, me))
        try:
            yield _PARK
        except CancelledError:
            t.cancel()
            raise
    if t.state:  # out of time
        t.cancel()
        try:
            yield from t.__iter__()
        except CancelledError:
            pass
        raise TimeoutError
    return (yield from t.__iter__())


def wait_for(aw, timeout):
    if timeout is None:
        return _task(aw).__iter__()
    return wait_for_ms(aw, timeout * 1000)


async def gather(*aws, return_exceptions=False):
    ts = [_task(a) for a in aws]
    res = []
    for t in ts:
        try:
            res.append(await t)
        except Exception as e:
            if not return_exceptions:
                raise
            res.append(e)
    return res


class Event:
    def __init__(self):
        self.state = False
        self._w = []

    def is_set(self):
        return self.state

    def set(self):
        self.state = True
        w = self._w
        self._w = []
        for t, g in w:
            _wake_gen(t, g)

    def clear(self):
        self.state = False

    def wait(self):
        if not self.state:
            me = _cur[0]
            self._w.append((me, me.gen))
            yield _PARK
        return True


class ThreadSafeFlag:
    def __init__(self):
        self.state = False
        self._w = None

    def set(self):
        self.state = True
        w = self._w
        if w:
            self._w = None
            if self in _flags:
                _flags.remove(self)
            _wake_gen(w[0], w[1])

    def clear(self):
        self.state = False

    def wait(self):
        if not self.state:
            me = _cur[0]
            self._w = (me, me.gen)
            _flags.append(self)
            try:
                yield _PARK
            finally:
                if self in _flags:
                    _flags.remove(self)
        self.state = False


class Lock:
    def __init__(self):
        self.state = False
        self._w = []

    def locked(self):
        return self.state

    def acquire(self):
        while self.state:
            me = _cur[0]
            self._w.append((me, me.gen))
            yield _PARK
        self.state = True
        return True

    def release(self):
        if not self.state:
            raise RuntimeError("Lock not acquired")
        self.state = False
        while self._w:
            t, g = self._w.pop(0)
            if t.gen == g:
                _wake(t)
                break

    async def __aenter__(self):
        return await self.acquire()

    async def __aexit__(self, *a):
        self.release()


class Loop:
    def create_task(self, coro):
        return create_task(coro)

    def run_forever(self):
        _run(None)

    def run_until_complete(self, aw):
        t = _task(aw)
        _run(t)
        if t.err:
            raise t.data
        return t.data

    def stop(self):
        _stop[0] = True

    def close(self):
        pass

    def set_exception_handler(self, handler):
        _handler[0] = handler

    def get_exception_handler(self):
        return _handler[0]

    def default_exception_handler(self, context):
        print(context["message"])
        print("future:", context["future"], "coro=", context["future"].coro)
        sys.print_exception(context["exception"])

    def call_exception_handler(self, context):
        (_handler[0] or Loop.default_exception_handler)(self, context)


_loop = Loop()


def get_event_loop(runq_len=0, waitq_len=0):
    return _loop


def new_event_loop():
    del _ready[:]
    del _sleepers[:]
    del _flags[:]
    _io.clear()
    _poll[0] = select.poll()
    return _loop


def run(coro):
    return _loop.run_until_complete(create_task(coro))


def __getattr__(name):
    # The streams load on first use: the heap is a board's.
    if name in ("Stream", "StreamReader", "StreamWriter", "open_connection", "start_server", "Server"):
        __import__("asyncio.stream")
        return getattr(sys.modules["asyncio.stream"], name)
    raise AttributeError(name)
