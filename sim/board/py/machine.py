# machine for the virtual ESP32. There is no hardware behind it: outputs
# keep the value written and read it back, inputs read 0 (1 with PULL_UP),
# ADCs read 0, an I2C bus has no devices, SPI reads zeros. Enough for
# tutorial code to run; nothing here touches the host.
import errno
import time as _time
import _simboard as _b

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6
SLEEP = 2
DEEPSLEEP = 4

_CAUSES = {"PWRON": PWRON_RESET, "HARD": HARD_RESET, "SOFT": SOFT_RESET, "DEEPSLEEP": DEEPSLEEP_RESET}
_FREQS = (20000000, 40000000, 80000000, 160000000, 240000000)


def unique_id():
    return bytes.fromhex(_b.uid)


def freq(hz=None):
    if hz is None:
        return _b.get_freq()
    if hz not in _FREQS:
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _b.set_freq(hz)


def reset():
    _b.reset("HARD")


def soft_reset():
    raise SystemExit


def reset_cause():
    return _CAUSES.get(_b.reset_cause(), PWRON_RESET)


def wake_reason():
    return TIMER_WAKE if _b.reset_cause() == "DEEPSLEEP" else 0


def idle():
    _time.sleep_ms(1)


def lightsleep(ms=None):
    if ms is None:
        while True:  # no wake source but Ctrl-C
            _time.sleep_ms(1000)
    _time.sleep_ms(ms)


def deepsleep(ms=None):
    if ms is None:
        raise ValueError("deepsleep() needs a time on the virtual board: it has no wake pins")
    _time.sleep_ms(ms)
    _b.reset("DEEPSLEEP")  # a board wakes from deep sleep through a reset


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    _time.sleep_us(timeout_us)  # the level never changes
    return -2


def bootloader(*args):
    raise OSError(errno.EPERM)


# Per pin number, shared by every Pin object (the hardware's state).
_levels = {}
_modes = {}
_pulls = {}
_irqs = {}  # pin number -> (handler, trigger, Pin)


def _set_level(id, v):
    old = _levels.get(id, 0)
    _levels[id] = v
    irq = _irqs.get(id)
    # An ESP32 output is also an input: its own edges trigger its IRQ.
    if irq and old != v and _modes.get(id) in (Pin.OUT, Pin.OPEN_DRAIN):
        if irq[1] & (Pin.IRQ_RISING if v else Pin.IRQ_FALLING):
            import micropython

            micropython.schedule(irq[0], irq[2])
_VALID = set(range(0, 20)) | {21, 22, 23, 25, 26, 27} | set(range(32, 40))


def _pin_id(p):
    if isinstance(p, Pin):
        return p._id
    if not isinstance(p, int) or p not in _VALID:
        raise ValueError("invalid pin")
    return p


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self._id = _pin_id(id)
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode != -1 and mode is not None:
            if mode in (Pin.OUT, Pin.OPEN_DRAIN) and self._id >= 34:
                raise ValueError("pin can only be input")
            _modes[self._id] = mode
        if pull != -1:
            _pulls[self._id] = pull
        if value is not None:
            _set_level(self._id, 1 if value else 0)

    def value(self, x=None):
        if x is not None:
            _set_level(self._id, 1 if x else 0)
            return None
        if _modes.get(self._id) in (Pin.OUT, Pin.OPEN_DRAIN):
            return _levels.get(self._id, 0)
        return 1 if _pulls.get(self._id) == Pin.PULL_UP else 0

    __call__ = value

    def on(self):
        _set_level(self._id, 1)

    def off(self):
        _set_level(self._id, 0)

    def toggle(self):
        _set_level(self._id, 1 - _levels.get(self._id, 0))

    def irq(self, handler=None, trigger=3, wake=None, hard=False):
        # Inputs never change level; an output's own edges call handler.
        if handler is None:
            _irqs.pop(self._id, None)
        else:
            _irqs[self._id] = (handler, trigger, self)
        return _PinIRQ(self)

    def __repr__(self):
        return "Pin(%d)" % self._id


class _PinIRQ:
    def __init__(self, pin):
        self._pin = pin

    def trigger(self, t=None):
        return 0


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, *args, **kw)
        self._invert = bool(invert)

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._invert
        self._pin.value(bool(x) ^ self._invert)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3

    def __init__(self, pin, *, atten=None):
        self._id = _pin_id(pin)
        if self._id not in (0, 2, 4, 12, 13, 14, 15, 25, 26, 27) and not 32 <= self._id <= 39:
            raise ValueError("invalid pin")
        self._atten = ADC.ATTN_0DB if atten is None else atten

    def init(self, *, atten=None):
        if atten is not None:
            self._atten = atten

    def atten(self, a):
        self._atten = a

    def width(self, w):
        pass

    def read(self):
        return 0

    def read_u16(self):
        return 0

    def read_uv(self):
        return 0

    def __repr__(self):
        return "ADC(Pin(%d), atten=%d)" % (self._id, self._atten)


