"""Notebook conventions IPython users expect, through nbclient (as
`jupyter nbconvert --execute` and papermill run notebooks): %%host values
as the cell's own execute_result, host tracebacks naming the notebook's
cells, the last statement of a line shown, input() without stdin."""
from __future__ import annotations

import os
import re

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import kutil


def run(cells, **kw):
    nb = new_notebook(
        cells=[new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": kutil.KERNEL_NAME, "display_name": "IoT", "language": "python"}},
    )
    NotebookClient(nb, kernel_name=kutil.KERNEL_NAME, timeout=kutil.TIMEOUT,
                   startup_timeout=kutil.TIMEOUT, allow_errors=True, **kw).execute()
    return nb


def test_host_cells_count_as_notebook_cells():
    # Three cells first, so the notebook's counts run ahead of the host
    # kernel's own.
    nb = run(["!true", "!true", "!true",
              "%%host\nx = 6 * 7",
              "%%host\nx",
              "%%host\ndef f():\n    return 1 / 0",
              "%%host\nf()"])
    value, define, call = nb.cells[4], nb.cells[5], nb.cells[6]
    assert [o.output_type for o in value.outputs] == ["execute_result"], value.outputs
    assert value.outputs[0].data["text/plain"] == "42"
    assert value.outputs[0].execution_count == value.execution_count == 5

    [err] = call.outputs
    assert err.output_type == "error" and err.ename == "ZeroDivisionError"
    # "Cell In[7]", or "Cell In [7]" / "Input In [7]" from older IPython
    named = set(re.findall(r"(?:Cell|Input) In ?\[(\d+)\]", "\n".join(err.traceback)))
    # the failing cell and the one that defined f, by the notebook's counts
    assert named == {str(call.execution_count), str(define.execution_count)}, err.traceback


def own_dirs(tmp_path) -> dict:
    """A virtual board's files, and the memory of the last board, of this
    test's own: a later kernel must not reattach its virtual board."""
    return {"IOT_SIM_HOME": str(tmp_path / "sim"), "IOT_STATE_DIR": str(tmp_path / "state")}


def test_input_without_stdin_and_semicolons(tmp_path, monkeypatch):
    for k, v in own_dirs(tmp_path).items():
        monkeypatch.setenv(k, v)
    nb = run(["%connect sim -q",
              "import sys; sys.platform",
              "name = input('Name? ')"])
    shown, ask = nb.cells[1], nb.cells[2]
    assert [o.output_type for o in shown.outputs] == ["execute_result"], shown.outputs
    assert shown.outputs[0].data["text/plain"].strip("'") != ""

    [err] = ask.outputs
    assert (err.ename, err.evalue) == ("EOFError", "input() needs a front end with stdin")
    tb = "\n".join(err.traceback)
    assert "_iot" not in tb and tb.count("Cell In[") == 1, tb


def test_shift_tab_and_import_completion(tmp_path):
    """inspect_request after `f(` shows f's parameters; complete_request
    after `from MODULE import ` lists the module's names."""
    km = kutil.start_manager(env={**os.environ, **own_dirs(tmp_path)})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=kutil.TIMEOUT)
        reply, _ = kutil.execute(kc, "%connect sim -q\ndef scale(value, factor=2, *, clip=None):\n    return value * factor")
        assert reply["content"]["status"] == "ok", reply["content"]
        code = "y = scale("
        r = kutil.request(kc, "shell", "inspect_request", {"code": code, "cursor_pos": len(code), "detail_level": 0})
        c = r["content"]
        assert c["status"] == "ok" and c["found"], c
        text = c["data"]["text/plain"]
        assert text.startswith("Signature: scale(value, factor=2, *, clip=None)\n"), text
        assert re.search(r"^Type: +function$", text, re.M), text

        code = "from micropython import "
        r = kutil.request(kc, "shell", "complete_request", {"code": code, "cursor_pos": len(code)})
        c = r["content"]
        assert "const" in c["matches"] and c["cursor_start"] == len(code), c
    finally:
        kc.stop_channels()
        kutil.stop_manager(km)
