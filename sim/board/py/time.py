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


# The port's sleeps never check for a pending exception, so a Ctrl-C
# during one would be raised only at the caller's next jump, after more of
# its code ran. The `if` below is a jump: the interrupt is raised here, as a
# board raises it inside the sleep.
def sleep(s):
    _t.sleep(s)
    if _t:
        pass


def sleep_ms(ms):
    _t.sleep_ms(ms)
    if _t:
        pass


def sleep_us(us):
    _t.sleep_us(us)
    if _t:
        pass
