"""`iot-kernel install` writes a spec that jupyter_client finds and reads,
in each scope `jupyter kernelspec install` knows."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager

import kutil


def test_installed_spec_is_found_by_jupyter_client(kernel_bin):
    spec = KernelSpecManager().get_kernel_spec(kutil.KERNEL_NAME)
    assert spec.argv == [kernel_bin, "run", "-f", "{connection_file}"]
    assert spec.language == "python"
    assert spec.interrupt_mode == "message"
    files = os.listdir(spec.resource_dir)
    assert {"kernel.json", "logo-32x32.png", "logo-64x64.png"} <= set(files)
    with open(os.path.join(spec.resource_dir, "logo-64x64.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _cli(kernel_bin, *args, env):
    return subprocess.run([kernel_bin, *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture()
def isolated_env(tmp_path):
    """An environment whose every Jupyter location is under tmp_path."""
    env = dict(os.environ)
    for k in ("VIRTUAL_ENV", "CONDA_PREFIX", "XDG_DATA_HOME"):
        env.pop(k, None)
    env.update(HOME=str(tmp_path / "home"), JUPYTER_DATA_DIR=str(tmp_path / "user"),
               JUPYTER_PATH="")
    return env


@pytest.mark.parametrize("flags,where", [
    ([], "user/kernels"),
    (["--user"], "user/kernels"),
    (["--sys-prefix"], "venv/share/jupyter/kernels"),
    (["--prefix", "PFX"], "PFX/share/jupyter/kernels"),
])
def test_install_scopes_and_uninstall(kernel_bin, tmp_path, isolated_env, flags, where):
    env = isolated_env
    env["VIRTUAL_ENV"] = str(tmp_path / "venv")
    flags = [str(tmp_path / f) if f == "PFX" else f for f in flags]
    r = _cli(kernel_bin, "install", *flags, "--name", "Board-A", "--display-name", "Board A", env=env)
    assert r.returncode == 0, r.stderr
    spec_dir = tmp_path / where / "board-a"
    assert str(spec_dir) in r.stdout
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["display_name"] == "Board A" and spec["argv"][0] == kernel_bin

    # jupyter_client lists it when its data dir is searched.
    env2 = dict(env, JUPYTER_PATH=str(spec_dir.parent.parent))
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter_client.kernelspecapp", "list", "--json"],
        env=env2, capture_output=True, text=True, timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    specs = json.loads(listed.stdout)["kernelspecs"]
    assert specs["board-a"]["resource_dir"] == str(spec_dir)

    r = _cli(kernel_bin, "uninstall", *flags, "--name", "board-a", env=env)
    assert r.returncode == 0, r.stderr
    assert not spec_dir.exists()
    r = _cli(kernel_bin, "uninstall", *flags, "--name", "board-a", env=env)
    assert r.returncode != 0 and "no kernel spec" in r.stderr
    assert not (tmp_path / "home").exists(), "the real home layout was touched"


def test_sys_prefix_without_an_environment_explains(kernel_bin, isolated_env):
    r = _cli(kernel_bin, "install", "--sys-prefix", env=isolated_env)
    assert r.returncode != 0
    assert "VIRTUAL_ENV" in r.stderr


def test_conflicting_scopes_are_a_usage_error(kernel_bin, tmp_path, isolated_env):
    r = _cli(kernel_bin, "install", "--user", "--prefix", str(tmp_path), env=isolated_env)
    assert r.returncode == 2 and "only one" in r.stderr
