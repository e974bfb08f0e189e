"""Replay the shipped notebooks on the test boards with `iot-kernel
replay`, the way users test their notebooks, and compare what each cell
shows with the outputs stored in the notebook.

The virtual board's replay is the one a user's CI runs (`make
test-notebooks` runs scripts/replay_notebooks.py: `iot-kernel replay
--board sim notebooks/*.ipynb --junit ...`); here the same notebooks run on
the emulated test boards over each link, and on hardware (IOT_TEST_BOARD).
What replay normalises and masks (iot.varies), and how it presses stop
(iot.interrupt_after, iot.serve), is its own business: see `iot-kernel
help replay`. Only papermill's run needs a Jupyter client.

Each notebook lists the test boards it is meant for in its metadata
(`iot.boards`, default both emulated ones); `iot.requires` names needs a
test board cannot meet (e.g. "network"): such a notebook runs only on
hardware (IOT_TEST_BOARD) whose abilities IOT_TEST_PROVIDES lists
("network,interactive").
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402
import testenv  # noqa: E402

KERNEL = os.environ.get("IOT_KERNEL_BIN", str(ROOT / "bin" / "iot-kernel"))
TESTBOARD = os.environ.get("IOT_TESTBOARD_BIN", str(ROOT / "bin" / "testboard"))
HARDWARE = os.environ.get("IOT_TEST_BOARD")
PROVIDES = set(filter(None, os.environ.get("IOT_TEST_PROVIDES", "").split(",")))
PASSWORD = "micropyth0n"  # the WebREPL test server's password, test-only

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LINKS = ["pty", "webrepl", "rfc2217"]
KINDS = ["microbit", "wasm"]


def meta(path: pathlib.Path) -> dict:
    return json.loads(path.read_text()).get("metadata", {}).get("iot", {})


def cases():
    """One case per notebook and emulated test board it is meant for, and
    link; on hardware, one per notebook. The virtual board's replay is
    make test-notebooks' own step."""
    for nb in NOTEBOOKS:
        if HARDWARE:
            yield pytest.param(nb, "hardware", "hardware", id=f"{nb.stem}-hardware")
            continue
        for kind in meta(nb).get("boards", KINDS):
            if kind == "sim":
                continue
            for link in LINKS:
                yield pytest.param(nb, kind, link, id=f"{nb.stem}-{kind}-{link}")


def replay(path: pathlib.Path, url: str, password: str | None, tmp_path: pathlib.Path,
           extra: tuple[str, ...] = ()) -> None:
    """iot-kernel replay of path on the board at url (the devices file names
    it `board`, with its password); fails with replay's report."""
    device = {"url": url}
    if password:
        device["password"] = password
    with harness.jupyter_env(KERNEL, {"board": device}) as env:
        report = tmp_path / "report.xml"
        proc = subprocess.run([KERNEL, "replay", "--board", url, *extra, str(path), "--junit", str(report)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"iot-kernel replay failed:\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r'<testsuites [^>]*failures="0"', report.read_text()), report.read_text()


@pytest.mark.parametrize("path,kind,link", list(cases()))
def test_replay(path: pathlib.Path, kind: str, link: str, tmp_path):
    missing = set(meta(path).get("requires", [])) - PROVIDES
    if missing and HARDWARE:
        testenv.skip_or_fail(f"{path.name} needs {sorted(missing)} (set IOT_TEST_PROVIDES)")
    # Replay a copy in a temp dir, so what a notebook writes on the host stays there.
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    if kind == "hardware":
        # A serving cell's server is on the board: IOT_TEST_BOARD_HOST is
        # its address on the network.
        host = os.environ.get("IOT_TEST_BOARD_HOST")
        replay(copy, HARDWARE, os.environ.get("IOT_TEST_PASSWORD"), tmp_path,
               ("--serve-host", host) if host else ())
        return
    opts = {"webrepl": PASSWORD} if link == "webrepl" else {"rfc2217": link == "rfc2217"}
    with harness.testboard(TESTBOARD, kind, **opts) as tb:
        replay(copy, tb.url, PASSWORD if link == "webrepl" else None, tmp_path)


_SUBS = [
    (re.compile(r"Connected to (\S+) @ \S+"), r"Connected to \1 @ URL"),
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0xADDR"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s|B/s|KB/s|MB/s)\b"), "TIME"),
]


def shown(cell) -> list[tuple[str, str]]:
    """What a reader sees of a code cell's outputs, merged and normalised
    (for papermill's run, which has no iot-kernel replay to compare it)."""
    out: list[tuple[str, str]] = []
    for o in cell.get("outputs", []):
        kind = o["output_type"]
        item = ("error", f"{o['ename']}: {o['evalue']}") if kind == "error" else (kind, harness.text_of(o))
        if out and item[0] == "stream" and out[-1][0] == "stream":
            out[-1] = ("stream", out[-1][1] + item[1])  # stream chunking is not meaningful
        else:
            out.append(item)
    norm = []
    for k, t in out:
        for pat, rep in _SUBS:
            t = pat.sub(rep, t)
        for p in cell.get("metadata", {}).get("iot", {}).get("varies", []):
            t = re.sub(p, "<varies>", t, flags=re.M)
        norm.append((k, "\n".join(line.rstrip() for line in t.strip("\n").splitlines())))
    return norm


def compare_notebooks(expected, got) -> None:
    """Assert that every code cell of got shows what expected stores."""
    assert len(got.cells) == len(expected.cells), "the run has a different number of cells"
    for want_cell, got_cell in zip(expected.cells, got.cells):
        assert got_cell.cell_type == want_cell.cell_type and got_cell.source == want_cell.source
        if want_cell.cell_type == "code":
            assert shown(got_cell) == shown(want_cell), f"cell:\n{want_cell.source}"


def test_papermill_runs_a_notebook(tmp_path):
    """papermill, which CI pipelines use to run notebooks, drives the kernel
    through the same notebook and gets the same outputs."""
    import papermill

    # papermill fails a run on any error output, even an expected one:
    # give it the demo without its deliberate exception.
    want = nbformat.read(ROOT / "notebooks" / "demo.ipynb", as_version=4)
    want.cells = [c for c in want.cells if "raises-exception" not in c.metadata.get("tags", [])]
    src = tmp_path / "demo.ipynb"
    nbformat.write(want, src)
    out = tmp_path / "demo.out.ipynb"
    with harness.testboard(TESTBOARD, "microbit") as tb:
        with harness.jupyter_env(KERNEL, {"board": {"url": tb.url}}):
            papermill.execute_notebook(str(src), str(out), kernel_name="iot-micropython",
                                       cwd=str(tmp_path), progress_bar=False, execution_timeout=120)
    compare_notebooks(want, nbformat.read(out, as_version=4))
