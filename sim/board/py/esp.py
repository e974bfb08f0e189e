# esp for the virtual ESP32: what boot.py files and tutorials call.
LOG_NONE = 0
LOG_ERROR = 1
LOG_WARNING = 2
LOG_INFO = 3
LOG_DEBUG = 4
LOG_VERBOSE = 5

_FLASH = 4 * 1024 * 1024


def osdebug(uart, level=LOG_ERROR):
    pass


def flash_size():
    return _FLASH


def flash_user_start():
    return 0x200000


def flash_read(offset, buf):
    for i in range(len(buf)):
        buf[i] = 0xFF  # erased flash


def flash_write(offset, buf):
    import errno

    raise OSError(errno.EPERM)  # the firmware's flash is not writable here


def flash_erase(sector):
    import errno

    raise OSError(errno.EPERM)
