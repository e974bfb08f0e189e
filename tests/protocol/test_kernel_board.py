"""The jupyter_kernel_test conformance suite again, with a board attached
(the micro:bit test board: real MicroPython firmware under QEMU), so the
checks that need code to run are exercised too: results, output, errors,
completion and inspection from the board."""
from __future__ import annotations

import os
import pathlib
import sys

import jupyter_kernel_test as jkt

import kutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import harness  # noqa: E402

TESTBOARD = os.environ.get("IOT_TESTBOARD_BIN", str(ROOT / "bin" / "testboard"))


class IoTKernelBoardTests(jkt.KernelTests):
    kernel_name = kutil.KERNEL_NAME
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_generate_error = "1 / 0"
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'board' + '!'", "result": "'board!'"},
        {"code": "x = [1, 2]\nx + [3]", "result": "[1, 2, 3]"},
    ]
    completion_samples = [
        {"text": "answer_of_li", "matches": {"answer_of_life"}},
    ]
    code_inspect_sample = "answer_of_life"
    # Rich output comes from the host python kernel behind %%host, passed through.
    code_display_data = [
        {"code": "%%host\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>board</b>'))",
         "mime": "text/html"},
    ]
    code_clear_output = "%%host\nfrom IPython.display import clear_output\nclear_output()"
    code_stderr = "%%bash\necho oops 1>&2"  # !cmd joins stderr to stdout, as in IPython

    # Not collected, rather than skipped unseen: is_complete needs no
    # board and runs in test_kernel_tests.py; the kernel keeps no history
    # and pages nothing, so those checks can never apply.
    test_is_complete = test_history = test_pager = None

    @classmethod
    def setUpClass(cls):
        cls._board = harness.testboard(TESTBOARD, "microbit")
        tb = cls._board.__enter__()
        try:
            super().setUpClass()
            reply, _ = kutil.execute(cls.kc, f"%connect {tb.path} -q\nanswer_of_life = 42")
            assert reply["content"]["status"] == "ok", reply["content"]
        except BaseException:
            cls._board.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._board.__exit__(None, None, None)
