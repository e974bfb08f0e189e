# uname() for os, which the webassembly port leaves out and programs
# written for an ESP32 call (a banner, a board check). The board's setup
# puts it on the os module (a frozen package here, imported at start-up).
import sys
import _simboard as _b


class _uname_result(tuple):
    # As MicroPython's: a tuple whose fields are also attributes.
    sysname = property(lambda s: s[0])
    nodename = property(lambda s: s[1])
    release = property(lambda s: s[2])
    version = property(lambda s: s[3])
    machine = property(lambda s: s[4])

    def __repr__(s):
        return "(sysname=%r, nodename=%r, release=%r, version=%r, machine=%r)" % tuple(s)


def uname():
    v = sys.implementation.version
    release = "%d.%d.%d" % (v[0], v[1], v[2])
    return _uname_result(
        (sys.platform, str(_b.name), release, "v" + release, "virtual ESP32 (iot-kernel) with WebAssembly")
    )
