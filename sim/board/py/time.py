# time, extended: the board's clock is the host's (plus what machine.RTC or
# ntptime set), and time() is an int, as on an ESP32. Everything else
# (sleep*, ticks_*, mktime) is the built-in module's.
import sys

_p = sys.path
sys.path = []  # with no path, import finds the built-in module
try:
    from time import *
finally:
    sys.path = _p
del _p, sys
import utime as _t  # always the built-in module
import _simboard as _b


def time():
    return int(float(_b.now()))


def time_ns():
    return int(_b.now_ns())


def gmtime(secs=None):
    return _t.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _t.localtime(time() if secs is None else secs)


# The port's sleeps poll the clock in a busy loop, so sleep and sleep_ms
# wait in board.mjs (_b.sleep_ms), which takes next to no CPU; what is not a
# plain number (or an int too big for a machine word) goes to the port's
# sleep, for its errors. Neither checks for a
# pending exception, so a Ctrl-C during one would be raised only at the
# caller's next jump, after more of its code ran. The `if` below is a jump:
# the interrupt is raised here, as a board raises it inside the sleep.
# While machine.Timer callbacks are due, sleeps are cut into slices and the
# callbacks run between them.
_SMALL = 1 << 30  # the small ints, which reach JavaScript as numbers


def sleep(s):
    if _timers:
        return sleep_ms(int(s * 1000))
    if type(s) is int or type(s) is float:
        _b.sleep_ms(1000.0 * s)
    else:
        _t.sleep(s)
    if _t:
        pass


def sleep_ms(ms):
    if not _timers:
        if type(ms) is int and -_SMALL <= ms < _SMALL:
            _b.sleep_ms(ms)
        else:
            _t.sleep_ms(ms)
        if _t:
            pass
        return
    end = _t.ticks_add(_t.ticks_ms(), ms)
    while True:
        now = _t.ticks_ms()
        left = _t.ticks_diff(end, now)
        if left <= 0:
            break
        for e in _timers:
            left = min(left, max(0, _t.ticks_diff(e[0], now)))
        _b.sleep_ms(left)
        _run_timers()


def sleep_us(us):
    if type(us) is int and -_SMALL <= us < _SMALL:
        _b.sleep_us(us)
    else:
        _t.sleep_us(us)
    if _t:
        pass


# The port's ticks_us() moves in whole milliseconds and its ticks_cpu() is
# 0: count microseconds on the host's high-resolution clock instead (an
# ESP32's ticks_cpu() counts CPU cycles; microseconds serve the same use),
# when the port's ticks period is the one board.mjs wraps at.
if _t.ticks_add(0, -1) == 0x3FFFFFFF:

    def ticks_us():
        return _b.ticks_us()

    ticks_cpu = ticks_us


# machine.Timer's callbacks: [due ticks_ms, period ms (0: one shot),
# callback, timer]. They run in sleeps (above) and, through the hook given
# to board.mjs, while the REPL waits for input: never in the middle of
# other code (there are no interrupts).
_timers = []


# A timer is its hardware number (Timer(0) twice is the same timer), or the
# object for virtual timers (id -1).
def _same(a, b):
    return a is b or (a._id >= 0 and a._id == b._id)


def _timer_set(timer, period, periodic, callback):
    _timer_del(timer)
    _timers.append([_t.ticks_add(_t.ticks_ms(), period), period if periodic else 0, callback, timer])
    _b.timer_hook(_run_timers)


def _timer_del(timer):
    for e in _timers:
        if _same(e[3], timer):
            _timers.remove(e)
            break
    if not _timers:
        _b.timer_hook(None)


def _run_timers():
    now = _t.ticks_ms()
    for e in _timers[:]:
        if _t.ticks_diff(now, e[0]) < 0:
            continue
        if e[1]:
            e[0] = _t.ticks_add(e[0], e[1])
            if _t.ticks_diff(now, e[0]) >= 0:  # fell behind: no burst
                e[0] = _t.ticks_add(now, e[1])
        else:
            _timer_del(e[3])
        try:
            e[2](e[3])
        except Exception as x:
            _print_exception(x)


# _print_exception prints a traceback without this module's frames.
def _print_exception(x):
    import sys, io

    s = io.StringIO()
    sys.print_exception(x, s)
    print("\n".join(l for l in s.getvalue().split("\n") if '"/.sim/' not in l), end="")
