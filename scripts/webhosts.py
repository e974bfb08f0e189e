"""Stand-ins for remote web hosts, on loopback: the sockets notebook's
`google.com:80` and `:443` are sent here by the virtual board's host map.

The pages are fixed, so a replay compares like with like; only the Date
header varies (the replay normalises dates). The HTTPS server's
certificate is self-signed and made at start, never stored.
"""
from __future__ import annotations

import contextlib
import datetime
import http.server
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# A page long enough that the notebook's read(2000) shows only its start.
BODY = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>A local stand-in for a remote page</title></head><body>\n"
        + "".join(f"<p>Line {i:03d} of a page served on loopback for the notebook replay.</p>\n"
                  for i in range(60))
        + "</body></html>\n").encode()


class _Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def version_string(self):  # the Server header, the same on every Python
        return "iot-kernel-test"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Expires", "-1")
        self.send_header("Cache-Control", "private, max-age=0")
        self.send_header("Content-Type", "text/html; charset=ISO-8859-1")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, fmt, *args):  # quiet: the test shows what matters
        pass


@dataclass
class Hosts:
    """The ports of the running stand-ins, and the host map that sends a
    name's port 80 and 443 to them."""
    http_port: int
    https_port: int

    def host_map(self, name: str = "google.com") -> dict[str, str]:
        return {f"{name}:80": f"127.0.0.1:{self.http_port}",
                f"{name}:443": f"127.0.0.1:{self.https_port}"}


def _self_signed(dir: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = dir / "cert.pem", dir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.contextmanager
def serve(name: str = "google.com"):
    """Start the HTTP and HTTPS stand-ins on 127.0.0.1 (free ports); yields
    Hosts. Both stop when the block ends."""
    servers = []
    with tempfile.TemporaryDirectory(prefix="iot-webhosts-") as tmp:
        try:
            plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
            servers.append(plain)
            secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
            servers.append(secure)
            cert, key = _self_signed(Path(tmp), name)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            secure.socket = ctx.wrap_socket(secure.socket, server_side=True)
            for s in servers:
                s.daemon_threads = True
                threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            yield Hosts(plain.server_address[1], secure.server_address[1])
        finally:
            for s in servers:
                s.shutdown()
                s.server_close()


def main() -> None:
    """Serve until stdin closes; print the two ports on one line first, for
    a test in another language (the browser test) to read."""
    import sys
    with serve() as hosts:
        print(hosts.http_port, hosts.https_port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
