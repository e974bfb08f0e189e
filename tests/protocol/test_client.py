"""jupyter_client and raw ZeroMQ clients against the kernel: stuck iopub
subscribers, concurrent heartbeats, connection churn, parent death,
restart/shutdown, signals and very large messages."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import zmq

import kutil
from kutil import TIMEOUT


def _url(info: dict, port_key: str) -> str:
    return f"{info['transport']}://{info['ip']}:{info[port_key]}"


def _conn_info(km) -> dict:
    return km.get_connection_info(session=False)


# (a) ---------------------------------------------------------------------

def test_stuck_iopub_subscriber_does_not_stall_other_clients(km, kc):
    """A subscriber that connects and never reads must not cost another
    client any output. Each execute echoes 50 KB of code as execute_input,
    so the stuck subscriber falls some 10 MB behind: more than socket
    buffers absorb, and far past zmq4's PUB stall at about 2 MB."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 1)
    sub.setsockopt(zmq.RCVBUF, 4096)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(_url(_conn_info(km), "iopub_port"))
    try:
        # Make sure it is really subscribed before it stops reading: kernel_info
        # publishes busy/idle, which it must see once.
        deadline = time.monotonic() + TIMEOUT
        while not sub.poll(0):
            assert time.monotonic() < deadline, "the extra subscriber never received anything"
            kc.kernel_info()
            sub.poll(200)
        kutil.drain(kc.get_shell_msg)
        kutil.drain(kc.get_iopub_msg)

        n = 200
        code = "# " + "x" * 50_000 + "\nprint('cell')"
        ids = [kc.execute(code, stop_on_error=False) for _ in range(n)]
        want = set(ids)
        replies, errors, idles = {}, {}, {}
        deadline = time.monotonic() + 120
        while len(replies) < n or len(idles) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"after 120 s: {len(replies)} replies, {len(errors)} errors, {len(idles)} idle"
            for msg in kutil.drain(kc.get_iopub_msg, timeout=0.05):
                pid = msg["parent_header"].get("msg_id")
                if pid not in want:
                    continue
                if msg["msg_type"] == "error":
                    errors[pid] = errors.get(pid, 0) + 1
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idles[pid] = idles.get(pid, 0) + 1
            for msg in kutil.drain(kc.get_shell_msg, timeout=0.001):
                pid = msg["parent_header"].get("msg_id")
                if pid in want:
                    replies[pid] = msg["content"]["status"]
        assert set(replies.values()) == {"error"}
        assert len(errors) == n and set(errors.values()) == {1}
        assert len(idles) == n and set(idles.values()) == {1}

        reply = kc.kernel_info(reply=True, timeout=TIMEOUT)
        assert reply["content"]["status"] == "ok"
    finally:
        sub.close(linger=0)
        ctx.term()


# (b) ---------------------------------------------------------------------

def test_concurrent_heartbeats(km):
    url = _url(_conn_info(km), "hb_port")
    ctx = zmq.Context()
    failures: list[str] = []

    def client(i: int):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(url)
        try:
            for j in range(20):
                ping = f"ping {i} {j}".encode()
                s.send(ping)
                if not s.poll(TIMEOUT * 1000):
                    failures.append(f"client {i}: no pong to ping {j}")
                    return
                pong = s.recv()
                if pong != ping:
                    failures.append(f"client {i}: sent {ping!r}, got {pong!r}")
                    return
        finally:
            s.close(linger=0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT + 5)
    ctx.term()
    assert not any(t.is_alive() for t in threads)
    assert failures == []


# (c) ---------------------------------------------------------------------

def test_connect_execute_disconnect_cycles_do_not_leak_fds(km):
    pid = kutil.kernel_pid(km)

    def cycle():
        ctx = kutil.client_context()
        c = km.client(context=ctx)
        # No heartbeat channel: on 7.4 its thread makes its socket lazily
        # and can race the context's destruction.
        c.start_channels(hb=False)
        try:
            reply = c.execute("print(1)", reply=True, timeout=TIMEOUT)
            assert reply["content"]["status"] == "error"  # no board
        finally:
            c.stop_channels()
            ctx.destroy(linger=0)

    for _ in range(5):  # warm up: lazily created fds and threads
        cycle()
    before = kutil.fd_count(pid)
    for _ in range(100):
        cycle()
    # The kernel notices closed connections asynchronously: poll, bounded.
    slack = 4
    deadline = time.monotonic() + 10
    after = kutil.fd_count(pid)
    while after > before + slack and time.monotonic() < deadline:
        time.sleep(0.1)
        after = kutil.fd_count(pid)
    assert after <= before + slack, f"open fds grew from {before} to {after} over 100 cycles"


# (d) ---------------------------------------------------------------------

