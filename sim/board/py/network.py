# network for the virtual board, as on an ESP32: the station interface is
# up and connected (the host's network) from boot, as if boot.py had joined
# a WLAN. Its address is IOT_SIM_IP (default 127.0.0.1), its MAC the
# board's unique id (machine.unique_id()).
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
AUTH_WPA2_ENTERPRISE = 5
AUTH_WPA3_PSK = 6
AUTH_WPA2_WPA3_PSK = 7
MODE_11B = 1
MODE_11G = 2
MODE_11N = 4
PHY_LAN8720 = 0

_ip, _nm = js.iotnet.info().split("\n", 1)
try:
    import _simboard

    _mac = bytes.fromhex(_simboard.uid)
except ImportError:
    _mac = b"\x02\x00\x00\x00\x00\x01"
_host = ["mpy-" + _nm]
_gw = _ip.rsplit(".", 1)[0] + ".1"
# Per interface: active, connected, essid, and the AP's own settings.
_st = [
    {"a": True, "c": True, "essid": "sim", "ip": (_ip, "255.255.255.0", _gw, _gw)},
    {"a": False, "c": False, "essid": "mpy-" + _nm, "ip": ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")},
]
_dns = [_gw]


def hostname(name=None):
    if name is None:
        return _host[0]
    _host[0] = name


def country(c=None):
    if c is None:
        return "XX"


def phy_mode(m=None):
    if m is None:
        return MODE_11B | MODE_11G | MODE_11N


def ipconfig(*a, **kw):
    if a:
        if a[0] == "dns":
            return _dns[0]
        if a[0] == "prefer":
            return 4
        raise ValueError("unexpected key")
    if "dns" in kw:
        _dns[0] = kw["dns"]


class WLAN:
    def __init__(self, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self._id = interface_id
        self._s = _st[interface_id]

    def __repr__(self):
        return "<WLAN>"

    def active(self, is_active=None):
        if is_active is None:
            return self._s["a"]
        self._s["a"] = bool(is_active)
        if not is_active:
            self._s["c"] = False
        elif self._id == AP_IF:
            self._s["c"] = True

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._s["a"]:
            raise OSError("STA must be active")
        if ssid is not None:
            self._s["essid"] = ssid
        self._s["c"] = True

    def disconnect(self):
        self._s["c"] = False

    def isconnected(self):
        if self._id == AP_IF:
            return False
        return self._s["a"] and self._s["c"]

    def status(self, param=None):
        if param == "rssi":
            return -50
        if param == "stations":
            return []
        if param is not None:
            raise ValueError("unknown status param")
        if self._id == AP_IF:
            return STAT_IDLE
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def scan(self):
        if not self._s["a"]:
            raise OSError("STA must be active")
        return [(b"sim", b"\x02\x00\x00\x00\x00\x02", 6, -50, AUTH_WPA2_PSK, False)]

    def ifconfig(self, config=None):
        if config is None:
            return self._s["ip"]
        self._s["ip"] = tuple(config)

    def ipconfig(self, *a, **kw):
        ip = self._s["ip"]
        if a:
            k = a[0]
            if k == "addr4":
                return (ip[0], ip[1])
            if k == "gw4":
                return ip[2]
            if k == "dhcp4":
                return True
            if k == "addr6":
                return []
            raise ValueError("unexpected key")
        if "addr4" in kw:
            v = kw["addr4"]
            if isinstance(v, str):
                a, _, m = v.partition("/")
                n = int(m or 24)
                m = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
                v = (a, ".".join(str((m >> s) & 255) for s in (24, 16, 8, 0)))
            self._s["ip"] = (v[0], v[1], ip[2], ip[3])
        if "gw4" in kw:
            self._s["ip"] = (ip[0], ip[1], kw["gw4"], ip[3])

    def config(self, *a, **kw):
        if a:
            k = a[0]
            if k == "mac":
                if self._id == AP_IF:
                    return _mac[:5] + bytes([(_mac[5] + 1) & 255])
                return _mac
            if k in ("essid", "ssid"):
                return self._s["essid"]
            if k in ("hostname", "dhcp_hostname"):
                return _host[0]
            if k == "channel":
                return 6
            if k == "txpower":
                return 20
            if k == "security":
                return AUTH_WPA2_PSK
            if k == "reconnects":
                return -1
            if k == "pm":
                return 1
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k in ("essid", "ssid"):
                self._s["essid"] = v
            elif k in ("hostname", "dhcp_hostname"):
                _host[0] = v

    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2
