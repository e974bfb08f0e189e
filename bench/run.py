#!/usr/bin/env python3
"""Runs every benchmark of `make bench` in turn and writes bench/RESULTS.md.

Each step is one command; its output is shown as it runs and its result
lines are collected:

  BENCH name value unit                  (the Go benchmarks)
  BENCH name iot=A peer=B ... ratio=R    (the Python side-by-side benches)
  BenchmarkX-2  N  V unit ...            (go test's own metric columns)

RESULTS.md holds, per step, the command that made the figures and a table
of them, with the target where the project has one and whether it was met.
Peers are always measured in the same run on the same board, so the ratios
hold however loaded the machine was; the load average before and after is
written down too.

Usage: python bench/run.py [--quick] [--only SUBSTRING] [--out bench/RESULTS.md]
The binaries are bin/iot-kernel and bin/testboard (make bench builds them).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GO = os.environ.get("GO", "go")


@dataclass
class Step:
    title: str
    what: str
    cmd: list[str]
    quick: list[str] = field(default_factory=list)  # extra arguments with --quick


def steps(py: str) -> list[Step]:
    gobench = [GO, "test", "-run", "^$", "-benchtime", "1x"]
    return [
        Step("Kernel against ipykernel",
             "start, an empty cell, idle CPU and memory, the message size ceiling; "
             "both kernels started from their kernel.json, same client code",
             [py, "bench/kernel_bench.py"], ["--quick"]),
        Step("Cells against iot-kernel 0.5.28 and mpremote 1.29",
             "one test board per kind, every tool taking its turn on it; a print(1) cell's board part "
             "against the bare raw exchange measured side by side (cells and exchanges in turns)",
             [py, "bench/peers_bench.py", "--kernel", "bin/iot-kernel", "--testboard", "bin/testboard"],
             ["--quick"]),
        Step("Engine against the bare raw REPL exchange, uploads against the line rate",
             "transport benchmarks on the test boards",
             gobench + ["-bench", ".", "-timeout", "20m", "./transport/"]),
        Step("A cell against the bare exchange of the same code, the bytes it sends, and %%plot",
             "cells benchmarks: the interpreter as the kernel runs it, minus the Jupyter messages; "
             "%%plot on the wasm board printing as fast as it can, with and without the plot in turns",
             gobench + ["-bench", "CellCost|CellBytes|Plot", "-timeout", "10m", "./cells/"]),
        Step("The plot's own costs",
             "a line parsed on the goroutine that reads the board, a frame of two full series drawn",
             [GO, "test", "-run", "^$", "-bench", ".", "-benchmem", "./plot/"]),
        Step("A %%connect cell on eight virtual boards",
             "a cell that takes a second on each of eight virtual boards, run at once and with --seq",
             gobench + ["-bench", "ConnectMany", "-timeout", "10m", "./cells/"]),
        Step("Replaying notebooks against nbconvert --execute and papermill",
             "the same notebooks on the virtual board, start-up included: wall time and the peak "
             "summed RSS of each tool's process tree (tool, kernel, board, %%host kernel)",
             [py, "bench/replay_bench.py", "--kernel", "bin/iot-kernel"], ["--quick"]),
        Step("The virtual board's stop button",
             "Ctrl-C to the end of each blocking call on the virtual board",
             [GO, "test", "-run", "^$", "-bench", "BenchmarkNetInterrupt", "-benchtime", "20x",
              "-timeout", "10m", "./sim/"]),
        Step("A sleeping virtual board's CPU",
             "CPU time of the board's process while Python sleeps a second: time.sleep, and the "
             "port's own sleep (it polls the clock) for comparison",
             [GO, "test", "-run", "^$", "-bench", "BenchmarkSleepCPU", "-benchtime", "3x",
              "-timeout", "10m", "./sim/"]),
    ]


# Targets: a metric-name pattern, what is compared, and the bound. "value"
# is a BENCH line's value (or a peer bench's iot=), "ratio" its ratio=.
TARGETS: list[tuple[str, str, float, str]] = [
    (r"^kernel\.start_ms$", "value", 30, "<= 30 ms"),
    (r"^kernel\.exec_rt(_jc)?_ms$", "ratio", 1.0, "<= ipykernel's"),
    (r"^kernel\.idle_cpu_ms$", "value", 10, "<= 10 ms per 10 s"),
    (r"^kernel\.rss_idle_mb$", "value", 10, "<= 10 MB"),
    (r"^kernel\.rss_after_mb$", "value", 20, "<= 20 MB"),
    (r"^kernel\.rss_big_message_mb$", "value", 20, "<= 20 MB"),
    (r"^peers\..*\.cell_over_raw$", "ratio", 1.3, "board part / bare exchange <= 1.3"),
    (r"^cells\..*\.print1_minus_empty_over_raw$", "value", 1.3, "<= 1.3"),
    (r"^cells\..*\.bytes_.*_overhead$", "value", 24, "<= 24 B over the code"),
    (r"^cells\..*\.bytes_.*_exchanges$", "value", 1, "one exchange"),
    (r"^BenchmarkNetInterrupt.*ms/interrupt$", "value", 100, "<= 100 ms"),
    (r"^connect\.sim8\.at_once_s$", "value", 1.5, "<= 1.5 s"),
    (r"^plot\..*\.rate_loss$", "value", 0.10, "<= 0.10 of the board's output rate"),
    (r"^plot\..*\.frames_per_s$", "value", 10, "<= 10 updates a second"),
    (r"^replay\.", "ratio", 1.0, "<= the peer's"),
]

GO_BENCH = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$")
NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


@dataclass
class Row:
    name: str
    value: str
    unit: str = ""
    peer: str = ""
    peer_name: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""
    gotest: bool = False  # from go test's own benchmark line


def parse(line: str) -> list[Row]:
    """The result rows a line of benchmark output holds (none for most)."""
    line = line.strip()
    if line.startswith("BENCH "):
        parts = line.split()[1:]
        if not parts:
            return []
        name, rest = parts[0], parts[1:]
        if rest and "=" not in rest[0]:
            return [Row(name, rest[0], " ".join(rest[1:]))]
        kv = dict(p.split("=", 1) for p in rest if "=" in p)
        peer_key = next((k for k in kv if k not in ("iot", "ratio", "target", "peer_name")), "")
        return [Row(name, kv.get("iot", ""), "", kv.get(peer_key, ""),
                    kv.get("peer_name", peer_key if peer_key != "peer" else ""), kv.get("ratio", ""))]
    m = GO_BENCH.match(line)
    if not m:
        return []
    fields = m.group(2).split()
    rows = []
    for i in range(0, len(fields) - 1, 2):
        v, unit = fields[i], fields[i + 1]
        if NUM.match(v) and unit not in ("ns/op",):
            rows.append(Row(f"{m.group(1)} {unit}", v, unit, gotest=True))
    return rows


def judge(r: Row) -> None:
    for pat, what, bound, text in TARGETS:
        if not re.search(pat, r.name):
            continue
        raw = r.ratio if what == "ratio" else r.value
        try:
            r.verdict = "met" if float(raw) <= bound else "MISSED"
        except ValueError:
            r.verdict = "not measured"
        r.target = text
        return


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def run_step(step: Step, quick: bool, env: dict) -> tuple[list[Row], int, float, list[str]]:
    cmd = step.cmd + (step.quick if quick else [])
    print(f"\n== {step.title}\n$ {shlex.join(cmd)}", flush=True)
    start = time.monotonic()
    rows: list[Row] = []
    tail: list[str] = []
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as p:
        assert p.stdout is not None
        for line in p.stdout:
            sys.stdout.write(line)
            rows.extend(parse(line))
            tail = (tail + [line.rstrip()])[-15:]
        rc = p.wait()
    # go test prints a bench's last ReportMetric values again on its own
    # line: keep those only for benches that print no BENCH lines.
    if any(not r.gotest for r in rows):
        rows = [r for r in rows if not r.gotest]
    for r in rows:
        judge(r)
    return rows, rc, time.monotonic() - start, tail


def table(rows: list[Row]) -> list[str]:
    peers = any(r.peer or r.ratio for r in rows)
    head = ["metric", "iot-kernel"] + (["peer", "ratio"] if peers else []) + ["target", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        val = f"{r.value} {r.unit}".strip()
        peer = f"{r.peer} ({r.peer_name})" if r.peer_name and r.peer not in ("", "NA", "n/a") else r.peer
        cells = [f"`{r.name}`", val] + ([peer, r.ratio] if peers else []) + [r.target, r.verdict]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions where a bench offers it")
    ap.add_argument("--only", default="", help="run only the steps whose title contains this")
    ap.add_argument("--out", default=str(ROOT / "bench/RESULTS.md"))
    args = ap.parse_args()
    env = dict(os.environ)
    # The kernels the benches start remember their last board: in a folder
    # of the run's, not the user's.
    state = tempfile.mkdtemp(prefix="iot-bench-state-")
    env["IOT_STATE_DIR"] = state
    env.setdefault("IOT_KERNEL_BIN", str(ROOT / "bin/iot-kernel"))
    env.setdefault("IOT_TESTBOARD_BIN", str(ROOT / "bin/testboard"))
    todo = [s for s in steps(sys.executable) if args.only.lower() in s.title.lower()]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"])
    load_before = loadavg()
    results = [(s, *run_step(s, args.quick, env)) for s in todo]
    md = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py{' --quick' if args.quick else ''}`) on {when}, "
        f"commit `{commit}`.",
        f"Machine: {machine()}; load average {load_before} before, {loadavg()} after. "
        f"{version([GO, 'version'])}; node {version(['node', '--version'])}; "
        f"Python {platform.python_version()}.",
        "",
        "Every peer is measured in the same run on the same board, one tool at a time, so the ratios "
        "compare like with like even on a shared machine; absolute times move with the load.",
        "A ratio below 1 means iot-kernel is faster or smaller.",
    ]
    failed = 0
    for step, rows, rc, secs, tail in results:
        md += ["", f"## {step.title}", "", step.what + ".", "", "```", "$ " + shlex.join(
            step.cmd + (step.quick if args.quick else [])), "```", ""]
        if rc != 0:
            failed += 1
            md += [f"**The command failed (exit {rc}) after {secs:.0f} s**; its last lines:", "", "```"]
            md += tail + ["```", ""]
        md += table(rows) if rows else ["(no figures)"]
        md.append(f"\n({secs:.0f} s)")
    missed = [r.name for _, rows, *_ in results for r in rows if r.verdict == "MISSED"]
    md += ["", "## Targets missed", ""]
    md += [f"- `{m}`" for m in missed] or ["None."]
    shutil.rmtree(state, ignore_errors=True)
    Path(args.out).write_text("\n".join(md) + "\n")
    print(f"\nwrote {os.path.relpath(args.out)}: {len(missed)} targets missed, {failed} steps failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
