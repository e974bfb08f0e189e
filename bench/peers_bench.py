#!/usr/bin/env python3
"""iot-kernel against its peers, on the same test board in the same run.

Peers: the Python iot-kernel 0.5.28 (an ipykernel subclass that drives the
board through iot_device/pyboard) and mpremote 1.29 (MicroPython's
command-line tool). For each board kind (micro:bit under QEMU, MicroPython
wasm under node) one test board is started and every tool takes its turn on
it, one at a time (a serial port has one user at a time):

  1. our kernel:        S starts to first result, side-by-side rounds of
                        cells and bare exchanges, N warm cells, R %cp
                        uploads, peak RSS, N empty cells
  2. iot-kernel 0.5.28: the same, through the same jupyter_client code
                        (kernelspec as `python -m iot_kernel.install` writes it)
  3. mpremote:          cold `exec`, chained `exec`s, `cp` uploads

Each upload is checked afterwards (file size on the board, via mpremote).

Metrics (one `BENCH peers.<board>.<metric> iot=.. peer=.. peer_name=.. ratio=..`
line each; ratio = iot/peer, so below 1 means we are faster or smaller; a
peer that cannot do the job shows peer=NA and the reason under "findings"):

  rt_ms            warm cell `print(1)`: execute -> reply and idle, median of N
  empty_ms         warm empty cell (kernel overhead, nothing for the board)
  ready_ms         kernel process start -> kernel_info reply and its idle on
                   iopub (not jupyter_client's wait_for_ready, which adds a
                   fixed 0.2 s iopub flush to every kernel), median of S
  first_result_ms  kernel process start -> result of the first cell, which
                   connects and prints 1 (ours: `%connect -q board` + `print(1)`;
                   0.5.28: `%%connect -q serial://PATH` + `print(1)`), median of S
  exec_ms          one `exec print(1)` inside a running session, process start
                   excluded: ours is rt_ms; mpremote's is the extra time of
                   K chained `exec`s in one process over one, divided by K
  cold_exec_ms     nothing running -> `1` printed: ours is first_result_ms (a
                   kernel start plus a Jupyter client), mpremote's is the wall
                   time of `mpremote connect PATH exec print(1)`, median of 10
  cp_<size>_ms     upload a text file (4 KB to the micro:bit, 64 KB to wasm):
                   ours `%cp FILE :NAME` timed around the execute; mpremote's
                   `cp -f FILE :NAME` wall time minus its cold `exec pass`
                   (so process start is excluded); median of R
  kcp_<size>_ms    the same upload with iot-kernel 0.5.28's `%cp`
  rss_peak_mb      VmHWM of the kernel process after the warm cells and uploads
  side_empty_ms,   an empty cell, `%loglevel` (a line printed without the
  side_host_print_ms, board), a print(1) cell and a bare raw REPL exchange
  side_rt_ms,      of print(1) (pyserial, on a second handle to the board
  side_raw_ms      the kernel is connected to), taking turns in M rounds:
                   medians (see side_by_side)
  raw_ms           the bare exchange back to back, N times, after the kernels
  cell_over_raw    (side_rt_ms - side_empty_ms) / side_raw_ms: what the board
                   part of a print(1) cell costs against the bare exchange,
                   measured side by side; target <= 1.3
  cell_over_raw_b2b  the same board part against raw_ms, for comparison
  reply_over_raw   the board part up to the reply (side_reply_rt_ms -
                   side_reply_empty_ms) / side_raw_ms: the kernel and the board
  side_stream_read_ms  the rest: what reading print(1)'s stream message costs
                   the client after the reply (its time from the reply to idle,
                   less the empty cell's)

The micro:bit board runs with `-pace 115200` (host-to-board bytes at the
rate of a real micro:bit's 115200-baud UART behind its USB interface chip):
without it the emulated 64-byte receive buffer drops bytes of any client's
unpaced writes. The wasm board is unpaced.

Where a peer cannot work with a board as it is, the script says why under
"findings" (read from the peers' source, and seen in this run). iot-kernel
0.5.28 cannot register a board without machine.unique_id() (the wasm port):
it is measured there with a two-line machine.py put on the board for its
turn only, and named "iot-kernel-0.5.28+machine.py".

Usage: python bench/peers_bench.py --kernel bin/iot-kernel --testboard bin/testboard
       [--kinds microbit,wasm] [--pace 115200] [--quick]
PEERS_BENCH_KEEP_LOGS=DIR keeps the kernels' logs. It is a report: nothing
here fails on speed. About 1.5 minutes (--quick: about 40 s).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import termios
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import harness  # noqa: E402  (the lead's shared set-up)

from jupyter_client import KernelManager  # noqa: E402

WAIT = 60.0       # bound on any single wait, seconds
CP_WAIT = 120.0   # bound on one upload
EMPTY_WAIT = 5.0  # bound on an empty cell (iot-kernel 0.5.28 never finishes one)
PEER_KERNEL = "iot-kernel-0.5.28"
MPREMOTE = "mpremote-1.29"
SIZES = {"microbit": 4 * 1024, "wasm": 64 * 1024}


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def version_of(dist: str) -> str:
    from importlib.metadata import version
    try:
        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


# ---- a kernel driven through jupyter_client -------------------------------------

class Kernel:
    """One kernel started by KernelManager, with a blocking client."""

    def __init__(self, kernel_name: str, env: dict | None = None, log=None):
        self.km = KernelManager(kernel_name=kernel_name)
        self.kc = None
        self.last_reply_s = 0.0  # execute -> reply of the last run
        self.t0 = time.perf_counter()
        kw = {"stdout": log, "stderr": log} if log else {}
        if env is not None:
            kw["env"] = env
        self.km.start_kernel(**kw)
        try:
            self.pid = self.km.provisioner.process.pid
            self.kc = self.km.client()
            self.kc.start_channels()
            self._wait_ready()
            self.ready_s = time.perf_counter() - self.t0
        except BaseException:
            self.stop(now=True)
            raise

    def _wait_ready(self) -> None:
        """kernel_info until its reply arrives and its idle status shows on
        iopub (so no output of the next cell can be lost). Unlike the
        client's wait_for_ready this has no fixed 0.2 s iopub flush, which
        would be the same dead time for every kernel."""
        deadline = self.t0 + WAIT
        while time.perf_counter() < deadline:
            mid = self.kc.kernel_info()
            try:
                while True:
                    m = self.kc.get_shell_msg(timeout=1)
                    if m["parent_header"].get("msg_id") == mid:
                        break
                # Not seen within 20 ms: iopub's subscription is not through
                # yet (the slow joiner), so ask again.
                end = time.perf_counter() + 0.02
                while time.perf_counter() < end:
                    m = self.kc.get_iopub_msg(timeout=max(0.001, end - time.perf_counter()))
                    if (m["parent_header"].get("msg_id") == mid and m["msg_type"] == "status"
                            and m["content"]["execution_state"] == "idle"):
                        return
            except queue.Empty:
                pass
            if not self.km.is_alive():
                raise RuntimeError("the kernel exited while starting")
        raise TimeoutError(f"kernel not ready within {WAIT:.0f}s")

    def run(self, code: str, timeout: float = WAIT) -> tuple[float, str, str]:
        """Execute code; returns (seconds to reply and idle, status, output text)."""
        try:
            return self._run(code, timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply and idle within {timeout:.0f}s for {code[:50]!r}") from None

    def _run(self, code: str, timeout: float) -> tuple[float, str, str]:
        t = time.perf_counter()
        deadline = t + timeout
        mid = self.kc.execute(code)
        status, out = None, []
        while status is None:  # the reply ...
            m = self.kc.get_shell_msg(timeout=max(0.001, deadline - time.perf_counter()))
            if m["parent_header"].get("msg_id") == mid:
                status = m["content"]["status"]
        self.last_reply_s = time.perf_counter() - t
        while True:  # ... and the outputs up to idle (queued meanwhile)
            m = self.kc.get_iopub_msg(timeout=max(0.001, deadline - time.perf_counter()))
            if m["parent_header"].get("msg_id") != mid:
                continue
            kind, c = m["msg_type"], m["content"]
            if kind == "stream":
                out.append(c["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(c["data"].get("text/plain", ""))
            elif kind == "error":
                out.append("\n".join(c.get("traceback", [])) or f"{c['ename']}: {c['evalue']}")
            elif kind == "status" and c["execution_state"] == "idle":
                break
        return time.perf_counter() - t, status, "".join(out)

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, now: bool = False) -> None:
        """Shut the kernel down (now: kill it, for a kernel that hangs)."""
        with contextlib.suppress(Exception):
            if self.kc is not None:
                self.kc.stop_channels()
        try:
            self.km.shutdown_kernel(now=now)  # shutdown_request, then kill after the grace period
        except Exception:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
        with contextlib.suppress(Exception):
            self.km.cleanup_resources()


def clean(text: str) -> str:
    """Output without ANSI colours and \r, for the checks and the findings."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r", "")


