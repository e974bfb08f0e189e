#!/usr/bin/env python3
"""Side-by-side benchmark of iot-kernel and ipykernel, measured in the same
run on the same machine with the same client code.

Both kernels are installed as kernel specs in a temporary Jupyter dir and
started from their kernel.json argv, as Jupyter would start them. Two
clients: raw pyzmq plus jupyter_client's Session (signing), whose overhead is
small and the same for both, and jupyter_client's BlockingKernelClient, as a
front end talks to a kernel.

Metrics (one `BENCH kernel.<metric> ...` line each; targets are the issue's):
  start_ms           process start -> first kernel_info_reply, median of N starts   <= 30 ms
  exec_rt_ms         empty cell: execute_request -> execute_reply and idle,
                     raw pyzmq + Session, median                          <= ipykernel's
  exec_rt_jc_ms      the same through jupyter_client.BlockingKernelClient <= ipykernel's
  idle_cpu_ms        CPU time (all threads, schedstat) used while idle for --idle
                     seconds, --settle seconds after the last request      <= 10 ms per 10 s
  rss_idle_mb        resident memory at the end of the idle period          <= 10 MB
  rss_after_mb       resident memory right after --execs executes (iopub read
                     meanwhile)                                             <= 20 MB
  rss_growth_mb      rss_after - rss_idle, info
  settle_cpu_ms      CPU used in the --settle seconds after the executes, info
                     (iot-kernel collects garbage and returns free memory to
                     the system once, 1 s after its last request)
  rss_settled_mb     resident memory at the end of those seconds, info
  goroutines_idle    iot-kernel's goroutines before the executes, info
  goroutines_after   iot-kernel's goroutines after them        <= goroutines_idle + 2
  threads_idle, threads_after   OS threads, info
  rss_big_message_mb iot-kernel only: RSS after a signed 64 MiB execute_request
                     (over its message limit: dropped) and one more cell  <= 20 MB

iot-kernel's goroutine count comes from its `runtime stats` log line, which
it writes to stderr on SIGUSR1 (`iot-kernel help run`); the bench captures
each kernel's stderr in a file.

Usage: IOT_KERNEL_BIN=bin/iot-kernel python bench/kernel_bench.py [--quick]
Runs in about a minute (ipykernel's starts dominate).
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.session import Session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
WAIT = 60.0  # bound on any single wait, seconds


class Kernel:
    """One running kernel with a raw shell (DEALER) and iopub (SUB) client."""

    def __init__(self, argv_template: list[str], env: dict, workdir: str, ctx: zmq.Context):
        key = os.urandom(16).hex().encode()
        self.conn_file, info = write_connection_file(
            os.path.join(workdir, f"conn-{os.urandom(4).hex()}.json"), ip="127.0.0.1", key=key)
        self.session = Session(key=key, signature_scheme="hmac-sha256")
        self.shell = ctx.socket(zmq.DEALER)
        self.iopub = ctx.socket(zmq.SUB)
        self.control = ctx.socket(zmq.DEALER)
        for s in (self.shell, self.iopub, self.control):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RECONNECT_IVL, 1)  # ms: notice the kernel's bind at once
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.shell.connect(f"tcp://127.0.0.1:{info['shell_port']}")
        self.iopub.connect(f"tcp://127.0.0.1:{info['iopub_port']}")
        self.control.connect(f"tcp://127.0.0.1:{info['control_port']}")
        argv = [a.replace("{connection_file}", self.conn_file) for a in argv_template]
        self.stderr_path = self.conn_file + ".stderr"
        stderr = open(self.stderr_path, "wb")
        # Queue the first request before the process exists: the timer then
        # covers exec, runtime start-up, binding and the first reply.
        msg = self.session.send(self.shell, "kernel_info_request", {})
        self.t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr)
        finally:
            stderr.close()  # the child has its own copy
        try:
            self.recv_reply(msg["header"]["msg_id"])
        except BaseException:
            self.stop()  # a kernel that never answered is not left running
            raise
        self.start_s = time.perf_counter() - self.t0
        self.pid = self.proc.pid

    def recv(self, sock, timeout=WAIT) -> dict:
        if not sock.poll(int(timeout * 1000)):
            raise TimeoutError("no message from the kernel within %.0f s" % timeout)
        _, msg = self.session.recv(sock, mode=zmq.NOBLOCK)
        return msg

    def recv_reply(self, msg_id: str) -> dict:
        while True:
            m = self.recv(self.shell)
            if m["parent_header"].get("msg_id") == msg_id:
                return m

    def wait_idle(self, msg_id: str) -> None:
        while True:
            m = self.recv(self.iopub)
            if (m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                    and m["parent_header"].get("msg_id") == msg_id):
                return

    def execute(self, code: str = "") -> str:
        msg = self.session.send(self.shell, "execute_request", {
            "code": code, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
        return msg["header"]["msg_id"]

    def run(self, code: str = "") -> dict:
        mid = self.execute(code)
        reply = self.recv_reply(mid)
        self.wait_idle(mid)
        return reply

    def sync_iopub(self) -> None:
        """Wait until the iopub subscription is live (slow joiner)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            mid = self.execute("")
            self.recv_reply(mid)
            while self.iopub.poll(200):
                _, m = self.session.recv(self.iopub, mode=zmq.NOBLOCK)
                if (m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                        and m["parent_header"].get("msg_id") == mid):
                    return
        raise TimeoutError("iopub never delivered")

    def cpu_s(self) -> float:
        """CPU time of all the process's threads, in ns resolution from
        schedstat where the kernel has it, else utime+stime in clock ticks."""
        total, ok = 0, True
        try:
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            ok = False
        if ok:
            return total / 1e9
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def status(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def rss_mb(self) -> float:
        return self.status("VmRSS") / 1024

    def runtime_stats(self, timeout: float = 10.0) -> dict[str, int]:
        """iot-kernel only: send SIGUSR1 and parse the `runtime stats` line
        it then logs to stderr (key=integer fields)."""
        def stat_lines() -> list[str]:
            with open(self.stderr_path, errors="replace") as f:
                return [l for l in f if 'msg="runtime stats"' in l]
        seen = len(stat_lines())
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = stat_lines()
            if len(lines) > seen:
                return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)(?=\s|$)", lines[-1])}
            time.sleep(0.01)  # polling a file the kernel appends to
        raise TimeoutError(f"no runtime stats line on stderr within {timeout:.0f} s ({self.stderr_path})")

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.session.send(self.control, "shutdown_request", {"restart": False})
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=WAIT)
        finally:
            for s in (self.shell, self.iopub, self.control):
                s.close(0)
            for path in (self.conn_file, self.stderr_path):
                try:
                    os.unlink(path)
                except OSError:
                    pass


