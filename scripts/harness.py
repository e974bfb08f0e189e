"""Shared set-up for the demo and the notebook tests: a test board, a
kernelspec in a private Jupyter path, a devices file naming the board.

Everything started here is stopped by the context managers, with bounded
waits, so nothing outlives the run.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import selectors
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


class TestBoard:
    """A board started by `testboard`: its device path and optional URLs."""

    def __init__(self, proc: subprocess.Popen, lines: list[str]):
        self.proc = proc
        self.path = lines[0]
        self.url = lines[1] if len(lines) > 1 else lines[0]

    def stop(self, timeout: float = 10) -> None:
        _stop_board(self.proc, timeout)


def _stop_board(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            proc.stdin.close()  # testboard stops at EOF on stdin
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _read_lines(proc: subprocess.Popen, n: int, timeout: float) -> list[str]:
    """Read n lines of proc's stdout within timeout, or raise."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf, lines = b"", []
    fd = proc.stdout.fileno()
    while len(lines) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise TimeoutError(f"testboard printed {lines!r} within {timeout}s, wanted {n} lines")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"testboard exited ({proc.wait(5)}) after printing {lines!r}")
        buf += chunk
        while b"\n" in buf and len(lines) < n:
            line, buf = buf.split(b"\n", 1)
            lines.append(line.decode().strip())
    return lines


@contextlib.contextmanager
def testboard(binary: str, kind: str = "microbit", webrepl: str | None = None,
              rfc2217: bool = False, timeout: float = 60, pace: int | None = None):
    """Start a test board; yields a TestBoard. webrepl is a password; pace is
    the host-to-board baud rate (0: unpaced; None: the board's own)."""
    args = [binary, "-kind", kind]
    if pace is not None:
        args += ["-pace", str(pace)]
    if webrepl is not None:
        args += ["-webrepl", webrepl]
    if rfc2217:
        args += ["-rfc2217"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        lines = _read_lines(proc, 2 if (webrepl is not None or rfc2217) else 1, timeout)
        yield TestBoard(proc, lines)
    finally:
        _stop_board(proc)


@contextlib.contextmanager
def jupyter_env(kernel_bin: str, devices: dict[str, dict] | None = None, default: str | None = None):
    """Install the kernelspec into a private Jupyter path and write a devices
    file (default names the board a first cell connects to); yields the
    environment to run clients with (also applied to os.environ for
    in-process clients, and restored afterwards)."""
    with tempfile.TemporaryDirectory(prefix="iot-kernel-") as tmp:
        tmp = pathlib.Path(tmp)
        data = tmp / "jupyter"
        env = {
            "JUPYTER_PATH": str(data),
            "JUPYTER_DATA_DIR": str(data),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "IOT_DEVICES": str(tmp / "devices.yaml"),
            "IOT_STATE_DIR": str(tmp / "state"),
            "IPYTHONDIR": str(tmp / "ipython"),  # %%host's ipykernel: not the user's
            "IOT_SIM_HOME": str(tmp / "sim"),  # the virtual boards' files: not the user's
        }
        full = dict(os.environ, **env)
        subprocess.run([kernel_bin, "install", "--user"], env=full, check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        lines = [f"default: {json.dumps(default)}"] if default else []
        for name, entry in (devices or {}).items():
            lines.append(f"{name}:")
            for k, v in entry.items():
                lines.append(f"  {k}: {json.dumps(v)}")  # JSON is YAML (strings, flow maps)
        (tmp / "devices.yaml").write_text("\n".join(lines) + "\n")
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield full
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def interrupt_after(cell) -> float | None:
    """The seconds after which a headless run presses stop on this cell, as
    a person would on a loop that runs forever (cell metadata
    `iot.interrupt_after`), or None."""
    return cell.get("metadata", {}).get("iot", {}).get("interrupt_after")


def execute_notebook(path: pathlib.Path, timeout: int = 60, allow_errors: bool = False, nb=None,
                     on_cell=None):
    """Execute a notebook (or nb, read from path) with nbclient in a fresh
    iot-kernel; returns it. A cell with `iot.interrupt_after` is
    interrupted after that many seconds; on_cell(client, cell) is called
    as each cell starts."""
    import nbformat
    from nbclient import NotebookClient

    if nb is None:
        nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="iot-micropython",
                            allow_errors=allow_errors, interrupt_on_timeout=True,
                            timeout_func=lambda cell: interrupt_after(cell) or timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    if on_cell is not None:
        client.on_cell_execute = lambda cell, cell_index: on_cell(client, cell)
    client.execute()
    return nb


def text_of(output: dict) -> str:
    """The plain text an output shows a reader."""
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if kind == "error":
        return "\n".join(output.get("traceback", [])) or f"{output['ename']}: {output['evalue']}"
    return ""