def why(text: str) -> str:
    """The error line of a traceback in text, else the text shortened."""
    errs = [ln.strip() for ln in clean(text).splitlines()
            if re.match(r"\s*\w*(Error|Exception)\b.*:", ln)]
    return errs[-1] if errs else short(text)


def explain(text: str) -> str:
    """Why a peer's upload needs what the board lacks (read from their source)."""
    if "attribute 'mkdir'" in text:
        return (" (iot_device's fput first runs makedirs(dirname(dst)) on the board, which calls "
                "os.mkdir; this board's os has none)")
    if "attribute 'stat'" in text:
        return " (mpremote's cp calls os.stat on the destination first; this board's os has none)"
    return ""


def short(text: str, n: int = 160) -> str:
    lines = [ln.strip() for ln in clean(text).splitlines() if ln.strip()]
    s = " | ".join(lines)
    return s if len(s) <= n else s[: n - 3] + "..."


# ---- one kernel's turn on the board ---------------------------------------------

def kernel_turn(kind: str, name: str, spec: str, connect_cell: str, cp_cell: str, env: dict | None,
                args, logdir: pathlib.Path, findings: list[str], side_path: str | None = None) -> dict:
    """First result over S starts; then, in the last kernel started, N warm
    cells, R uploads, peak RSS and N empty cells; with side_path, also the
    side-by-side rounds of side_by_side. Returns the measurements in ms and
    MB (a missing key: not measured, see findings)."""
    res: dict = {}
    firsts, readies = [], []
    tag = f"{kind}: {name}"
    with open(logdir / f"{name}.log", "a") as log:
        k = None
        try:
            for _ in range(args.starts):
                if k is not None:
                    k.stop()
                    k = None
                k = Kernel(spec, env, log)
                readies.append(k.ready_s)
                _, status, out = k.run(connect_cell)
                took = time.perf_counter() - k.t0
                if status != "ok" or "1" not in clean(out).split():
                    findings.append(f"{tag}: the first cell gave status={status}: {why(out)}")
                    return res
                firsts.append(took)
            res["ready_ms"] = median_ms(readies)
            res["first_result_ms"] = median_ms(firsts)
            if side_path:
                res.update(side_by_side(k, side_path, args.side, f"{tag}: side by side", findings))
            ts = []
            for _ in range(args.n):
                dt, status, out = k.run("print(1)")
                if status != "ok" or clean(out).strip() != "1":
                    findings.append(f"{tag}: cell 'print(1)' gave status={status}: {why(out)}")
                    break
                ts.append(dt)
            else:
                res["rt_ms"] = median_ms(ts)
            ts = []
            for _ in range(args.reps):
                dt, status, out = k.run(cp_cell, timeout=CP_WAIT)
                if status != "ok" or "rror" in out or "Traceback" in out:
                    findings.append(f"{tag}: `%cp` to the board fails: {why(out)}{explain(out)}")
                    break
                ts.append(dt)
            else:
                res["cp_ms"] = median_ms(ts)
            res["rss_peak_mb"] = k.peak_rss_mb()
            # Last, as it may leave the kernel stuck: an empty cell, the
            # kernel's own overhead when there is nothing to send.
            ts = []
            for _ in range(args.n):
                try:
                    dt, status, out = k.run("", timeout=EMPTY_WAIT)
                except TimeoutError:
                    findings.append(
                        f"{tag}: an empty cell never finishes (given up after {EMPTY_WAIT:.0f}s) and the kernel "
                        f"stays busy until interrupted: it runs the empty program on the board, and Ctrl-D on an "
                        f"empty raw-REPL line is MicroPython's soft reset, so the end marker it waits for "
                        f"(with a 1e9 s timeout) never comes; the board's variables are gone too")
                    k.stop(now=True)
                    k = None
                    break
                if status != "ok":
                    findings.append(f"{tag}: an empty cell gave status={status}: {why(out)}")
                    break
                ts.append(dt)
            else:
                res["empty_ms"] = median_ms(ts)
        except Exception as e:  # noqa: BLE001  (a report: record, go on)
            findings.append(f"{tag}: {type(e).__name__}: {e}")
            traceback.print_exc(file=log)
        finally:
            if k is not None:
                k.stop()
    return res