def jc_run(kc: BlockingKernelClient, timeout: float = WAIT) -> dict:
    """One empty cell through jupyter_client: reply, then idle on iopub."""
    mid = kc.execute("")
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == mid:
            break
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if (m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == mid):
            return reply


def jc_roundtrips(k: Kernel, n: int) -> float:
    """Median empty-cell round trip, in seconds, of a BlockingKernelClient."""
    kc = BlockingKernelClient(connection_file=k.conn_file)
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while True:  # until the iopub subscription is live (slow joiner)
            try:
                jc_run(kc, timeout=0.5)
                break
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError("iopub never delivered to jupyter_client")
        for _ in range(20):  # warm-up
            jc_run(kc)
        rts = []
        for _ in range(n):
            t = time.perf_counter()
            jc_run(kc)
            rts.append(time.perf_counter() - t)
        return statistics.median(rts)
    finally:
        kc.stop_channels()


def install_specs(tmp: str, iot_bin: str) -> dict[str, tuple[list[str], dict]]:
    """Install both specs under tmp and return {name: (argv, env)}."""
    share = os.path.join(tmp, "share", "jupyter")
    subprocess.run([iot_bin, "install", "--prefix", tmp, "--name", "iot"], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    ipy = os.path.join(share, "kernels", "ipykernel")
    os.makedirs(ipy)
    with open(os.path.join(ipy, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "Python 3 (ipykernel)", "language": "python"}, f)
    env = dict(os.environ)
    env.update(JUPYTER_PATH=share, JUPYTER_DATA_DIR=os.path.join(tmp, "data"),
               JUPYTER_RUNTIME_DIR=os.path.join(tmp, "runtime"),
               JUPYTER_CONFIG_DIR=os.path.join(tmp, "config"), IPYTHONDIR=os.path.join(tmp, "ipython"))
    env.pop("JPY_PARENT_PID", None)
    os.environ.update({k: env[k] for k in ("JUPYTER_PATH", "JUPYTER_DATA_DIR")})
    ksm = KernelSpecManager()
    out = {}
    for name in ("iot", "ipykernel"):
        spec = ksm.get_kernel_spec(name)
        out[name] = (spec.argv, dict(env, **(spec.env or {})))
    return out


def measure(name, argv, env, tmp, ctx, args) -> dict:
    r: dict[str, float] = {}
    starts = []
    for _ in range(args.starts):
        k = Kernel(argv, env, tmp, ctx)
        starts.append(k.start_s)
        k.stop()
    r["start_ms"] = statistics.median(starts) * 1000

    k = Kernel(argv, env, tmp, ctx)
    try:
        k.sync_iopub()
        reply = k.run("")
        assert reply["content"]["status"] == "ok", f"{name}: empty cell failed: {reply['content']}"
        for _ in range(20):  # warm-up
            k.run("")
        rts = []
        for _ in range(args.roundtrips):
            t = time.perf_counter()
            k.run("")
            rts.append(time.perf_counter() - t)
        r["exec_rt_ms"] = statistics.median(rts) * 1000
        r["exec_rt_jc_ms"] = jc_roundtrips(k, args.roundtrips) * 1000
        r["_kernel"] = k
    except BaseException:
        k.stop()
        raise
    return r


def after_idle(results: dict, settle_s: float, idle_s: float) -> None:
    """Measure idle CPU of all kernels at once (they idle side by side),
    from settle_s after the last request, for idle_s; RSS is taken at the
    end of it."""
    ks = {n: r["_kernel"] for n, r in results.items()}
    time.sleep(settle_s)  # the quantity measured is what happens while nothing does
    c0 = {n: k.cpu_s() for n, k in ks.items()}
    time.sleep(idle_s)
    for n, k in ks.items():
        results[n]["idle_cpu_ms"] = (k.cpu_s() - c0[n]) * 1000
        results[n]["rss_idle_mb"] = k.rss_mb()
        results[n]["threads_idle"] = k.status("Threads")


def many_executes(k: Kernel, n: int, window: int = 50) -> None:
    """n empty executes, up to `window` in flight; wait for every reply."""
    pending: list[str] = []
    sent = 0
    while sent < n or pending:
        while sent < n and len(pending) < window:
            pending.append(k.execute(""))
            sent += 1
        m = k.recv(k.shell)
        mid = m["parent_header"].get("msg_id")
        if mid in pending:
            pending.remove(mid)
        # Read iopub as a front end does, so no queue builds up for us.
        while k.iopub.poll(0):
            k.iopub.recv_multipart(zmq.NOBLOCK)
    # drain iopub so the kernel's queue for us is empty when we measure
    while k.iopub.poll(100):
        k.iopub.recv_multipart(zmq.NOBLOCK)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.environ.get("IOT_KERNEL_BIN", os.path.join(ROOT, "bin", "iot-kernel")))
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--roundtrips", type=int, default=200)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds after the last request before idle is measured")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    ap.add_argument("--execs", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke test")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a metric misses its target")
    args = ap.parse_args()
    if args.quick:
        args.starts, args.roundtrips, args.idle, args.execs = 3, 50, 2.0, 1000
    iot_bin = os.path.abspath(args.kernel)

    tmp = tempfile.mkdtemp(prefix="iot-kernel-bench-")
    ctx = zmq.Context()
    results: dict[str, dict] = {}
    t_begin = time.monotonic()
    try:
        specs = install_specs(tmp, iot_bin)
        for name in ("iot", "ipykernel"):
            argv, env = specs[name]
            results[name] = measure(name, argv, env, tmp, ctx, args)
        after_idle(results, args.settle, args.idle)
        for name, r in results.items():
            k = r["_kernel"]
            if name == "iot":
                r["goroutines_idle"] = k.runtime_stats()["goroutines"]
            many_executes(k, args.execs)
            r["rss_after_mb"] = k.rss_mb()
            r["rss_growth_mb"] = r["rss_after_mb"] - r["rss_idle_mb"]
            r["threads_after"] = k.status("Threads")
            if name == "iot":
                r["goroutines_after"] = k.runtime_stats()["goroutines"]
            c0 = k.cpu_s()
            time.sleep(args.settle)  # what a kernel does once a burst of work is over
            r["settle_cpu_ms"] = (k.cpu_s() - c0) * 1000
            r["rss_settled_mb"] = k.rss_mb()
            if name == "iot":
                # Over the kernel's message limit: read past and dropped.
                # The cell after it is answered on the same connection.
                k.execute("x" * (64 << 20))
                k.run("")
                r["rss_big_message_mb"] = k.rss_mb()
    finally:
        for r in results.values():
            k = r.pop("_kernel", None)
            if k is not None:
                k.stop()
        ctx.term()
        shutil.rmtree(tmp, ignore_errors=True)

    iot, ipy = results["iot"], results["ipykernel"]
    # (metric, unit, target kind, target, description). Kinds: "max" bounds
    # iot-kernel's value, "ratio" bounds iot-kernel / ipykernel, "info" has
    # no target. Targets are the issue's.
    rows = [
        ("start_ms", "ms", "max", 30.0, f"process start to first kernel_info_reply, median of {args.starts}"),
        ("exec_rt_ms", "ms", "ratio", 1.0, f"empty cell round trip (pyzmq + Session), median of {args.roundtrips}"),
        ("exec_rt_jc_ms", "ms", "ratio", 1.0, f"empty cell round trip (BlockingKernelClient), median of {args.roundtrips}"),
        ("idle_cpu_ms", "ms", "max", 10.0 * args.idle / 10.0, f"CPU used in {args.idle:g} s idle"),
        ("rss_idle_mb", "MB", "max", 10.0, "RSS at the end of the idle period"),
        ("rss_after_mb", "MB", "max", 20.0, f"RSS right after {args.execs} executes"),
        ("rss_growth_mb", "MB", "info", None, f"RSS growth over {args.execs} executes"),
        ("settle_cpu_ms", "ms", "info", None, f"CPU used in the {args.settle:g} s after the executes"),
        ("rss_settled_mb", "MB", "info", None, f"RSS at the end of those {args.settle:g} s"),
        ("goroutines_idle", "", "info", None, "goroutines before the executes (SIGUSR1 stats)"),
        ("goroutines_after", "", "max", iot["goroutines_idle"] + 2, f"goroutines after {args.execs} executes: no growth"),
        ("threads_idle", "", "info", None, "OS threads when idle"),
        ("threads_after", "", "info", None, f"OS threads after {args.execs} executes"),
        ("rss_big_message_mb", "MB", "max", 20.0, "RSS after a signed 64 MiB message (dropped) and a cell"),
    ]
    print(f"\n{'metric':<17} {'iot-kernel':>11} {'ipykernel':>11} {'ratio':>8} {'target':>10}  what")
    lines = []
    missed = 0
    for key, unit, kind, target, what in rows:
        a, b = iot[key], ipy.get(key)
        ratio = a / b if b else None  # None: ipykernel measured 0 or not at all
        if kind == "max":
            ok = a <= target
            tgt, btgt = f"{target:g}{unit}", f"<={target:g}"
        elif kind == "ratio":
            ok = ratio is not None and ratio <= target
            tgt, btgt = f"x{target:g}", f"ratio<={target:g}"
        else:
            ok, tgt, btgt = True, "-", "none"
        missed += not ok
        verdict = "info" if kind == "info" else ("PASS" if ok else "MISS")
        bs = f"{b:>9.2f}{unit:>2}" if b is not None else f"{'n/a':>11}"
        rs = f"{ratio:.3f}" if ratio is not None else "n/a"
        print(f"{key:<17} {a:>9.2f}{unit:>2} {bs} {rs:>8} {tgt:>10}  {what}")
        lines.append(f"BENCH kernel.{key} iot={a:.3f} ipykernel={'n/a' if b is None else f'{b:.3f}'} "
                     f"ratio={rs} target={btgt} {verdict}")
    print()
    print("\n".join(lines))
    print(f"(bench took {time.monotonic() - t_begin:.0f} s)")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
