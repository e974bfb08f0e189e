# ntptime: the virtual board's clock is the host's, which is already
# synchronised, so settime() only drops what machine.RTC set.
host = "pool.ntp.org"
timeout = 1


def time():
    import time

    return time.time()


def settime():
    import _simboard

    _simboard.sync_time()