# ---- a bare raw REPL exchange -----------------------------------------------------

def bare_exchange(s) -> float:
    """print(1) through an open pyserial port whose board waits at the raw
    REPL's prompt: code, Ctrl-D, read to the closing "\x04>"; seconds."""
    t = time.perf_counter()
    s.write(b"print(1)\x04")
    got = b""
    while not (got.count(b"\x04") >= 2 and got.endswith(b"\x04>")):
        chunk = s.read(s.in_waiting or 1)
        if not chunk:
            raise TimeoutError(f"no answer: {got!r}")
        got += chunk
    if b"OK1\r\n\x04\x04>" not in got:
        raise RuntimeError(f"unexpected answer {got!r}")
    return time.perf_counter() - t


def side_by_side(k: Kernel, path: str, rounds: int, tag: str, findings: list[str]) -> dict:
    """The board part of a cell against the bare exchange, measured side by
    side: rounds of an empty cell, a cell that prints a line without the
    board (%loglevel: what one more output message costs the client and
    the kernel), a print(1) cell and a bare raw exchange (pyserial, on a
    second handle to the board the kernel is connected to, which waits at
    the raw prompt between cells). So the bare exchange sees
    the board, the machine and the gap since the board's last exchange as a
    cell's does: back to back, a bare exchange finds the board and the link
    still warm from the last one, which a cell's exchange never does (a
    Jupyter client spends about a millisecond on its messages in between).
    The order is fixed so that neither exchange comes right after the
    other: on the micro:bit's paced line, 9 bytes hold the line for 0.8 ms,
    and the next write waits for that."""
    import serial  # pyserial, mpremote's dependency
    res: dict = {}
    ts: dict[str, list[float]] = {k: [] for k in (
        "empty", "empty_reply", "host", "print", "print_reply", "raw")}
    try:
        with serial.Serial(path, 115200, timeout=WAIT) as s:
            # Terminal settings belong to the device, not to a handle:
            # pyserial's open set VMIN to 0, which the kernel's link had
            # set to 1 (go.bug.st/serial's raw mode). Put it back.
            attrs = termios.tcgetattr(s.fd)
            attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
            termios.tcsetattr(s.fd, termios.TCSANOW, attrs)

            def cell(code: str, want: str, kind: str) -> None:
                dt, status, out = k.run(code)
                if status != "ok" or not re.fullmatch(want, clean(out).strip()):
                    raise RuntimeError(f"cell {code!r} gave status={status}: {why(out)}")
                ts[kind].append(dt)
                if (replies := ts.get(kind + "_reply")) is not None:
                    replies.append(k.last_reply_s)
            steps = [lambda: cell("", "", "empty"),
                     lambda: cell("%loglevel", "Log level: [A-Z]+", "host"),
                     lambda: cell("print(1)", "1", "print"),
                     lambda: ts["raw"].append(bare_exchange(s))]
            for _ in range(10):  # warm up
                for f in steps:
                    f()
            for v in ts.values():
                v.clear()
            for _ in range(rounds):
                for f in steps:
                    f()
    except Exception as e:  # noqa: BLE001  (a report: record, go on)
        findings.append(f"{tag}: {type(e).__name__}: {e}")
        return res
    res["side_empty_ms"] = median_ms(ts["empty"])
    res["side_host_print_ms"] = median_ms(ts["host"])
    res["side_rt_ms"] = median_ms(ts["print"])
    res["side_raw_ms"] = median_ms(ts["raw"])
    res["side_reply_empty_ms"] = median_ms(ts["empty_reply"])
    res["side_reply_rt_ms"] = median_ms(ts["print_reply"])
    # After the reply, the client reads the cell's IOPub messages up to idle:
    # print(1)'s has one more (its stream) than the empty cell's.
    res["side_stream_read_ms"] = (median_ms([a - b for a, b in zip(ts["print"], ts["print_reply"])])
                                  - median_ms([a - b for a, b in zip(ts["empty"], ts["empty_reply"])]))
    return res


