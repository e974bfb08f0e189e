"""Helpers for the protocol tests that work with jupyter_client 7.4 (Debian)
and 8.x (the project venv) alike. Every wait here is bounded."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from queue import Empty

import jupyter_client
import zmq
import zmq.asyncio
from jupyter_client import BlockingKernelClient, KernelManager
from jupyter_client.connect import write_connection_file

KERNEL_NAME = "iot-micropython"
TIMEOUT = 30  # seconds; the bound on any single wait for the kernel
NO_BOARD = "no board connected"
NO_BOARD_ERROR = "NoBoardError"  # the ename of a board cell run with no board


def client_context() -> zmq.Context:
    """A fresh zmq context of the kind this jupyter_client's clients use
    (7.x: asyncio, 8.x: plain). Destroy it after stop_channels: clients
    that create their own leave it to the garbage collector, and 100 quick
    cycles exhaust file descriptors on 7.4 that way."""
    if jupyter_client.version_info < (8,):
        return zmq.asyncio.Context()
    return zmq.Context()


def kernel_process(km: KernelManager):
    """The Popen of the kernel a KernelManager started."""
    return km.provisioner.process


def kernel_pid(km: KernelManager) -> int:
    """The pid of the kernel process a KernelManager started."""
    return kernel_process(km).pid


def start_manager(**kw) -> KernelManager:
    km = KernelManager(kernel_name=KERNEL_NAME)
    km.start_kernel(**kw)
    return km


def stop_manager(km: KernelManager) -> None:
    """Stop the kernel for certain: a graceful request, then a kill."""
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    finally:
        try:
            proc = kernel_process(km)
        except Exception:
            proc = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


def pid_alive(pid: int) -> bool:
    """Whether pid is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float) -> bool:
    """Poll until pid is gone or timeout passes; True if gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[int]:
    """Direct children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class RawKernel:
    """A kernel started directly from a connection file (no KernelManager),
    for tests that need its pid, its stderr or a process in between."""

    def __init__(self, binary: str, log_level: str = "info", env: dict | None = None):
        self.dir = tempfile.mkdtemp(prefix="iot-raw-")
        self.conn_file, self.info = write_connection_file(
            os.path.join(self.dir, "kernel.json"), ip="127.0.0.1", key=os.urandom(16).hex().encode()
        )
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.argv = [binary, "run", "-f", self.conn_file, "--log-level", log_level]
        self._stderr = open(self.stderr_path, "wb")
        e = dict(os.environ)
        e.pop("JPY_PARENT_PID", None)
        e.update(env or {})
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr, env=e)
        self.pid = self.proc.pid

    def client(self) -> BlockingKernelClient:
        kc = BlockingKernelClient()
        kc.load_connection_info(self.info)
        kc.start_channels()
        kc.wait_for_ready(timeout=TIMEOUT)
        return kc

    def stderr(self) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        self._stderr.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def execute(kc: BlockingKernelClient, code: str, timeout: float = TIMEOUT, **kw):
    """Run code and return (reply, iopub messages between busy and idle).

    The iopub messages are those whose parent is this request, up to and
    including its idle status."""
    msg_id = kc.execute(code, **kw)
    deadline = time.monotonic() + timeout
    reply = None
    while reply is None:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            reply = msg
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        outputs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return reply, outputs


def request(kc: BlockingKernelClient, channel: str, msg_type: str, content: dict | None = None,
            timeout: float = TIMEOUT) -> dict:
    """Send a request on shell or control and return its reply."""
    msg = kc.session.msg(msg_type, content or {})
    ch = kc.shell_channel if channel == "shell" else kc.control_channel
    ch.send(msg)
    get = kc.get_shell_msg if channel == "shell" else kc.get_control_msg
    deadline = time.monotonic() + timeout
    while True:
        reply = get(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply


def drain(get, timeout: float = 0.2) -> list[dict]:
    """Read messages until none arrives for `timeout` seconds."""
    out = []
    while True:
        try:
            out.append(get(timeout=timeout))
        except Empty:
            return out


def read_line(stream, timeout: float = TIMEOUT) -> str:
    """The first line a child writes to its pipe, within timeout, or
    TimeoutError. Reads the descriptor itself: do not read stream after."""
    fd = stream.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no line within {timeout}s (got {buf!r})")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError(f"pipe closed after {buf!r}")
            buf += chunk
    finally:
        sel.close()
    return buf.split(b"\n", 1)[0].decode()