class PWM:
    def __init__(self, dest, *, freq=5000, duty=None, duty_u16=None, duty_ns=None, invert=False):
        self._pin = dest if isinstance(dest, Pin) else Pin(dest)
        self._freq = 5000
        self._duty = 32768
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self.freq(freq)
        if duty is not None:
            self.duty(duty)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        if duty_ns is not None:
            self.duty_ns(duty_ns)

    def deinit(self):
        pass

    def freq(self, f=None):
        if f is None:
            return self._freq
        if not 1 <= f <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = f

    def duty(self, d=None):
        if d is None:
            return (self._duty * 1023 + 32767) // 65535
        self._duty = min(max(d, 0), 1023) * 65535 // 1023

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = min(max(d, 0), 65535)

    def duty_ns(self, ns=None):
        period = 1000000000 // self._freq
        if ns is None:
            return self._duty * period // 65535
        self._duty = min(max(ns, 0) * 65535 // period, 65535)

    def __repr__(self):
        return "PWM(Pin(%d), freq=%d, duty_u16=%d)" % (self._pin._id, self._freq, self._duty)


class _Bus:
    # I2C with nothing attached: no address acknowledges.
    def __init__(self, *args, **kw):
        pass

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def scan(self):
        return []

    def _nodev(self, *args, **kw):
        raise OSError(errno.ENODEV)

    readfrom = readfrom_into = writeto = writevto = _nodev
    readfrom_mem = readfrom_mem_into = writeto_mem = _nodev

    def start(self):
        pass

    def stop(self):
        pass

    def readinto(self, buf, nack=True):
        for i in range(len(buf)):
            buf[i] = 0xFF  # an idle bus reads high

    def write(self, buf):
        return 0  # acknowledged bytes


class I2C(_Bus):
    pass


class SoftI2C(_Bus):
    pass


class _SPIBus:
    MSB = 0
    LSB = 1

    def __init__(self, *args, **kw):
        pass

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def read(self, n, write=0):
        return bytes(n)

    def readinto(self, buf, write=0):
        for i in range(len(buf)):
            buf[i] = 0

    def write(self, buf):
        pass

    def write_readinto(self, wbuf, rbuf):
        self.readinto(rbuf)


class SPI(_SPIBus):
    pass


class SoftSPI(_SPIBus):
    pass


class UART:
    INV_TX = 1
    INV_RX = 2
    INV_RTS = 4
    INV_CTS = 8
    RTS = 1
    CTS = 2

    def __init__(self, id, baudrate=115200, *args, **kw):
        self._baud = baudrate

    def init(self, baudrate=None, *args, **kw):
        if baudrate:
            self._baud = baudrate

    def deinit(self):
        pass

    def any(self):
        return 0

    def read(self, n=-1):
        return None

    def readline(self):
        return None

    def readinto(self, buf, n=-1):
        return None

    def write(self, buf):
        return len(buf)  # nothing listens on the other end

    def flush(self):
        pass

    def txdone(self):
        return True

    def sendbreak(self):
        pass


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    # Callbacks run while the board sleeps (time.sleep*, lightsleep) or the
    # REPL waits for input, not in the middle of other code.
    def __init__(self, id=-1, **kw):
        self._id = id
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None):
        if freq > 0:
            period = max(1, 1000 // freq)
        if period < 0:
            raise ValueError("period or freq needed")
        if callback is None:
            _time._timer_del(self)
        else:
            _time._timer_set(self, period, mode == Timer.PERIODIC, callback)

    def deinit(self):
        _time._timer_del(self)

    def value(self):
        return 0


class WDT:
    def __init__(self, id=0, timeout=5000):
        self._timeout = timeout

    def feed(self):
        pass


class RTC:
    def __init__(self, id=0):
        pass

    def init(self, datetime):
        self.datetime(datetime)

    def datetime(self, dt=None):
        if dt is None:
            t = float(_b.now())
            s = int(t)
            y, mo, d, h, mi, sec, wd, _ = _time.gmtime(s)
            return (y, mo, d, wd, h, mi, sec, int((t - s) * 1000000))
        y, mo, d, wd, h, mi, sec = dt[:7]
        us = dt[7] if len(dt) > 7 else 0
        _b.set_time(str(_time.mktime((y, mo, d, h, mi, sec, 0, 0)) + us / 1000000))

    def memory(self, data=None):
        if data is None:
            return bytes(getattr(RTC, "_mem", b""))
        RTC._mem = bytes(data)
