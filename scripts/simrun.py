"""Run a notebook on virtual boards with the world it expects: every board
name it uses is a virtual board (`esp32`, the devices file's default, among
them), the remote web hosts it reads are local stand-ins (webhosts), and a
cell that serves web pages gets its requests and then its stop (serverpoke).

A cell says it serves pages with metadata `iot.serve: {"port": 8080,
"paths": ["/", "/favicon.ico"]}`.
"""
from __future__ import annotations

import contextlib
import pathlib

import harness
import serverpoke
import webhosts

# The board names the shipped notebooks use; each is a fresh virtual board.
NAMES = ("esp32", "board")


@contextlib.contextmanager
def environment(kernel_bin: str):
    """Stand-in web hosts plus a private Jupyter set-up whose devices file
    makes every name in NAMES a virtual board; yields the hosts."""
    with webhosts.serve() as hosts:
        devices = {n: {"url": f"sim:{n}", "hosts": hosts.host_map()} for n in NAMES}
        with harness.jupyter_env(kernel_bin, devices, default=NAMES[0]):
            yield hosts


def execute(path: pathlib.Path, nb=None, timeout: int = 120):
    """Execute the notebook (inside environment()); returns it and, per
    serving cell, the answers its requests got."""
    pokes = []

    def on_cell(client, cell):
        serve = cell.get("metadata", {}).get("iot", {}).get("serve")
        if serve:
            pokes.append(serverpoke.Poke(client.km.connection_file, serve["port"], serve["paths"]))

    nb = harness.execute_notebook(path, timeout=timeout, nb=nb, on_cell=on_cell)
    return nb, [p.join() for p in pokes]
