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
