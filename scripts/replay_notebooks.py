"""Replay the shipped notebooks with `iot-kernel replay`, as a user's CI
would, in the world they expect: the devices file names each board the
notebooks use (`esp32`, the default, and `board`) with google.com sent to
local stand-ins (webhosts), and %%host finds the python3 kernel of the
project venv. Everything it sets up is private to the run.

    python scripts/replay_notebooks.py --kernel bin/iot-kernel [-- replay args..., e.g. --junit FILE]

Exits with iot-kernel replay's status.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import webhosts

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The board names the shipped notebooks use; each is the board replay runs on.
NAMES = ("esp32", "board")


def devices_yaml(hosts: webhosts.Hosts) -> str:
    lines = [f"default: {NAMES[0]}"]
    for name in NAMES:
        lines += [f"{name}:", f"  url: sim:{name}", f"  hosts: {json.dumps(hosts.host_map())}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default=str(ROOT / "bin" / "iot-kernel"))
    ap.add_argument("--board", default="sim")
    ap.add_argument("args", nargs="*", help="more iot-kernel replay arguments (default: notebooks/*.ipynb)")
    opts = ap.parse_args()
    notebooks = opts.args or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="iot-replay-") as tmp, webhosts.serve() as hosts:
        tmp = pathlib.Path(tmp)
        (tmp / "devices.yaml").write_text(devices_yaml(hosts))
        venv = pathlib.Path(sys.prefix)
        env = dict(os.environ,
                   IOT_DEVICES=str(tmp / "devices.yaml"),
                   IOT_STATE_DIR=str(tmp / "state"),
                   IPYTHONDIR=str(tmp / "ipython"),
                   # %%host: this venv's python3 kernel (matplotlib, requests)
                   JUPYTER_PATH=str(venv / "share" / "jupyter"),
                   PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        cmd = [opts.kernel, "replay", "--board", opts.board, *notebooks]
        print("+", " ".join(cmd), flush=True)
        return subprocess.run(cmd, env=env, cwd=ROOT, timeout=1200).returncode


if __name__ == "__main__":
    sys.exit(main())
