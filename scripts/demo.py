"""make demo: run a notebook headless through the real Jupyter stack and
print each cell with its output.

Without --board the notebook runs on the virtual board (`%connect sim`),
which the kernel starts itself: nothing but node is needed. With --board
(a serial path, ws://host, rfc2217://...) it runs on that board instead:
the notebook's `%connect sim` is pointed at it. The kernelspec, the
devices file and the virtual board's files live in a private folder that
is removed afterwards; the executed notebook is written to build/.
"""
from __future__ import annotations

import argparse
import pathlib
import re
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True, help="the iot-kernel binary")
    ap.add_argument("--notebook", required=True, type=pathlib.Path)
    ap.add_argument("--board", help="a real board: serial path or URL (default: the virtual board)")
    ap.add_argument("--out", type=pathlib.Path, default=harness.ROOT / "build")
    args = ap.parse_args()

    import nbformat
    nb = nbformat.read(args.notebook, as_version=4)
    devices = {}
    if args.board:
        devices["board"] = {"url": args.board}
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = re.sub(r"^%connect sim\b", "%connect board", cell.source, flags=re.M)
        print(f"board: {args.board}")
    else:
        print("board: the virtual board (sim)")
    with harness.jupyter_env(args.kernel, devices):
        start = time.monotonic()
        try:
            harness.execute_notebook(args.notebook, timeout=120, nb=nb)
        except Exception as e:  # a failing cell: show what ran, then the error
            show(nb)
            print(f"\n{args.notebook} failed: {first_line(e)}", file=sys.stderr)
            return 1
        took = time.monotonic() - start

    args.out.mkdir(exist_ok=True)
    out = args.out / args.notebook.name
    nbformat.write(nb, out)
    show(nb)
    print(f"\nran {args.notebook} in {took:.1f}s; executed copy: {out}")
    return 0


def show(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        print(f"\n[{cell.get('execution_count') or ' '}] " + cell.source.replace("\n", "\n    "))
        for o in cell.get("outputs", []):
            text = harness.text_of(o).rstrip("\n")
            if text:
                print("  > " + text.replace("\n", "\n  > "))


def first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
