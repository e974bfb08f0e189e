"""`jupyter console` driven through pipes, as a user at a terminal would:
it starts the kernel, runs a line, prints the result and shuts the kernel
down when its input ends."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import kutil


class Reader:
    """Collects a pipe's output in a thread so waits can be bounded."""

    def __init__(self, pipe):
        self.buf = b""
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for chunk in iter(lambda: os.read(pipe.fileno(), 4096), b""):
            with self.cond:
                self.buf += chunk
                self.cond.notify_all()

    def text(self) -> str:
        with self.cond:
            return self.buf.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle.encode() not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


@contextlib.contextmanager
def console(kernel_bin: str):
    """A `jupyter console` at its first prompt: (process, its output, the
    pids of its kernels). Console and kernels are stopped afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_console", "--kernel", kutil.KERNEL_NAME, "--simple-prompt"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    kernels: list[int] = []
    try:
        out = Reader(proc.stdout)
        assert out.wait_for("In [1]:", kutil.TIMEOUT), out.text()
        kernels = [p for p in kutil.children(proc.pid) if _exe(p) == os.path.realpath(kernel_bin)]
        yield proc, out, kernels
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=kutil.TIMEOUT)
        for pid in kernels:
            kutil.kill_pid(pid)


def test_console_runs_a_line_and_shuts_the_kernel_down(kernel_bin):
    with console(kernel_bin) as (proc, out, kernels):
        assert len(kernels) == 1, f"console children: {kutil.children(proc.pid)}"

        proc.stdin.write(b"print('hello from the console')\n")
        proc.stdin.flush()
        assert out.wait_for("In [2]:", kutil.TIMEOUT), out.text()
        assert kutil.NO_BOARD in out.text()

        proc.stdin.write(b"!echo console-$((6*7))\n")
        proc.stdin.flush()
        assert out.wait_for("In [3]:", kutil.TIMEOUT), out.text()
        assert "console-42" in out.text()

        proc.stdin.close()  # EOF: the console confirms and exits
        assert proc.wait(timeout=kutil.TIMEOUT) == 0, out.text()
        assert "Shutting down kernel" in out.text()
        assert kutil.wait_gone(kernels[0], kutil.TIMEOUT), "console exited but left its kernel running"


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def test_console_exit_quits(kernel_bin):
    """`exit`, as in IPython, closes the console and stops its kernel."""
    with console(kernel_bin) as (proc, out, kernels):
        assert kernels, f"console children: {kutil.children(proc.pid)}"
        proc.stdin.write(b"exit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=kutil.TIMEOUT) == 0, out.text()
        assert "NameError" not in out.text(), out.text()
        for pid in kernels:
            assert kutil.wait_gone(pid, kutil.TIMEOUT), "the console exited but left its kernel running"