def raw_turn(kind: str, path: str, args, findings: list[str]) -> dict:
    """print(1) through the simplest raw REPL client: code, Ctrl-D, read to
    the closing "\x04>". The micro:bit gets the kernel's pacing (32 bytes,
    then 2 ms), which a 9-byte exchange never reaches."""
    import serial  # pyserial, mpremote's dependency
    res: dict = {}
    try:
        with serial.Serial(path, 115200, timeout=WAIT) as s:
            s.write(b"\r\x03\x03")
            time.sleep(0.2)  # let the board settle before draining
            s.reset_input_buffer()
            s.write(b"\r\x01")
            buf = b""
            deadline = time.perf_counter() + WAIT
            while not buf.endswith(b"raw REPL; CTRL-B to exit\r\n>"):
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"no raw REPL prompt: {buf[-80:]!r}")
                buf += s.read(s.in_waiting or 1)

            for _ in range(20):
                bare_exchange(s)
            res["raw_ms"] = median_ms([bare_exchange(s) for _ in range(args.n)])
            s.write(b"\x02")  # back to the friendly REPL for the next tool
    except Exception as e:  # noqa: BLE001  (a report: record, go on)
        findings.append(f"{kind}: bare raw exchange: {type(e).__name__}: {e}")
    return res


# ---- mpremote -------------------------------------------------------------------

