# ssl for the virtual board, as MicroPython's (mbedTLS) ssl module: TLS is
# done by node in the network worker. As on the board, certificates are
# verified only with CERT_REQUIRED.
import socket as _so

CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2
PROTOCOL_TLS_CLIENT = 0
PROTOCOL_TLS_SERVER = 1
MBEDTLS_VERSION = "Mbed TLS 3.6.2"


def _data(x):
    if isinstance(x, str):
        with open(x, "rb") as f:
            return f.read()
    return x


class SSLSocket(_so.socket):
    def __repr__(self):
        return "<SSLSocket>"


class SSLContext:
    def __init__(self, protocol):
        if protocol not in (0, 1):
            raise ValueError("invalid protocol")
        self._srv = protocol == 1
        self.verify_mode = CERT_NONE
        self._key = self._cert = self._ca = None

    def load_cert_chain(self, certfile, keyfile):
        self._cert = _data(certfile)
        self._key = _data(keyfile)

    def load_verify_locations(self, cafile=None, cadata=None):
        self._ca = _data(cafile) if cafile else cadata

    def set_ciphers(self, ciphers):
        pass

    def get_ciphers(self):
        return ["TLS-AES-128-GCM-SHA256", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"]

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        if server_side != self._srv:
            raise ValueError("invalid server_side for this context")
        n = [len(b) if b else 0 for b in (self._key, self._cert, self._ca)]
        _so._d.write(b"".join(b for b in (self._key, self._cert, self._ca) if b))
        t = sock._t if do_handshake_on_connect else 0
        _so._x(_so._n.tls(sock._s, server_side, self.verify_mode, server_hostname or "", n[0], n[1], n[2], t))
        s = SSLSocket(_so.AF_INET, _so.SOCK_STREAM, 0, sock._s)
        s._t = sock._t
        sock._s = 0  # the TLS socket owns the connection now
        return s


def wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=CERT_NONE, cadata=None, server_hostname=None, do_handshake=True):
    c = SSLContext(PROTOCOL_TLS_SERVER if server_side else PROTOCOL_TLS_CLIENT)
    if key or cert:
        c._key = key
        c._cert = cert
    if cadata:
        c._ca = cadata
    c.verify_mode = cert_reqs
    return c.wrap_socket(sock, server_side, do_handshake, server_hostname)
