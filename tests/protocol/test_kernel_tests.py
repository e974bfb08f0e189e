"""The jupyter_kernel_test conformance suite, with what applies when no
board is connected: every message is validated against the v5 message
schema by jupyter_kernel_test itself."""
from __future__ import annotations

import jupyter_kernel_test as jkt
from jupyter_kernel_test.msgspec_v5 import validate_message

import kutil


class IoTKernelTests(jkt.KernelTests):
    kernel_name = kutil.KERNEL_NAME
    language_name = "python"
    file_extension = ".py"

    # With no board connected, any board code ends in one error output.
    code_generate_error = "1 / 0"
    # Shell escapes run on the host, so they print without a board.
    code_hello_world = "!echo hello, world"
    code_stderr = "%%bash\necho oops 1>&2"  # !cmd joins stderr to stdout, as in IPython

    completion_samples = [
        {"text": "%lsm", "matches": {"%lsmagic"}},
    ]

    complete_code_samples = [
        "print(1)",
        "x = 1",
        "for i in range(3):\n    print(i)\n\n",
        "%lsmagic",
        "",
    ]
    incomplete_code_samples = [
        "for i in range(3):",
        "def f(x):\n    return x",
        "x = (1,",
        "s = '''abc",
        "x = 1 + \\",
    ]
    invalid_code_samples = [
        "x = (1]",
        "s = 'abc",
    ]

    # jupyter_kernel_test skips what it has no sample for; rather than
    # skip unseen, the checks that cannot apply here are not collected.
    # Without a board there is no result, inspection or rich output: the
    # same checks run in test_kernel_board.py, with the micro:bit board.
    test_execute_result = test_inspect = test_display_data = test_clear_output = None
    # The kernel keeps no history and pages nothing (history_reply is
    # empty; no payloads): jupyter_kernel_test's checks for them can never
    # apply.
    test_history = test_pager = None

    def test_kernel_info_fields(self):
        self.flush_channels()
        msg_id = self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=kutil.TIMEOUT)
        validate_message(reply, "kernel_info_reply", msg_id)
        c = reply["content"]
        self.assertEqual(c["status"], "ok")
        self.assertEqual(c["implementation"], "iot-kernel")
        self.assertTrue(c["implementation_version"])
        self.assertTrue(c["protocol_version"].startswith("5."))
        self.assertEqual(c["language_info"]["mimetype"], "text/x-python")

    def test_empty_cell_is_a_successful_no_op(self):
        self.flush_channels()
        reply, outputs = self.execute_helper(code="")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(outputs, [])

    def test_no_board_error(self):
        self.flush_channels()
        reply, outputs = self.execute_helper(code="print('hello')")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual([m["msg_type"] for m in outputs], ["error"])
        err = outputs[0]["content"]
        self.assertIn(kutil.NO_BOARD, err["evalue"])
        self.assertEqual(err["ename"], kutil.NO_BOARD_ERROR)
        self.assertEqual(reply["content"]["ename"], kutil.NO_BOARD_ERROR)
        # Front ends such as jupyter console show only the traceback.
        self.assertIn(kutil.NO_BOARD, "\n".join(err["traceback"]))

    def test_lsmagic_without_a_board(self):
        self.flush_channels()
        reply, outputs = self.execute_helper(code="%lsmagic")
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(m["content"]["text"] for m in outputs
                       if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
        self.assertIn("%connect", text)

    def test_history_reply(self):
        self.flush_channels()
        for kw in (
            dict(hist_access_type="tail", n=10),
            dict(hist_access_type="range", session=0, start=0, stop=10),
            dict(hist_access_type="search", pattern="*", n=10),
        ):
            with self.subTest(**kw):
                msg_id = self.kc.history(raw=True, output=False, **kw)
                reply = self.kc.get_shell_msg(timeout=kutil.TIMEOUT)
                validate_message(reply, "history_reply", msg_id)
                self.assertIsInstance(reply["content"]["history"], list)

    def test_comm_info(self):
        self.flush_channels()
        msg_id = self.kc.comm_info()
        reply = self.kc.get_shell_msg(timeout=kutil.TIMEOUT)
        validate_message(reply, "comm_info_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertIsInstance(reply["content"]["comms"], dict)

    def test_complete_reply_is_well_formed(self):
        self.flush_channels()
        code = "%con"
        msg_id = self.kc.complete(code, len(code))
        reply = self.kc.get_shell_msg(timeout=kutil.TIMEOUT)
        validate_message(reply, "complete_reply", msg_id)
        c = reply["content"]
        self.assertEqual(c["status"], "ok")
        self.assertLessEqual(0, c["cursor_start"])
        self.assertLessEqual(c["cursor_start"], c["cursor_end"])
        self.assertLessEqual(c["cursor_end"], len(code))

    def test_inspect_reply_is_well_formed(self):
        self.flush_channels()
        msg_id = self.kc.inspect("print", 5)
        reply = self.kc.get_shell_msg(timeout=kutil.TIMEOUT)
        validate_message(reply, "inspect_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