def mpremote(path: str, *cmd: str, timeout: float = WAIT) -> tuple[float, subprocess.CompletedProcess]:
    argv = [str(pathlib.Path(sys.executable).parent / "mpremote"), "connect", path, *cmd]
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=ROOT)
    return time.perf_counter() - t, r


def mpremote_turn(kind: str, path: str, upload: pathlib.Path, args, findings: list[str]) -> dict:
    res: dict = {}
    tag = f"{kind}: {MPREMOTE}"
    try:
        colds = []
        for _ in range(args.colds):
            dt, r = mpremote(path, "exec", "print(1)")
            if r.returncode != 0 or r.stdout.strip() != b"1":
                findings.append(f"{tag} exec: rc={r.returncode}: {why(r.stderr.decode(errors='replace'))}")
                return res
            colds.append(dt)
        res["cold_exec_ms"] = median_ms(colds)
        # K chained execs in one process minus one exec, over K: per-exec cost
        # with process start and connection set-up excluded.
        chain = []
        for _ in range(3):
            dt1, _ = mpremote(path, "exec", "print(1)")
            dtk, r = mpremote(path, *(["exec", "print(1)"] * (args.k + 1)))
            if r.returncode != 0 or r.stdout.split() != [b"1"] * (args.k + 1):
                findings.append(f"{tag} chained exec: rc={r.returncode}: {why(r.stderr.decode(errors='replace'))}")
                break
            chain.append((dtk - dt1) / args.k)
        else:
            res["exec_ms"] = median_ms(chain)
        bases, cps = [], []
        for _ in range(args.reps):
            base, _ = mpremote(path, "exec", "pass")
            dt, r = mpremote(path, "cp", "-f", str(upload), ":up_mp.txt", timeout=CP_WAIT)
            if r.returncode != 0:
                findings.append(f"{tag}: `cp` to the board fails: {why(r.stderr.decode(errors='replace'))}"
                                f"{explain(r.stderr.decode(errors='replace'))}")
                break
            bases.append(base)
            cps.append(dt)
        else:
            res["cp_ms"] = median_ms(cps) - median_ms(bases)
            res["cp_wall_ms"] = median_ms(cps)
    except subprocess.TimeoutExpired as e:
        findings.append(f"{tag}: timed out: {e}")
    return res


def board_file_size(path: str, name: str) -> int | None:
    """Size of a file on the board (None: missing), asked through mpremote."""
    code = (f"import os\ntry:\n print(os.size({name!r}) if hasattr(os,'size') else os.stat({name!r})[6])\n"
            f" os.remove({name!r})\nexcept OSError:\n print(-1)")
    _, r = mpremote(path, "exec", code)
    try:
        n = int(r.stdout.split()[-1])
    except (ValueError, IndexError):
        return None
    return None if n < 0 else n


