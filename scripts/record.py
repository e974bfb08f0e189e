"""Record a shipped notebook's outputs from the virtual board: run it as the
replay test does (simrun: stand-in web hosts, served cells poked) and write
the outputs back into the notebook, for accepting an intended change.

    .venv/bin/python scripts/record.py --kernel bin/iot-kernel notebooks/sockets.ipynb
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import simrun  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("notebooks", nargs="+", type=pathlib.Path)
    args = ap.parse_args()
    import nbformat

    for path in args.notebooks:
        with simrun.environment(os.path.abspath(args.kernel)):
            nb, answers = simrun.execute(path)
        for a in answers:
            print(f"{path.name}: served {len(a)} requests")
        # Written next to the notebook, then renamed: never half a notebook.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
        print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
