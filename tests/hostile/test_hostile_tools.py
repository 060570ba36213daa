"""The hostile-tree corpus, real Debian root file systems whose CA tool (or
layout) is hostile. `ats install` runs the target's update-ca-certificates
in a chroot: here it is a wrapper that first attacks, then runs the real
tool. What must hold (documented in README, "What runs and as whom"): the
tool gets PATH and LANG only, no stdin, a timeout (ATS_TOOL_TIMEOUT), and
new mount, PID, IPC and network namespaces, so that what it starts dies
with it, its mounts stay its own, /proc/1 is itself, and it reaches no
network. The host sentinel stays byte-identical in every case.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest
from corpus import Checker, link, make_sentinel
from helpers import ats, tree_digest

pytestmark = pytest.mark.rootfs
TOOL = "usr/sbin/update-ca-certificates"
REAL = "/usr/sbin/update-ca-certificates.real"


@pytest.fixture
def deb(rootfs):
    return rootfs("debian-noamazon:bookworm")


def hostile_tool(root, attack: str) -> None:
    tool = root / TOOL
    os.rename(tool, root / REAL.lstrip("/"))
    tool.write_text(f'#!/bin/sh\n{attack}\nexec {REAL} "$@"\n')
    tool.chmod(0o755)


def processes_with(word: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if word in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def install_then_verify(checker: Checker, env=None):
    checker.env = env
    checker.run(["install", "--root", str(checker.root)], 0)
    checker.run(["verify", "--root", str(checker.root)], 0)


def test_tool_that_forks_a_daemon(deb, tmp_path):
    host = make_sentinel(tmp_path)
    hostile_tool(deb, "(setsid sleep 3001 </dev/null >/dev/null 2>&1 &)")
    install_then_verify(Checker(deb, host))
    assert processes_with("sleep 3001") == []


def test_tool_that_sleeps_forever(deb, tmp_path):
    host = make_sentinel(tmp_path)
    hostile_tool(deb, "sleep 3002")
    checker = Checker(deb, host, env=dict(os.environ, ATS_TOOL_TIMEOUT="3"))
    checker.run(["install", "--root", str(deb)], 3, "ran longer than 3 s")
    assert processes_with("sleep 3002") == []


def test_tool_that_reads_the_environment(deb, tmp_path):
    host = make_sentinel(tmp_path)
    hostile_tool(deb, "env > /tmp/ats-env-dump")
    env = dict(os.environ, SECRET_TOKEN="hunter2-secret", AWS_SECRET_ACCESS_KEY="k")
    install_then_verify(Checker(deb, host), env)
    dump = (deb / "tmp/ats-env-dump").read_text()
    assert "hunter2-secret" not in dump and "AWS_SECRET" not in dump
    names = {line.split("=", 1)[0] for line in dump.splitlines() if "=" in line}
    assert names <= {"PATH", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}, names
    assert {"PATH", "LANG"} <= names  # positive control: the dump did happen


def test_tool_that_writes_outside_through_proc(deb, tmp_path):
    host = make_sentinel(tmp_path)
    target = f"{host}/var/lib/pwned"
    hostile_tool(
        deb,
        "mount -t proc proc /proc 2>/dev/null\n"
        f"for p in /proc/1/root /proc/self/root /proc/$PPID/root; do "
        f"echo pwned > \"$p{target}\" 2>/dev/null; done",
    )
    install_then_verify(Checker(deb, host))
    assert not os.path.ismount(deb / "proc"), "the tool's mount leaked to the host"


def test_tool_that_reaches_for_the_network(deb, tmp_path):
    host = make_sentinel(tmp_path)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    hits = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                hits.append(server.accept()[1])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    hostile_tool(deb, f"bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' 2>/dev/null")
    install_then_verify(Checker(deb, host))
    # Negative control: the same connection from outside the tool does arrive.
    # Accepted in order, so once it is, a connection the tool made (earlier)
    # would have been too; then the listener stops, not after a fixed wait.
    control = socket.create_connection(("127.0.0.1", port), timeout=5)
    mine = control.getsockname()
    deadline = time.monotonic() + 30
    while mine not in hits and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(30)
    control.close()
    server.close()
    assert hits == [mine], f"{hits}: only the control's connection ({mine}) may arrive"


def test_anchor_dir_linked_to_the_host(deb, tmp_path):
    host = make_sentinel(tmp_path)
    anchors = deb / "usr/local/share/ca-certificates"
    anchors.rmdir()
    link(deb, "/usr/local/share/ca-certificates", str(host / "usr/local/share/ca-certificates"))
    checker = Checker(deb, host)
    install_then_verify(checker)
    checker.run(["uninstall", "--root", str(deb)], 0)
    checker.run(["verify", "--root", str(deb)], 1)  # negative control: uninstall took them


def test_dev_linked_to_the_host(deb, tmp_path):
    """/dev a link to the host's: no /dev/null stand-in goes there, and since
    the tool would have none, install refuses before its first write."""
    host = make_sentinel(tmp_path)
    (host / "dev").mkdir()
    (host / "dev/null").write_text("")
    os.rename(deb / "dev", deb / "dev.orig")
    link(deb, "/dev", str(host / "dev"))
    checker = Checker(deb, host)
    checker.run(["install", "--root", str(deb)], 3, "so the tool would have no /dev/null")
    proc = checker.run(["install", "--root", str(deb), "--dry-run"], 0)
    assert "note: install would refuse:" in proc.stdout and "no /dev/null" in proc.stdout


def test_a_lock_held_past_the_timeout_names_its_holder(deb, tmp_path):
    import fcntl

    host = make_sentinel(tmp_path)
    assert ats("install", "--root", deb).returncode == 0
    os.unlink(deb / "usr/local/share/ca-certificates/ats-AmazonRootCA1.crt")
    before = tree_digest(deb)
    fd = os.open(deb / "var/lib/ats-roots/lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        checker = Checker(deb, host, env=dict(os.environ, ATS_LOCK_TIMEOUT="1"))
        proc = checker.run(["install", "--root", str(deb)], 3, f"held by pid {os.getpid()}")
        assert "for more than 1 s" in proc.stderr
    finally:
        os.close(fd)
    assert tree_digest(deb) == before
    Checker(deb, host).run(["install", "--root", str(deb)], 0)  # released: it goes through