def needs_machine_shim(path: str) -> bool:
    """Whether the board lacks what iot-kernel 0.5.28 needs to register it."""
    _, r = mpremote(path, "exec", "try:\n import machine\n machine.unique_id()\n print('yes')\nexcept:\n print('no')")
    return r.stdout.strip() != b"yes"


def set_machine_shim(path: str, on: bool) -> None:
    """Put (or remove) a machine.py that only has unique_id() on the board."""
    if on:
        content = 'def unique_id():\n    return b"shim00"\n'
        code = f"f=open('machine.py','w')\nf.write({content!r})\nf.close()"
    else:
        code = "import os, sys\nos.remove('machine.py')\nsys.modules.pop('machine', None)"
    mpremote(path, "exec", code)


# ---- the run --------------------------------------------------------------------

def make_upload(path: pathlib.Path, size: int) -> None:
    """A Python-like text file of exactly size bytes (what %cp usually carries)."""
    lines, n, i = [], 0, 0
    while n < size:
        line = f"value_{i:05d} = {i * 7919 % 100003:>6}  # some comment text for line {i}\n"
        lines.append(line)
        n += len(line)
        i += 1
    path.write_bytes("".join(lines).encode()[:size])


def write_peer_spec(data_dir: pathlib.Path) -> None:
    """Kernelspec exactly as `python -m iot_kernel.install` writes it."""
    d = data_dir / "kernels" / "iot_kernel"
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "iot_kernel", "-f", "{connection_file}"],
        "display_name": "IoT", "language": "python"}, indent=2))


