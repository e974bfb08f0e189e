"""The shipped notebooks pass `pytest --nbval-lax` with this kernel, for
users who test their notebooks with nbval (pinned in requirements.txt)
rather than `iot-kernel replay`.

nbval runs each notebook in a fresh kernel from the kernelspec, in the
same world as the replays (scripts/simrun.py): every board name a virtual
board, google.com a local stand-in. It has no way to press stop on a cell
that loops forever (the web server of sockets): its cell timeout does, and
such cells are tagged raises-exception, which nbval honours for the
KeyboardInterrupt. getting-started's loop ends by itself, within the
timeout.
"""
from __future__ import annotations

import os
import re
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
import simrun  # noqa: E402
import testenv  # noqa: E402

KERNEL = os.environ.get("IOT_KERNEL_BIN", str(ROOT / "bin" / "iot-kernel"))
# Long enough for the slowest cell that ends by itself (the first plot's
# matplotlib import on a loaded machine); the looping cells run this long.
CELL_TIMEOUT = 20


def test_nbval_lax(tmp_path):
    try:
        import nbval  # noqa: F401
    except ImportError as e:
        testenv.skip_or_fail(f"nbval is not installed ({e}): make venv installs requirements.txt")
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    with simrun.environment(KERNEL):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "-rxX",
             f"--nbval-cell-timeout={CELL_TIMEOUT}", "--rootdir", str(tmp_path), *notebooks],
            cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"pytest --nbval-lax failed:\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"\b\d+ passed", proc.stdout) and not re.search(r"\b\d+ failed", proc.stdout), proc.stdout
