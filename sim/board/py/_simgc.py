# gc as a board reports it. The port's gc.mem_free() adds the largest
# possible new heap area (a constant 128 MiB) to the free bytes, and its
# heap may hold areas beyond the board's (garbage made while Python runs,
# collected when the call returns). A board's answer is its heap's size
# less what is allocated.
from gc import *
import gc as _gc
import _simboard

_SPLIT = 128 * 1024 * 1024


def mem_free():
    lim = _simboard.heap_limit()
    if lim:
        f = lim - _gc.mem_alloc()
        return f if f > 0 else 0
    f = _gc.mem_free()
    return f - _SPLIT if f >= _SPLIT else f
