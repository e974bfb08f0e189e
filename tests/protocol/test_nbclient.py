"""nbclient runs a notebook on the kernel, as `jupyter nbconvert --execute`
and papermill do."""
from __future__ import annotations

import os
import pathlib
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import kutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import harness  # noqa: E402

TESTBOARD = os.environ.get("IOT_TESTBOARD_BIN", str(ROOT / "bin" / "testboard"))


def notebook():
    return new_notebook(
        cells=[
            new_markdown_cell("# Blink\nA markdown cell is left alone."),
            new_code_cell(""),
            new_code_cell("from machine import Pin\nPin(2, Pin.OUT).on()"),
            new_code_cell("print('after the error')"),
            new_code_cell("%lsmagic\n!echo from the host"),
        ],
        metadata={"kernelspec": {"name": kutil.KERNEL_NAME, "display_name": "IoT", "language": "python"}},
    )


def run(nb, **kw):
    client = NotebookClient(nb, kernel_name=kutil.KERNEL_NAME, timeout=kutil.TIMEOUT,
                            startup_timeout=kutil.TIMEOUT, **kw)
    client.execute()
    return nb


def test_notebook_runs_with_errors_allowed():
    nb = run(notebook(), allow_errors=True)
    md, empty, board, after, host = nb.cells

    assert md.source.startswith("# Blink") and "outputs" not in md
    assert empty.outputs == []  # nbclient does not send empty cells

    assert [o.output_type for o in board.outputs] == ["error"]
    err = board.outputs[0]
    assert err.ename == kutil.NO_BOARD_ERROR and kutil.NO_BOARD in err.evalue
    assert kutil.NO_BOARD in "\n".join(err.traceback)

    # allow_errors means the next cell still runs (and fails the same way).
    assert [o.output_type for o in after.outputs] == ["error"]
    assert after.execution_count > board.execution_count

    # Magics and shell escapes need no board.
    assert [o.output_type for o in host.outputs] == ["stream"]
    text = host.outputs[0].text
    assert "%connect" in text and text.endswith("from the host\n")

    li = nb.metadata["language_info"]
    assert li["name"] == "python" and li["file_extension"] == ".py"
    nbformat.validate(nb)


def test_notebook_stops_at_the_first_error():
    nb = notebook()
    with pytest.raises(CellExecutionError) as exc:
        run(nb)
    assert kutil.NO_BOARD in str(exc.value)
    # The cell after the failing one never ran.
    assert nb.cells[3].outputs == [] and nb.cells[3].execution_count is None


def test_headless_run_saves_the_final_plot(tmp_path):
    """A %%plot cell run headless: the saved notebook holds one chart, the
    final one (nbclient applies update_display_data to the output with
    that display id), and the line without numbers as text."""
    with harness.testboard(TESTBOARD, "wasm") as tb:
        nb = new_notebook(
            cells=[
                new_code_cell(f"%connect -q {tb.path}"),
                new_code_cell("%%plot --csv samples.csv\nprint('go')\nfor i in range(300):\n"
                              "    print('a:%d b:%d' % (i, -i))"),
            ],
            metadata={"kernelspec": {"name": kutil.KERNEL_NAME, "display_name": "IoT", "language": "python"}},
        )
        run(nb, resources={"metadata": {"path": str(tmp_path)}})
    outs = nb.cells[1].outputs
    assert [o.output_type for o in outs] == ["stream", "display_data"], outs
    assert outs[0].text == "go\n"
    chart = outs[1].data
    assert chart["image/svg+xml"].startswith("<svg")
    assert chart["text/plain"].startswith("plot: 300 lines with numbers, 2 series, 600 points")
    assert "a: 300 points, last 299" in chart["text/plain"]
    rows = (tmp_path / "samples.csv").read_text().splitlines()
    assert rows[0] == "time,label,value" and len(rows) == 601
    nbformat.validate(nb)