LAUNCHER = r"""
import os, subprocess, sys
mode, log, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
env = dict(os.environ)
env.pop("JPY_PARENT_PID", None)
if mode in ("jpy", "wrapper"):
    env["JPY_PARENT_PID"] = str(os.getpid())
if mode == "wrapper":
    # A shell in between that outlives us: the kernel keeps its parent and
    # only JPY_PARENT_PID tells it the launcher is gone.
    argv = ["/bin/sh", "-c", '"$@"; exit 0', "sh"] + argv
p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
print(p.pid, flush=True)
sys.stdin.read()   # the test says when to die
os._exit(0)        # no cleanup: the kernel is orphaned
"""


@pytest.mark.parametrize("mode", ["ppid", "jpy", "wrapper"])
def test_kernel_exits_when_its_parent_dies(kernel_bin, tmp_path, mode):
    from jupyter_client.connect import write_connection_file

    conn_file, info = write_connection_file(str(tmp_path / "conn.json"), ip="127.0.0.1",
                                            key=os.urandom(16).hex().encode())
    log = tmp_path / "kernel.log"
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, mode, str(log), kernel_bin, "run", "-f", conn_file],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    pids: list[int] = []
    kc = None
    try:
        child = int(kutil.read_line(launcher.stdout))
        pids.append(child)
        # Once the kernel answers, it has recorded who its parent is.
        from jupyter_client import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(info)
        kc.start_channels()
        kc.wait_for_ready(timeout=TIMEOUT)
        kc.stop_channels()
        kc = None
        kpid = child
        if mode == "wrapper":
            kids = kutil.children(child)
            assert len(kids) == 1, f"shell {child} has children {kids}"
            kpid = kids[0]
            pids.append(kpid)

        launcher.stdin.close()
        assert launcher.wait(timeout=TIMEOUT) == 0
        assert kutil.wait_gone(kpid, 5), f"kernel {kpid} still running 5 s after its launcher died"
        assert "parent" in log.read_text(errors="replace")
    finally:
        if kc is not None:
            kc.stop_channels()
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=TIMEOUT)
        for pid in reversed(pids):
            kutil.kill_pid(pid)


# (e) ---------------------------------------------------------------------

def test_restart_then_graceful_shutdown():
    km = kutil.start_manager()
    kc = None
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=TIMEOUT)
        old = kutil.kernel_process(km)

        km.restart_kernel(now=False)
        assert old.wait(timeout=TIMEOUT) == 0, "old kernel did not exit cleanly on restart"
        new = kutil.kernel_process(km)
        assert new.pid != old.pid and km.is_alive()

        # The same client, on the same ports, reaches the new kernel.
        kc.wait_for_ready(timeout=TIMEOUT)
        reply = kc.kernel_info(reply=True, timeout=TIMEOUT)
        assert reply["content"]["status"] == "ok"
        # A fresh kernel: its execution counter starts again.
        r = kc.execute("", reply=True, timeout=TIMEOUT)
        assert r["content"]["status"] == "ok" and r["content"]["execution_count"] <= 1

        kc.stop_channels()
        kc = None
        km.shutdown_kernel(now=False)
        assert new.poll() == 0, f"kernel exit status {new.poll()} after shutdown_request"
        assert not km.is_alive()
    finally:
        if kc is not None:
            kc.stop_channels()
        kutil.stop_manager(km)


@pytest.fixture()
def raw(kernel_bin):
    """A kernel started from a connection file, and a ready client of it;
    both stopped afterwards."""
    k = kutil.RawKernel(kernel_bin)
    kc = None
    try:
        kc = k.client()
        yield k, kc
    finally:
        if kc is not None:
            kc.stop_channels()
        k.stop()


def test_shutdown_request_from_a_client_ends_the_process(raw):
    k, kc = raw
    reply = kutil.request(kc, "control", "shutdown_request", {"restart": False})
    assert reply["content"]["status"] == "ok" and reply["content"]["restart"] is False
    assert k.proc.wait(timeout=TIMEOUT) == 0


# signals and interrupts ------------------------------------------------------

def test_sigint_interrupts_and_does_not_kill(raw):
    k, kc = raw
    os.kill(k.pid, signal.SIGINT)
    reply = kc.kernel_info(reply=True, timeout=TIMEOUT)
    assert reply["content"]["status"] == "ok"
    assert k.proc.poll() is None


def test_interrupt_request_is_answered_on_control(raw):
    _, kc = raw
    reply = kutil.request(kc, "control", "interrupt_request")
    assert reply["msg_type"] == "interrupt_reply"
    assert reply["content"]["status"] == "ok"
    assert kc.kernel_info(reply=True, timeout=TIMEOUT)["content"]["status"] == "ok"


def test_sigterm_shuts_down_cleanly(raw):
    k, _ = raw
    k.proc.terminate()
    assert k.proc.wait(timeout=TIMEOUT) == 0, k.stderr()


# (f) ---------------------------------------------------------------------

def test_8mib_execute_request(km, kc):
    code = "#" * (8 << 20)
    reply, outputs = kutil.execute(kc, code, timeout=120)
    assert reply["content"]["status"] == "ok"  # a comment needs no board
    inputs = [m for m in outputs if m["msg_type"] == "execute_input"]
    assert len(inputs) == 1 and len(inputs[0]["content"]["code"]) == len(code)
    assert km.is_alive()
    assert kc.kernel_info(reply=True, timeout=TIMEOUT)["content"]["status"] == "ok"


