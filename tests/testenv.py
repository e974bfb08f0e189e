"""What the Python tests share about their environment: the one way to skip
a test because something it needs is missing.

A skip for a missing tool, package, board or ability goes through
skip_or_fail: it skips, or, under IOT_TEST_REQUIRE_ALL=1 (as CI runs),
fails with the same reason, so a feature whose test cannot run there fails
the build instead of passing unseen. This mirrors the Go tests'
internal/testenv.SkipOrFail. Do not use pytest.skip or pytest.mark.skip
directly: they pass unseen under IOT_TEST_REQUIRE_ALL=1.
"""
from __future__ import annotations

import os

import pytest

REQUIRE_ALL_VAR = "IOT_TEST_REQUIRE_ALL"


def require_all() -> bool:
    """Whether IOT_TEST_REQUIRE_ALL is set to 1."""
    return os.environ.get(REQUIRE_ALL_VAR) == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the running test because of reason, or fail it under
    IOT_TEST_REQUIRE_ALL=1. Call it inside the test (or a fixture)."""
    if require_all():
        pytest.fail(f"{reason} ({REQUIRE_ALL_VAR}=1: a missing requirement fails)", pytrace=False)
    pytest.skip(reason)
