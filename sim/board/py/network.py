# network for the virtual board, as on an ESP32: the station interface is
# up and connected (the host's network) from boot, as if boot.py had joined
# a WLAN. Its address is IOT_SIM_IP (default 127.0.0.1), its MAC the
# board's unique id (machine.unique_id()). Kept small: it lives in the heap.
import js

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

_ip, _nm = js.iotnet.info().split("\n", 1)
try:
    import _simboard

    _mac = bytes.fromhex(_simboard.uid)
except ImportError:
    _mac = b"\x02\x00\x00\x00\x00\x01"
_gw = _ip.rsplit(".", 1)[0] + ".1"
_host = ["mpy-" + _nm]
# Per interface: [active, connected, essid, (ip, mask, gateway, dns)]
_st = (
    [True, True, "sim", (_ip, "255.255.255.0", _gw, _gw)],
    [False, False, "mpy-" + _nm, ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")],
)


def hostname(name=None):
    if name is None:
        return _host[0]
    _host[0] = name


def ipconfig(k=None, **kw):
    if k == "dns":
        return _st[0][3][3]
    if k == "prefer":
        return 4
    if k is not None:
        raise ValueError("unexpected key")


class WLAN:
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface_id=STA_IF):
        self._i = interface_id
        self._s = _st[interface_id]

    def active(self, a=None):
        s = self._s
        if a is None:
            return s[0]
        s[0] = bool(a)
        s[1] = s[0] and self._i == AP_IF

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._s[0]:
            raise OSError("STA must be active")
        if ssid is not None:
            self._s[2] = ssid
        self._s[1] = True

    def disconnect(self):
        self._s[1] = False

    def isconnected(self):
        return self._i == STA_IF and self._s[0] and self._s[1]

    def status(self, p=None):
        if p == "rssi":
            return -50
        if p == "stations":
            return []
        if p is not None:
            raise ValueError("unknown status param")
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def scan(self):
        return [(b"sim", b"\x02\x00\x00\x00\x00\x02", 6, -50, AUTH_WPA2_PSK, False)]

    def ifconfig(self, c=None):
        if c is None:
            return self._s[3]
        self._s[3] = tuple(c)

    def ipconfig(self, k=None, **kw):
        ip = self._s[3]
        if k == "addr4":
            return ip[:2]
        if k == "gw4":
            return ip[2]
        if k == "dhcp4":
            return True
        if k is not None:
            raise ValueError("unexpected key")
        if "addr4" in kw:
            v = kw["addr4"]
            if isinstance(v, str):  # "a.b.c.d/bits"
                a, _, b = v.partition("/")
                m = 0xFFFFFFFF << (32 - int(b or 24))
                v = (a, "%d.%d.%d.%d" % (m >> 24 & 255, m >> 16 & 255, m >> 8 & 255, m & 255))
            ip = (v[0], v[1]) + ip[2:]
        if "gw4" in kw:
            ip = ip[:2] + (kw["gw4"], ip[3])
        self._s[3] = ip

    def config(self, k=None, **kw):
        if k == "mac":
            return _mac if self._i == STA_IF else _mac[:5] + bytes([(_mac[5] + 1) & 255])
        if k in ("essid", "ssid"):
            return self._s[2]
        if k in ("hostname", "dhcp_hostname"):
            return _host[0]
        if k == "channel":
            return 6
        if k == "txpower":
            return 20
        if k == "security":
            return AUTH_WPA2_PSK
        if k == "pm":
            return 1
        if k is not None:
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k in ("essid", "ssid"):
                self._s[2] = v
            elif k in ("hostname", "dhcp_hostname"):
                _host[0] = v