def test_cell_over_the_message_limit_gets_an_error_reply(kernel_bin):
    # The kernel drops the content; the notebook must still learn why,
    # instead of showing the cell as running forever.
    k = kutil.RawKernel(kernel_bin, env={"IOT_MAX_MESSAGE_MB": "1"})
    kc = None
    try:
        kc = k.client()
        reply, outputs = kutil.execute(kc, "#" * (2 << 20))
        c = reply["content"]
        assert c["status"] == "error" and c["ename"] == "MessageTooLarge", c
        assert c["evalue"].startswith("the cell is 2 MiB, over the kernel's limit of 1 MiB: split it,"), c
        assert "IOT_MAX_MESSAGE_MB=3" in c["evalue"], c
        assert [m["msg_type"] for m in outputs] == ["status", "error", "status"], outputs
        assert outputs[1]["content"]["evalue"] == c["evalue"]
        after, _ = kutil.execute(kc, "# small")
        assert after["content"]["status"] == "ok", after["content"]
        assert "over the limit" in k.stderr()
    finally:
        if kc is not None:
            kc.stop_channels()
        k.stop()


def test_answer_over_the_message_limit_ends_the_input(kernel_bin):
    # An input() whose answer the kernel cannot take raises on the board,
    # saying why, instead of waiting for an answer that will not come.
    k = kutil.RawKernel(kernel_bin, env={"IOT_MAX_MESSAGE_MB": "1"})
    kc = None
    try:
        kc = k.client()
        reply, _ = kutil.execute(kc, "%connect -q sim:answer")
        assert reply["content"]["status"] == "ok", reply["content"]
        msg_id = kc.execute("name = input('Name? ')", allow_stdin=True)
        req = kc.get_stdin_msg(timeout=kutil.TIMEOUT)
        assert req["msg_type"] == "input_request" and req["content"]["prompt"] == "Name? ", req
        kc.input("y" * (2 << 20))
        deadline = time.monotonic() + kutil.TIMEOUT
        while True:
            m = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if m["parent_header"].get("msg_id") == msg_id:
                break
        c = m["content"]
        assert c["status"] == "error" and c["ename"] == "EOFError", c
        assert c["evalue"].startswith("the answer to input() is 2 MiB, over the kernel's limit of 1 MiB: raise"), c
        kc.execute("input('Again? ')", allow_stdin=True)
        assert kc.get_stdin_msg(timeout=kutil.TIMEOUT)["content"]["prompt"] == "Again? "
        kc.input("fine")
        after, _ = kutil.execute(kc, "name = 'x'\nname")
        assert after["content"]["status"] == "ok", after["content"]
    finally:
        if kc is not None:
            kc.stop_channels()
        k.stop()


def _text(outputs: list[dict]) -> str:
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


def test_restart_reattaches_the_board_a_new_kernel_does_not():
    """Without a session name from the server (jupyter console, nbclient and
    papermill give none), a restarted kernel connects the board it had, and
    a new kernel does not connect the board another kernel used last."""
    km = kutil.start_manager()
    km2 = None
    kcs = []
    try:
        kc = km.client()
        kc.start_channels()
        kcs.append(kc)
        kc.wait_for_ready(timeout=TIMEOUT)
        reply, _ = kutil.execute(kc, "%connect -q sim:kept\nx = 41")
        assert reply["content"]["status"] == "ok", reply["content"]

        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=TIMEOUT)
        reply, outputs = kutil.execute(kc, "print('back')")
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "sim:kept" in _text(outputs) and "back" in _text(outputs), _text(outputs)
        kc.stop_channels()
        kcs.remove(kc)
        km.shutdown_kernel(now=False)

        km2 = kutil.start_manager()
        kc2 = km2.client()
        kc2.start_channels()
        kcs.append(kc2)
        kc2.wait_for_ready(timeout=TIMEOUT)
        reply, outputs = kutil.execute(kc2, "1 + 1")
        assert "sim:kept" not in _text(outputs), "a new kernel connected another kernel's board"
        assert reply["content"]["status"] == "error", reply["content"]  # no board: the tests' devices file names none
    finally:
        for c in kcs:
            c.stop_channels()
        for m in (km, km2):
            if m is not None:
                kutil.stop_manager(m)


def test_user_expressions_are_evaluated_on_the_board(kc):
    """execute_request's user_expressions come back evaluated after the
    cell, on the board, as IPython does: a value or the error it raised."""
    reply, _ = kutil.execute(kc, "%connect -q sim:expr\ny = 4",
                             user_expressions={"a": "y * 10", "b": "1/0"})
    c = reply["content"]
    assert c["status"] == "ok", c
    ue = c["user_expressions"]
    assert ue["a"]["status"] == "ok" and ue["a"]["data"]["text/plain"] == "40", ue
    assert ue["b"]["status"] == "error" and ue["b"]["ename"] == "ZeroDivisionError", ue