def bench_board(kind: str, args, tmp: pathlib.Path, results: dict, findings: list[str]) -> None:
    size = SIZES[kind]
    label = f"{size // 1024}k"
    upload = tmp / f"upload_{kind}.txt"
    make_upload(upload, size)
    pace = args.pace if kind == "microbit" else 0
    print(f"\n== {kind} board (pace {pace or 'none'}), upload {size} B ==", flush=True)
    with harness.testboard(args.testboard, kind, timeout=WAIT, pace=pace) as tb:
        with harness.jupyter_env(args.kernel, {"board": {"url": tb.path}}) as full_env:
            data_dir = pathlib.Path(full_env["JUPYTER_DATA_DIR"])
            write_peer_spec(data_dir)

            t = time.perf_counter()
            ours = kernel_turn(
                kind, "iot-kernel", "iot-micropython", "%connect -q board\nprint(1)",
                f"%cp {upload} :up_iot.txt", None, args, tmp, findings, side_path=tb.path)
            n = board_file_size(tb.path, "up_iot.txt")
            if "cp_ms" in ours and n != size:
                findings.append(f"{kind}: our %cp left {n} bytes on the board, want {size}")
            print(f"  iot-kernel done in {time.perf_counter() - t:.1f}s: {fmt(ours)}", flush=True)
            raw = raw_turn(kind, tb.path, args, findings)
            print(f"  bare raw exchange: {fmt(raw)}", flush=True)

            # The peer writes ~/.iot49_connect_rc and reads $IOT_PROJECTS:
            # keep both in the temporary dir. No secrets.py, so its UDP
            # broadcast listener thread ends at once instead of binding port
            # 50000 on every interface.
            peer_home = tmp / f"peer-home-{kind}"
            peer_home.mkdir()
            # IOT_DEVICES means a folder of yaml files to the peer, and our
            # devices file to us.
            penv = dict(os.environ, HOME=str(peer_home), IOT_PROJECTS=str(peer_home / "projects"),
                        IOT_DEVICES=str(peer_home / "projects" / "devices"),
                        IPYTHONDIR=str(peer_home / ".ipython"))
            peer_name = PEER_KERNEL
            shim = needs_machine_shim(tb.path)
            if shim:
                findings.append(
                    f"{kind}: {PEER_KERNEL} cannot connect to this board as it is: registering a device runs "
                    f"`import machine; machine.unique_id()` or else CircuitPython's `import microcontroller`, "
                    f"and this port has neither (ImportError: no module named 'microcontroller'). "
                    f"Measured with a 2-line machine.py (unique_id only) put on the board for its turn")
                peer_name += "+machine.py"
                set_machine_shim(tb.path, True)
            t = time.perf_counter()
            peer = kernel_turn(
                kind, peer_name, "iot_kernel", f"%%connect -q serial://{tb.path}\nprint(1)",
                f"%cp {upload} :/up_ik.txt", penv, args, tmp, findings)
            n = board_file_size(tb.path, "up_ik.txt")
            if "cp_ms" in peer and n != size:
                findings.append(f"{kind}: {PEER_KERNEL} %cp left {n} bytes on the board, want {size}")
                peer.pop("cp_ms")
            print(f"  {peer_name} done in {time.perf_counter() - t:.1f}s: {fmt(peer)}", flush=True)
            if shim:
                set_machine_shim(tb.path, False)
            else:  # without the shim the peer cannot connect here at all
                peer_connect_finding(kind, tb.path, penv, tmp, findings)

            t = time.perf_counter()
            mp = mpremote_turn(kind, tb.path, upload, args, findings)
            n = board_file_size(tb.path, "up_mp.txt")
            if "cp_ms" in mp and n != size:
                findings.append(f"{kind}: mpremote cp left {n} bytes on the board, want {size}")
                mp.pop("cp_ms")
            print(f"  {MPREMOTE} done in {time.perf_counter() - t:.1f}s: {fmt(mp)}", flush=True)

    rows = results.setdefault(kind, [])
    rows.append(("rt_ms", ours.get("rt_ms"), peer.get("rt_ms"), peer_name))
    rows.append(("empty_ms", ours.get("empty_ms"), peer.get("empty_ms"), peer_name))
    rows.append(("ready_ms", ours.get("ready_ms"), peer.get("ready_ms"), peer_name))
    rows.append(("first_result_ms", ours.get("first_result_ms"), peer.get("first_result_ms"), peer_name))
    rows.append(("exec_ms", ours.get("rt_ms"), mp.get("exec_ms"), MPREMOTE))
    rows.append(("cold_exec_ms", ours.get("first_result_ms"), mp.get("cold_exec_ms"), MPREMOTE))
    rows.append((f"cp_{label}_ms", ours.get("cp_ms"), mp.get("cp_ms"), MPREMOTE))
    rows.append((f"kcp_{label}_ms", ours.get("cp_ms"), peer.get("cp_ms"), peer_name))
    rows.append(("rss_peak_mb", ours.get("rss_peak_mb"), peer.get("rss_peak_mb"), peer_name))
    # The board part of a print(1) cell against the bare exchange, side by
    # side: <= 1.3. Also against the bare exchange back to back (raw_ms),
    # which no cell can have (see side_by_side).
    side = ours.get("side_rt_ms") is not None and ours.get("side_empty_ms") is not None
    board_part = ours["side_rt_ms"] - ours["side_empty_ms"] if side else None
    rows.append(("side_rt_ms", ours.get("side_rt_ms"), None, "print(1) cell, side by side"))
    rows.append(("side_empty_ms", ours.get("side_empty_ms"), None, "empty cell, side by side"))
    rows.append(("side_host_print_ms", ours.get("side_host_print_ms"), None,
                 "%loglevel: a line printed without the board, side by side"))
    rows.append(("side_raw_ms", ours.get("side_raw_ms"), None, "bare raw exchange, side by side"))
    rows.append(("raw_ms", raw.get("raw_ms"), None, "bare raw exchange, back to back"))
    rows.append(("cell_over_raw", board_part, ours.get("side_raw_ms"),
                 "bare raw exchange side by side (target ratio <= 1.3)"))
    rows.append(("cell_over_raw_b2b", board_part, raw.get("raw_ms"), "bare raw exchange back to back"))
    # cell_over_raw split where the client has the reply: before it, the
    # kernel and the board; after it, the client reading the stream message.
    reply = ours.get("side_reply_rt_ms") is not None and ours.get("side_reply_empty_ms") is not None
    rows.append(("reply_over_raw", ours["side_reply_rt_ms"] - ours["side_reply_empty_ms"] if reply else None,
                 ours.get("side_raw_ms"), "bare raw exchange side by side: to the reply"))
    rows.append(("side_stream_read_ms", ours.get("side_stream_read_ms"), None,
                 "the client reading print(1)'s stream message, after the reply"))


