#!/usr/bin/env python3
"""Side-by-side benchmark of iot-kernel and ipykernel, measured in the same
run on the same machine with the same client code.

Both kernels are installed as kernel specs in a temporary Jupyter dir and
started from their kernel.json argv, as Jupyter would start them. The client
is raw pyzmq plus jupyter_client's Session (signing), so client overhead is
small and the same for both.

Metrics (one `BENCH kernel.<metric> ...` line each):
  start_ms           process start -> first kernel_info_reply, median of N starts
  exec_rt_ms         empty cell: execute_request -> execute_reply and idle, median
  idle_cpu_ms        CPU time (all threads, schedstat) used while idle for --idle seconds
  rss_idle_mb        resident memory when idle after start
  rss_after_mb       resident memory after --execs executes (iopub read meanwhile)
  rss_growth_mb      rss_after - rss_idle
  threads_idle       OS threads when idle
  threads_after      OS threads after --execs executes

Usage: IOT_KERNEL_BIN=bin/iot-kernel python bench/kernel_bench.py [--quick]
Runs in about a minute (ipykernel's starts dominate).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import zmq
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
        # Queue the first request before the process exists: the timer then
        # covers exec, runtime start-up, binding and the first reply.
        msg = self.session.send(self.shell, "kernel_info_request", {})
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.recv_reply(msg["header"]["msg_id"])
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
            try:
                os.unlink(self.conn_file)
            except OSError:
                pass


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
        r["_kernel"] = k
    except BaseException:
        k.stop()
        raise
    return r


def after_idle(results: dict, idle_s: float) -> None:
    """Measure idle CPU of all kernels at once (they idle side by side)."""
    ks = {n: r["_kernel"] for n, r in results.items()}
    for n, k in ks.items():
        results[n]["rss_idle_mb"] = k.rss_mb()
        results[n]["threads_idle"] = k.status("Threads")
    c0 = {n: k.cpu_s() for n, k in ks.items()}
    time.sleep(idle_s)  # the quantity measured is what happens while nothing does
    for n, k in ks.items():
        results[n]["idle_cpu_ms"] = (k.cpu_s() - c0[n]) * 1000


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
        after_idle(results, args.idle)
        for name, r in results.items():
            k = r["_kernel"]
            many_executes(k, args.execs)
            r["rss_after_mb"] = k.rss_mb()
            r["rss_growth_mb"] = r["rss_after_mb"] - r["rss_idle_mb"]
            r["threads_after"] = k.status("Threads")
    finally:
        for r in results.values():
            k = r.pop("_kernel", None)
            if k is not None:
                k.stop()
        ctx.term()
        shutil.rmtree(tmp, ignore_errors=True)

    iot, ipy = results["iot"], results["ipykernel"]
    # (metric, unit, target on iot-kernel's value, description)
    rows = [
        ("start_ms", "ms", 30.0, f"process start to first kernel_info_reply, median of {args.starts}"),
        ("exec_rt_ms", "ms", 1.0, f"empty cell round trip, median of {args.roundtrips}"),
        ("idle_cpu_ms", "ms", 10.0 * args.idle / 10.0, f"CPU used in {args.idle:g} s idle"),
        ("rss_idle_mb", "MB", 20.0, "RSS when idle"),
        ("rss_after_mb", "MB", 25.0, f"RSS after {args.execs} executes"),
        ("rss_growth_mb", "MB", 5.0, f"RSS growth over {args.execs} executes"),
        ("threads_idle", "", 12, "OS threads when idle"),
        ("threads_after", "", 12, f"OS threads after {args.execs} executes"),
    ]
    print(f"\n{'metric':<15} {'iot-kernel':>11} {'ipykernel':>11} {'ratio':>8} {'target':>8}  what")
    lines = []
    missed = 0
    for key, unit, target, what in rows:
        a, b = iot[key], ipy[key]
        ratio = f"{a / b:.3f}" if b else "n/a"  # n/a: ipykernel measured 0
        ok = a <= target
        missed += not ok
        print(f"{key:<15} {a:>9.2f}{unit:>2} {b:>9.2f}{unit:>2} {ratio:>8} {target:>6g}{unit:<2}  {what}")
        lines.append(f"BENCH kernel.{key} iot={a:.3f} ipykernel={b:.3f} ratio={ratio} "
                     f"target<={target:g} {'PASS' if ok else 'MISS'}")
    print()
    print("\n".join(lines))
    print(f"(bench took {time.monotonic() - t_begin:.0f} s)")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
