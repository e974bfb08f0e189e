"""make demo: run a notebook on a board through the real Jupyter stack.

With --board, the board is yours (a serial path, ws://host, rfc2217://...);
without, a test board (MicroPython firmware under QEMU) is started and
stopped. The executed notebook is written to build/ and its cells are
printed here.
"""
from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True, help="the iot-kernel binary")
    ap.add_argument("--testboard", required=True, help="the testboard binary")
    ap.add_argument("--notebook", required=True, type=pathlib.Path)
    ap.add_argument("--board", help="a real board: serial path or URL")
    ap.add_argument("--kind", default="microbit", help="test board kind: microbit or wasm")
    ap.add_argument("--out", type=pathlib.Path, default=harness.ROOT / "build")
    args = ap.parse_args()

    with contextlib.ExitStack() as stack:
        if args.board:
            url = args.board
            print(f"board: {url}")
        else:
            tb = stack.enter_context(harness.testboard(args.testboard, args.kind))
            url = tb.path
            print(f"board: test board ({args.kind}) at {url}")
        stack.enter_context(harness.jupyter_env(args.kernel, {"board": {"url": url}}))
        start = time.monotonic()
        nb = harness.execute_notebook(args.notebook, timeout=120)
        took = time.monotonic() - start

    args.out.mkdir(exist_ok=True)
    out = args.out / args.notebook.name
    import nbformat
    nbformat.write(nb, out)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        print(f"\n[{cell.get('execution_count') or ' '}] " + cell.source.replace("\n", "\n    "))
        for o in cell.outputs:
            text = harness.text_of(o).rstrip("\n")
            if text:
                print("  > " + text.replace("\n", "\n  > "))
    print(f"\nran {args.notebook} in {took:.1f}s; executed copy: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