def peer_connect_finding(kind: str, path: str, penv: dict, tmp: pathlib.Path, findings: list[str]) -> None:
    """How the peer's documented `%connect URL` behaves outside a notebook
    server (jupyter_client, nbclient, papermill): recorded, not benchmarked."""
    log = open(tmp / f"{PEER_KERNEL}.log", "a")
    k = None
    try:
        k = Kernel("iot_kernel", penv, log)
        dt, status, out = k.run(f"%connect serial://{path}")
        c = clean(out)
        if "Connected to" in c and ("Error" in c or "*****" in c):
            err = next((ln for ln in c.splitlines() if "Error" in ln), "an error")
            findings.append(
                f"{kind}: {PEER_KERNEL}'s `%connect serial://PATH` connects but then fails with "
                f"'{err.strip()}' (it stores the device per notebook, and ipynbname cannot tell the notebook's "
                f"path when no Jupyter server started the kernel), then sleeps 0.5 s: the cell takes "
                f"{dt * 1000:.0f} ms; the benchmark uses its `%%connect -q URL` cell magic instead")
    except Exception as e:  # noqa: BLE001
        findings.append(f"{kind}: {PEER_KERNEL} %connect check: {type(e).__name__}: {e}")
    finally:
        if k is not None:
            k.stop()
        log.close()


def fmt(d: dict) -> str:
    return ", ".join(f"{k}={v:.1f}" for k, v in d.items()) or "nothing measured"


def report(results: dict, findings: list[str]) -> None:
    print(f"\n{'board':<9} {'metric':<16} {'iot-kernel':>11} {'peer':>11} {'ratio':>7}  peer")
    lines = []
    for kind, rows in results.items():
        for metric, a, b, peer in rows:
            av = "NA" if a is None else f"{a:.3f}"
            bv = "NA" if b is None else f"{b:.3f}"
            ratio = f"{a / b:.3f}" if a is not None and b else "NA"
            print(f"{kind:<9} {metric:<16} {av:>11} {bv:>11} {ratio:>7}  {peer}")
            lines.append(f"BENCH peers.{kind}.{metric} iot={av} peer={bv} peer_name={peer} ratio={ratio}")
    print("\n(ratio = iot-kernel / peer: below 1 means iot-kernel is faster or smaller)")
    if findings:
        print("\nfindings (what a peer, or we, could not do):")
        for f in findings:
            print(f"  - {f}")
    print()
    for line in lines:
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.environ.get("IOT_KERNEL_BIN", str(ROOT / "bin/iot-kernel")))
    ap.add_argument("--testboard", default=os.environ.get("IOT_TESTBOARD_BIN", str(ROOT / "bin/testboard")))
    ap.add_argument("--kinds", default="microbit,wasm")
    ap.add_argument("--pace", type=int, default=115200, help="micro:bit host-to-board baud (0: unpaced)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    args.kernel = str(pathlib.Path(args.kernel).resolve())
    args.testboard = str(pathlib.Path(args.testboard).resolve())
    q = args.quick
    args.n = 10 if q else 50        # warm cells
    args.starts = 1 if q else 3     # kernel starts
    args.colds = 3 if q else 10     # mpremote cold execs
    args.k = 10 if q else 50        # chained execs
    args.reps = 1 if q else 3       # uploads
    args.side = 30 if q else 200    # side-by-side rounds

    print(f"peers: {PEER_KERNEL} (iot_kernel {version_of('iot-kernel')}, iot_device {version_of('iot-device')}, "
          f"ipykernel {version_of('ipykernel')}), mpremote {version_of('mpremote')}; "
          f"client: jupyter_client {version_of('jupyter_client')}")
    results: dict = {}
    findings: list[str] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
            try:
                bench_board(kind, args, tmp, results, findings)
            except Exception as e:  # noqa: BLE001
                findings.append(f"{kind}: board run failed: {type(e).__name__}: {e}")
                traceback.print_exc()
        if os.environ.get("PEERS_BENCH_KEEP_LOGS"):
            shutil.copytree(tmp, os.environ["PEERS_BENCH_KEEP_LOGS"], dirs_exist_ok=True)
    report(results, findings)
    print(f"\ntotal {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
