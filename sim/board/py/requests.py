# requests for the virtual board: the small HTTP client MicroPython boards
# use (get, post, put, patch, delete, head, request), over the board's
# socket and ssl. HTTP/1.1 with "Connection: close"; bodies framed by
# Content-Length, chunked transfer coding, or the end of the connection.
import socket


class Response:
    def __init__(self, s):
        self.raw = s
        self.encoding = "utf-8"
        self.status_code = 0
        self.reason = b""
        self.headers = {}
        self._c = None
        self._len = None
        self._chunked = False

    def close(self):
        if self.raw:
            self.raw.close()
            self.raw = None

    def _body(self):
        s = self.raw
        if self._chunked:
            parts = []
            while True:
                n = int(s.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while s.readline() not in (b"", b"\r\n"):
                        pass
                    break
                parts.append(s.read(n))
                s.readline()
            return b"".join(parts)
        if self._len is not None:
            return s.read(self._len) if self._len else b""
        return s.read()

    @property
    def content(self):
        if self._c is None:
            try:
                self._c = self._body() if self.raw else b""
            finally:
                self.close()
        return self._c

    @property
    def text(self):
        return str(self.content, self.encoding)

    def json(self):
        import json

        return json.loads(self.content)

    def __repr__(self):
        return "<Response [%d]>" % self.status_code


def request(method, url, data=None, json=None, headers=None, stream=None, auth=None, timeout=None, parse_headers=True):
    for _ in range(5):  # redirects followed
        r = _once(method, url, data, json, headers, auth, timeout, parse_headers)
        loc = r.headers.get("Location") or r.headers.get("location")
        if r.status_code in (301, 302, 303, 307, 308) and loc and method in ("GET", "HEAD"):
            r.close()
            if "://" not in loc:
                proto, _, host = url.split("/", 3)[:3]
                loc = proto + "//" + host + ("" if loc.startswith("/") else "/") + loc
            url = loc
            continue
        return r
    raise OSError("too many redirects")


def _once(method, url, data, json, headers, auth, timeout, parse_headers):
    try:
        proto, _, host, path = url.split("/", 3)
    except ValueError:
        proto, _, host = url.split("/", 2)
        path = ""
    if proto == "http:":
        port = 80
    elif proto == "https:":
        port = 443
    else:
        raise ValueError("Unsupported protocol: " + proto)
    name = host
    if ":" in host:
        name, port = host.split(":", 1)
        port = int(port)
    if json is not None:
        import json as _j

        data = _j.dumps(json)
    if isinstance(data, str):
        data = data.encode()
    ai = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    if timeout is not None:
        s.settimeout(timeout)
    try:
        s.connect(ai[-1])
        if proto == "https:":
            import ssl

            s = ssl.wrap_socket(s, server_hostname=name)
        h = {"Host": host, "Connection": "close"}
        if json is not None:
            h["Content-Type"] = "application/json"
        if data is not None:
            h["Content-Length"] = str(len(data))
        if auth is not None:
            import binascii

            h["Authorization"] = "Basic " + binascii.b2a_base64(("%s:%s" % auth).encode()).decode().strip()
        if headers:
            h.update(headers)
        req = ["%s /%s HTTP/1.1\r\n" % (method, path)]
        for k, v in h.items():
            req.append("%s: %s\r\n" % (k, v))
        req.append("\r\n")
        s.write("".join(req))
        if data:
            s.write(data)
        line = s.readline()
        if not line:
            raise OSError("no response")
        parts = line.split(None, 2)
        r = Response(s)
        r.status_code = int(parts[1])
        r.reason = parts[2].rstrip() if len(parts) > 2 else b""
        while True:
            line = s.readline()
            if not line or line == b"\r\n":
                break
            k, _, v = str(line, "utf-8").partition(":")
            k = k.strip()
            v = v.strip()
            lk = k.lower()
            if lk == "transfer-encoding" and "chunked" in v.lower():
                r._chunked = True
            elif lk == "content-length":
                r._len = int(v)
            if parse_headers is True:
                r.headers[k] = v
            elif parse_headers:
                parse_headers(line, r)
        if method == "HEAD" or r.status_code in (204, 304) or 100 <= r.status_code < 200:
            r._c = b""
            r.close()
        return r
    except BaseException:
        s.close()
        raise


def head(url, **kw):
    return request("HEAD", url, **kw)


def get(url, **kw):
    return request("GET", url, **kw)


def post(url, **kw):
    return request("POST", url, **kw)


def put(url, **kw):
    return request("PUT", url, **kw)


def patch(url, **kw):
    return request("PATCH", url, **kw)


def delete(url, **kw):
    return request("DELETE", url, **kw)
