# gc as a board reports it. The port's heap grows on demand, and its
# gc.mem_free() adds the largest possible new heap area (a constant 128 MiB)
# to the free bytes; a board's answer is the free bytes of its heap.
from gc import *
import gc as _gc

_SPLIT = 128 * 1024 * 1024


def mem_free():
    f = _gc.mem_free()
    return f - _SPLIT if f >= _SPLIT else f
