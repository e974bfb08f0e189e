"""Two (or more) kernel binaries side by side: which one runs a print(1)
cell's board part faster.

    .venv/bin/python bench/ab_kernels.py [--kind microbit|wasm] [--rounds N] BIN_A BIN_B ...

Each binary gets its own kernel and its own test board of the same kind;
the rounds of peers_bench's side_by_side (an empty cell, %loglevel, a
print(1) cell, a bare raw exchange on the kernel's board) take turns
between the kernels, in alternating order, so the machine's load falls on
all of them alike. On a shared machine that is what shows a change of a
few tens of microseconds, which two runs of peers_bench one after the
other do not: their difference is mostly the machine's.

Prints, per binary, the medians (ms) and the part and ratio of
peers_bench's cell_over_raw. Not run by make bench: a tool for changes
to the kernel's hot path.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import statistics
import termios

import peers_bench as pb
from peers_bench import ROOT, harness


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+", help="iot-kernel binaries to compare")
    ap.add_argument("--kind", default="wasm", choices=["microbit", "wasm"])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--testboard", default=str(ROOT / "bin/testboard"))
    args = ap.parse_args()
    import serial  # pyserial, as in peers_bench

    pace = 115200 if args.kind == "microbit" else 0
    bins = [str(pathlib.Path(b).resolve()) for b in args.binaries]
    with contextlib.ExitStack() as st:
        boards = [st.enter_context(harness.testboard(args.testboard, args.kind, timeout=pb.WAIT, pace=pace))
                  for _ in bins]
        env = st.enter_context(harness.jupyter_env(bins[0], {f"b{i}": {"url": tb.path} for i, tb in enumerate(boards)}))
        specs = pathlib.Path(env["JUPYTER_DATA_DIR"]) / "kernels"
        base = json.loads((specs / "iot-micropython" / "kernel.json").read_text())
        kernels, ports, times = [], [], []
        for i, b in enumerate(bins):
            d = specs / f"ab{i}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "kernel.json").write_text(json.dumps(dict(base, argv=[b] + base["argv"][1:])))
            k = pb.Kernel(f"ab{i}")
            st.callback(k.stop)
            _, status, out = k.run(f"%connect -q b{i}\nprint(1)")
            if status != "ok":
                raise SystemExit(f"{b}: cannot connect: {pb.why(out)}")
            s = st.enter_context(serial.Serial(boards[i].path, 115200, timeout=pb.WAIT))
            # As in side_by_side: give the device back the kernel's VMIN.
            attrs = termios.tcgetattr(s.fd)
            attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
            termios.tcsetattr(s.fd, termios.TCSANOW, attrs)
            kernels.append(k)
            ports.append(s)
            times.append({"empty": [], "print": [], "raw": []})

        def round_of(i: int, keep: bool) -> None:
            k = kernels[i]
            empty, _, _ = k.run("")
            k.run("%loglevel")
            p, status, out = k.run("print(1)")
            if status != "ok" or pb.clean(out).strip() != "1":
                raise SystemExit(f"{bins[i]}: print(1) gave {status}: {pb.why(out)}")
            raw = pb.bare_exchange(ports[i])
            if keep:
                for name, v in (("empty", empty), ("print", p), ("raw", raw)):
                    times[i][name].append(v)

        for r in range(10 + args.rounds):
            order = range(len(bins)) if r % 2 == 0 else reversed(range(len(bins)))
            for i in order:
                round_of(i, keep=r >= 10)

    for b, t in zip(bins, times):
        m = {name: statistics.median(v) * 1000 for name, v in t.items()}
        part = m["print"] - m["empty"]
        print(f"{args.kind} {b}: empty={m['empty']:.3f} print={m['print']:.3f} raw={m['raw']:.3f} "
              f"part={part:.3f} ratio={part / m['raw']:.3f}")


if __name__ == "__main__":
    main()
