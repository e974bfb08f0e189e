"""The skip helper every Python test uses for a missing requirement."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import testenv  # noqa: E402


@pytest.mark.parametrize("env,outcome", [(None, pytest.skip.Exception), ("0", pytest.skip.Exception),
                                         ("1", pytest.fail.Exception)])
def test_skip_or_fail(monkeypatch, env, outcome):
    if env is None:
        monkeypatch.delenv(testenv.REQUIRE_ALL_VAR, raising=False)
    else:
        monkeypatch.setenv(testenv.REQUIRE_ALL_VAR, env)
    # Catch both outcomes: a skip escaping a raises(fail) would skip this
    # test instead of failing it.
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception)) as got:
        testenv.skip_or_fail("needs qemu")
    assert got.type is outcome and "needs qemu" in str(got.value)
