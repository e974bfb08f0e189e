"""Shared set-up for the protocol conformance tests.

Before any test runs, the kernel spec is installed with
`iot-kernel install --prefix TMP` into a temporary directory, and the
Jupyter path variables point every client (jupyter_client, nbclient,
jupyter console, jupyter_kernel_test) there. The real user's Jupyter
directories are never read or written.

The binary comes from IOT_KERNEL_BIN (default: bin/iot-kernel in the repo).
The tests run with both the project venv (jupyter_client 8) and Debian's
/usr/bin/python3 (jupyter_client 7.4); version-specific calls go through
kutil.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import kutil  # noqa: E402

_STATE: dict[str, str] = {}


def pytest_configure(config):
    binary = os.path.abspath(os.environ.get("IOT_KERNEL_BIN", str(ROOT / "bin" / "iot-kernel")))
    if not os.access(binary, os.X_OK):
        raise pytest.UsageError(
            f"kernel binary {binary} not found: build it (go build -o bin/iot-kernel ./cmd/kernel) "
            "or set IOT_KERNEL_BIN"
        )
    tmp = tempfile.mkdtemp(prefix="iot-kernel-protocol-")
    _STATE["tmp"] = tmp
    env = {
        # Highest priority in jupyter_core's search path: the installed spec.
        "JUPYTER_PATH": os.path.join(tmp, "share", "jupyter"),
        "JUPYTER_DATA_DIR": os.path.join(tmp, "data"),
        "JUPYTER_RUNTIME_DIR": os.path.join(tmp, "runtime"),
        "JUPYTER_CONFIG_DIR": os.path.join(tmp, "config"),
        "IPYTHONDIR": os.path.join(tmp, "ipython"),
        # The kernel's own config (devices.yaml) is looked up here.
        "XDG_CONFIG_HOME": os.path.join(tmp, "xdg-config"),
        # The board the kernel remembers, and virtual boards' files: never
        # the user's (a remembered board would be connected by the first
        # cell, where the tests expect no board).
        "IOT_STATE_DIR": os.path.join(tmp, "state"),
        "XDG_STATE_HOME": os.path.join(tmp, "xdg-state"),
        "XDG_DATA_HOME": os.path.join(tmp, "xdg-data"),
    }
    os.environ.update(env)
    os.environ.pop("JUPYTER_PLATFORM_DIRS", None)
    os.environ.pop("JPY_PARENT_PID", None)
    subprocess.run(
        [binary, "install", "--prefix", tmp, "--name", kutil.KERNEL_NAME,
         "--display-name", "IoT MicroPython (test)"],
        check=True, timeout=30, stdout=subprocess.DEVNULL,
    )
    os.environ["IOT_KERNEL_BIN"] = binary


def pytest_unconfigure(config):
    tmp = _STATE.pop("tmp", None)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def kernel_bin() -> str:
    """Absolute path of the kernel binary under test."""
    return os.environ["IOT_KERNEL_BIN"]


@pytest.fixture()
def km():
    """A started KernelManager for the installed spec; shut down afterwards."""
    m = kutil.start_manager()
    try:
        yield m
    finally:
        kutil.stop_manager(m)


@pytest.fixture()
def kc(km):
    """A blocking client of `km`, ready (kernel_info answered)."""
    c = km.client()
    c.start_channels()
    try:
        c.wait_for_ready(timeout=kutil.TIMEOUT)
        yield c
    finally:
        c.stop_channels()
