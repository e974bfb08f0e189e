"""Replay the shipped notebooks on the test boards through nbclient and
compare what each cell shows with the outputs stored in the notebook.

The stored outputs are the reference: a change in what a user would see
(a lost line, an error where there was none, a value shown differently)
fails here. Outputs are normalised only for what legitimately varies
between runs and links: device paths and URLs, memory addresses, timings.

Each notebook lists the test boards it is meant for in its metadata
(`iot.boards`, default both); `iot.requires` names needs a test board cannot
meet (e.g. "network"): such a notebook runs only on hardware
(IOT_TEST_BOARD) whose abilities IOT_TEST_PROVIDES lists ("network,interactive").

Every output of every code cell is compared. Where a board legitimately
shows something else (sys.platform, the wording of an error message), the
cell's metadata names just that part: `iot.varies` is a list of regular
expressions (multiline); each match, or each group of it if the pattern
has groups, is masked in both the stored and the new outputs before they
are compared. A pattern must match the stored outputs, so a stale one
fails instead of quietly masking nothing.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402
import simrun  # noqa: E402
import testenv  # noqa: E402

KERNEL = os.environ.get("IOT_KERNEL_BIN", str(ROOT / "bin" / "iot-kernel"))
TESTBOARD = os.environ.get("IOT_TESTBOARD_BIN", str(ROOT / "bin" / "testboard"))
HARDWARE = os.environ.get("IOT_TEST_BOARD")
PROVIDES = set(filter(None, os.environ.get("IOT_TEST_PROVIDES", "").split(",")))
PASSWORD = "micropyth0n"  # the WebREPL test server's password, test-only

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LINKS = ["pty", "webrepl", "rfc2217"]
KINDS = ["microbit", "wasm"]

_SUBS = [
    (re.compile(r"Connected to (\S+) @ \S+"), r"Connected to \1 @ URL"),
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0xADDR"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s|B/s|KB/s|MB/s)\b"), "TIME"),
    # An HTTP date (RFC 9110's IMF-fixdate), and a socket address's port.
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b"), "DATE"),
    (re.compile(r"\('(\d{1,3}(?:\.\d{1,3}){3})', \d+\)"), r"('\1', PORT)"),
]


def normalise(text: str) -> str:
    for pat, rep in _SUBS:
        text = pat.sub(rep, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def shown(cell) -> list[tuple[str, str]]:
    """What a reader sees of a code cell's outputs, merged and normalised."""
    out: list[tuple[str, str]] = []
    for o in cell.get("outputs", []):
        kind = o["output_type"]
        if kind == "error":
            item = ("error", f"{o['ename']}: {o['evalue']}")
        else:
            item = (kind, harness.text_of(o))
        if out and item[0] == "stream" and out[-1][0] == "stream":
            out[-1] = ("stream", out[-1][1] + item[1])  # stream chunking is not meaningful
        else:
            out.append(item)
    return [(k, normalise(t)) for k, t in out]


MASK = "<varies>"


def varies(cell) -> list[re.Pattern]:
    """The patterns a cell's metadata names for what varies between boards."""
    return [re.compile(p, re.M) for p in cell.get("metadata", {}).get("iot", {}).get("varies", [])]


def mask(text: str, pats: list[re.Pattern]) -> str:
    """text with every match of pats (or every group of a match) masked."""
    for pat in pats:
        def sub(m: re.Match) -> str:
            if not pat.groups:
                return MASK
            out, pos = [], m.start()
            for g in range(1, pat.groups + 1):
                if m.start(g) < 0:
                    continue
                out += [m.string[pos:m.start(g)], MASK]
                pos = m.end(g)
            out.append(m.string[pos:m.end()])
            return "".join(out)
        text = pat.sub(sub, text)
    return text


def compare(want_cell, got_cell) -> None:
    """Assert that a replayed code cell shows what the stored one shows,
    but for what its `iot.varies` patterns mask."""
    pats = varies(want_cell)
    want, have = shown(want_cell), shown(got_cell)
    for pat in pats:
        assert any(pat.search(t) for _, t in want), \
            f"iot.varies pattern {pat.pattern!r} matches no stored output of cell:\n{want_cell.source}"
    want = [(k, mask(t, pats)) for k, t in want]
    have = [(k, mask(t, pats)) for k, t in have]
    assert have == want, f"cell:\n{want_cell.source}"


def compare_notebooks(expected, got) -> None:
    """Assert that every cell of got shows what expected stores."""
    assert len(got.cells) == len(expected.cells), "the replay has a different number of cells"
    for want_cell, got_cell in zip(expected.cells, got.cells):
        assert got_cell.cell_type == want_cell.cell_type and got_cell.source == want_cell.source
        if want_cell.cell_type == "code":
            compare(want_cell, got_cell)


def meta(path: pathlib.Path) -> dict:
    return json.loads(path.read_text()).get("metadata", {}).get("iot", {})


def cases():
    """One case per notebook and test board it is meant for, and link (the
    virtual board has one link: the kernel starts it); on hardware, one per
    notebook."""
    for nb in NOTEBOOKS:
        if HARDWARE:
            yield pytest.param(nb, "hardware", "hardware", id=f"{nb.stem}-hardware")
            continue
        for kind in meta(nb).get("boards", KINDS):
            for link in (["sim"] if kind == "sim" else LINKS):
                yield pytest.param(nb, kind, link, id=f"{nb.stem}-{kind}-{link}")


@pytest.mark.parametrize("path,kind,link", list(cases()))
def test_replay(path: pathlib.Path, kind: str, link: str, tmp_path):
    missing = set(meta(path).get("requires", [])) - PROVIDES
    if missing and HARDWARE:
        testenv.skip_or_fail(f"{path.name} needs {sorted(missing)} (set IOT_TEST_PROVIDES)")
    expected = nbformat.read(path, as_version=4)
    # Run a copy in a temp dir, so what a notebook writes on the host stays there.
    shutil.copy(path, tmp_path / path.name)
    path = tmp_path / path.name
    if kind == "hardware":
        device = {"url": HARDWARE}
        if os.environ.get("IOT_TEST_PASSWORD"):
            device["password"] = os.environ["IOT_TEST_PASSWORD"]
        with harness.jupyter_env(KERNEL, {"board": device}):
            got = harness.execute_notebook(path, timeout=120)
    elif kind == "sim":
        # Every board name is a virtual board, google.com a local stand-in,
        # and a serving cell gets its requests, then its stop (simrun).
        with simrun.environment(KERNEL):
            got, served = simrun.execute(path)
        for answers, cell in zip(served, [c for c in expected.cells if simrun.serves(c)]):
            paths = simrun.serves(cell)["paths"]
            assert len(answers) == len(paths)
            for i, answer in enumerate(answers):
                assert f"Hello #{i} from MicroPython!".encode() in answer, answer
    else:
        opts = {"webrepl": PASSWORD} if link == "webrepl" else {"rfc2217": link == "rfc2217"}
        with harness.testboard(TESTBOARD, kind, **opts) as tb:
            device = {"url": tb.url}
            if link == "webrepl":
                device["password"] = PASSWORD
            with harness.jupyter_env(KERNEL, {"board": device}):
                got = harness.execute_notebook(path, timeout=120)
    nbformat.write(got, tmp_path / f"{path.stem}.executed.ipynb")  # for a failing run's post-mortem
    compare_notebooks(expected, got)


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
