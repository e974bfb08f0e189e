# esp32 for the virtual ESP32. NVS lives in memory until the next boot.
HEAP_DATA = 4
HEAP_EXEC = 1
WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1


def raw_temperature():
    return 113  # degrees Fahrenheit, a warm chip


def mcu_temperature():
    return 45


def wake_on_touch(wake):
    pass


def wake_on_ext0(pin, level):
    pass


def wake_on_ext1(pins, level):
    pass


def idf_heap_info(capabilities):
    import gc

    f = gc.mem_free()
    return [(f + gc.mem_alloc(), f, f, f)]


_nvs = {}


class NVS:
    def __init__(self, namespace):
        self._d = _nvs.setdefault(namespace, {})

    def set_i32(self, key, value):
        self._d[key] = int(value)

    def get_i32(self, key):
        v = self._d.get(key)
        if not isinstance(v, int):
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND, as a board raises
        return v

    def set_blob(self, key, value):
        self._d[key] = bytes(value)

    def get_blob(self, key, buffer):
        v = self._d.get(key)
        if not isinstance(v, bytes):
            raise OSError(-4354)
        n = min(len(v), len(buffer))
        buffer[:n] = v[:n]
        return len(v)

    def erase_key(self, key):
        if self._d.pop(key, None) is None:
            raise OSError(-4354)

    def commit(self):
        pass
