"""Exercise a notebook cell that runs a web server on the board, as a person
with a browser would: wait for the board's port to accept, send requests,
read the answers, then press stop.

Used by the notebook replays and by recording the sockets notebook: nbclient
runs the cell, and a thread started when the cell starts does the rest.
"""
from __future__ import annotations

import socket
import threading
import time


def http_get(port: int, path: str = "/", timeout: float = 10) -> bytes:
    """One HTTP request to 127.0.0.1:port with fixed headers (the board's
    cell prints them, so they must not vary); returns the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "User-Agent: iot-kernel-replay\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def interrupt(connection_file: str, timeout: float = 10) -> None:
    """Press stop: an interrupt_request on the kernel's control channel,
    from a client of our own (nbclient's is busy waiting for the cell)."""
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        msg = kc.session.msg("interrupt_request", {})
        kc.control_channel.send(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = kc.control_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return
        raise TimeoutError("no interrupt_reply")
    finally:
        kc.stop_channels()


class Poke:
    """Started when a server cell starts: once `port` accepts, GETs each of
    `paths` in turn, then interrupts the kernel. `answers` holds the
    replies; `error` what went wrong, if anything."""

    def __init__(self, connection_file: str, port: int, paths: list[str], timeout: float = 60):
        self.answers: list[bytes] = []
        self.error: BaseException | None = None
        self._args = (connection_file, port, paths, timeout)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection_file, port, paths, timeout = self._args
        try:
            self._wait_first(port, paths[0], timeout)
            for p in paths[1:]:
                self.answers.append(http_get(port, p))
        except BaseException as e:  # reported by join
            self.error = e
        finally:
            try:
                interrupt(connection_file)
            except BaseException as e:
                self.error = self.error or e

    def _wait_first(self, port: int, path: str, timeout: float) -> None:
        # The first request doubles as the probe: a refused connect means
        # the server is not up yet; once one connects, it is the request.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.answers.append(http_get(port, path))
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")
                time.sleep(0.05)

    def join(self, timeout: float = 30) -> list[bytes]:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the server cell's requests did not finish")
        if self.error:
            raise self.error
        return self.answers
