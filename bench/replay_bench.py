#!/usr/bin/env python3
"""Replaying notebooks: `iot-kernel replay` against `jupyter nbconvert
--execute` and papermill, on the same virtual board in the same run, start-up
included: wall time and peak memory (the summed RSS of the tool's whole
process tree: the tool, the kernel, the board, a %%host python kernel).

The notebooks are the shipped ones that run through without a person
pressing stop (demo, magics), without their raises-exception cells, which
papermill would stop at: every tool runs exactly the same cells. Each tool
runs them all once per round, in turn, ROUNDS rounds; the median counts.

Metrics, one line each:
  BENCH replay.wall_s iot=.. nbconvert=.. ratio=..
  BENCH replay.wall_s iot=.. papermill=.. ratio=..
  BENCH replay.peak_rss_mb iot=.. nbconvert=.. ratio=..
  BENCH replay.peak_rss_mb iot=.. papermill=.. ratio=..
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import harness  # noqa: E402

NOTEBOOKS = ["demo.ipynb", "magics.ipynb"]


def strip_raising(src: pathlib.Path, dst: pathlib.Path) -> None:
    """A copy of src without its raises-exception cells."""
    nb = json.loads(src.read_text())
    nb["cells"] = [c for c in nb["cells"] if "raises-exception" not in c.get("metadata", {}).get("tags", [])]
    dst.write_text(json.dumps(nb, indent=1) + "\n")


def measure(cmd: list[str], env: dict, cwd: pathlib.Path) -> tuple[float, float]:
    """Run cmd; return its wall time in s and the peak summed RSS of its
    process tree in MB (sampled every 20 ms)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            peak = max(peak, total)
            stop.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        _, err = proc.communicate(timeout=600)
    finally:
        stop.set()
        t.join(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return wall, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default=str(ROOT / "bin" / "iot-kernel"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round")
    opts = ap.parse_args()
    # The tools run in a temporary folder: a relative path would not be found.
    opts.kernel = str(pathlib.Path(opts.kernel).resolve())
    rounds = 1 if opts.quick else opts.rounds
    venv_bin = pathlib.Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="iot-replay-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        nbs = []
        for name in NOTEBOOKS:
            strip_raising(ROOT / "notebooks" / name, tmp / name)
            nbs.append(tmp / name)
        devices = {"board": {"url": "sim:board"}, "esp32": {"url": "sim:esp32"}}
        with harness.jupyter_env(opts.kernel, devices, default="esp32") as env:
            env = dict(env, PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}")
            out = tmp / "out"
            out.mkdir()
            tools = {
                "iot": [[opts.kernel, "replay", "--board", "sim", *map(str, nbs)]],
                "nbconvert": [[str(venv_bin / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                               "--output-dir", str(out), *map(str, nbs)]],
                "papermill": [[str(venv_bin / "papermill"), "--no-progress-bar", "-k", "iot-micropython",
                               str(nb), str(out / f"pm-{nb.name}")] for nb in nbs],
            }
            walls: dict[str, list[float]] = {k: [] for k in tools}
            peaks: dict[str, list[float]] = {k: [] for k in tools}
            for _ in range(rounds):
                for name, cmds in tools.items():
                    w, p = 0.0, 0.0
                    for cmd in cmds:
                        cw, cp = measure(cmd, env, tmp)
                        w, p = w + cw, max(p, cp)
                    walls[name].append(w)
                    peaks[name].append(p)
    for metric, data in (("wall_s", walls), ("peak_rss_mb", peaks)):
        iot = statistics.median(data["iot"])
        for peer in ("nbconvert", "papermill"):
            other = statistics.median(data[peer])
            print(f"BENCH replay.{metric} iot={iot:.2f} {peer}={other:.2f} peer_name={peer} ratio={iot / other:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
