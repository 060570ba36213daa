"""Crash safety of `ats install --root` on a real Debian root file system.

SIGKILL at ATS_CRASH_KILLS (default 20; 50 take ten minutes) moments spread over a whole
install (a fixed seed, so a failure is reproduced by its moment); the kill
takes ats and everything running inside the target (the distro tool too),
as a power cut would. After each: every bundle parses and holds either the
old set of roots or the new one, never part of it, and a second install
converges to exactly the tree a clean install makes. Then the same for a
full disk (a small tmpfs: refused before the first write, the target
byte-identical) and for a read-only remount in the middle of a run.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from helpers import ats, pem_shas, pinned_shas, require, require_root, tree_digest

pytestmark = pytest.mark.rootfs
BASE = "debian-noamazon:bookworm"
BUNDLES = ("etc/ssl/certs/ca-certificates.crt",)
# What an install (or the tool under it) changes; reset from the pristine copy.
MUTABLE = ("etc/ssl/certs", "usr/local/share/ca-certificates", "var/lib/ats-roots", "tmp", "dev")
KILLS = int(os.environ.get("ATS_CRASH_KILLS", "20"))  # 50: about 10 minutes here
SEED = 20261201


def reset(root, pristine) -> None:
    for inner in MUTABLE:
        shutil.rmtree(root / inner, ignore_errors=True)
        if (pristine / inner).exists():
            subprocess.run(["cp", "-a", str(pristine / inner), str(root / inner)], check=True)


def store(root) -> dict:
    """The tree as a user compares it: everything but /tmp (the tool's own
    scratch files may stay there after a kill, as after any crash)."""
    return {k: v for k, v in tree_digest(root).items() if not k.startswith("tmp/")}


def roots_held(root) -> list[set]:
    pinned = set(pinned_shas())
    out = []
    for inner in BUNDLES:
        data = (root / inner).read_bytes()
        assert data.count(b"-----BEGIN") == data.count(b"-----END"), f"{inner}: cut in half"
        out.append(set(pem_shas(data)) & pinned)
    return out


def kill_everything_in(root, proc) -> None:
    """SIGKILL ats and every process whose root or cwd is inside the target."""
    with_root = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for link in ("root", "cwd"):
            try:
                if os.readlink(f"/proc/{pid}/{link}").startswith(str(root)):
                    with_root.append(int(pid))
            except OSError:
                pass
    for pid in [proc.pid, *with_root]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def remount_read_only(root) -> None:
    """The kernel refuses while a file there is open for writing: retry."""
    for _ in range(500):
        done = subprocess.run(["mount", "-o", "remount,bind,ro", str(root)], capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"could not remount {root} read-only: {done.stderr!r}")


def start_install(root):
    argv = [sys.executable, "-m", "ats_roots", "install", "--root", str(root)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def debian(rootfs, pristine):
    root = rootfs(BASE)
    return root, pristine(BASE)


def test_sigkill_at_random_moments_then_install_converges(debian):
    require_root("cp")
    root, pristine = debian
    old = roots_held(root)
    assert old == [set()]  # negative control: the base lacks them
    start = time.monotonic()
    assert ats("install", "--root", root).returncode == 0
    took = time.monotonic() - start
    reference = store(root)
    new = roots_held(root)
    assert new == [set(pinned_shas())]
    moments = random.Random(SEED).sample(range(1000), KILLS)
    outcomes = {"old": 0, "new": 0}
    for n, moment in enumerate(sorted(moments)):
        reset(root, pristine)
        proc = start_install(root)
        time.sleep(took * 1.2 * moment / 1000)
        kill_everything_in(root, proc)
        held = roots_held(root)
        assert held in (old, new), f"kill {n} at {moment}/1000 of {took:.2f} s: {held}"
        outcomes["old" if held == old else "new"] += 1
        again = ats("install", "--root", root)
        assert again.returncode == 0, f"kill {n} at {moment}: {again.stdout}{again.stderr}"
        assert store(root) == reference, f"kill {n} at {moment}/1000: did not converge"
    print(f"{KILLS} kills over {took:.2f} s: bundle held {outcomes}")


def test_full_disk_is_refused_before_the_first_write(debian, tmp_path):
    require_root("mount", "umount", "cp")
    root, _ = debian
    anchors = root / "usr/local/share/ca-certificates"
    small = tmp_path / "small"
    small.mkdir()
    # 64 KiB: the five anchors fit, ats's margin for a bundle rewritten does not.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(anchors)], check=True)
    try:
        before = tree_digest(root)
        proc = ats("install", "--root", root)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "no space left" in proc.stderr and "nothing was changed" in proc.stderr
        assert tree_digest(root) == before
    finally:
        subprocess.run(["umount", str(anchors)], check=True)
    # Control: with room, the same command installs.
    assert ats("install", "--root", root).returncode == 0
    assert roots_held(root) == [set(pinned_shas())]


def test_read_only_remount_in_the_middle_of_a_run(debian):
    require_root("mount", "umount", "cp")
    root, pristine = debian
    probe = subprocess.run(["mount", "--bind", str(root), str(root)], capture_output=True)
    require(probe.returncode == 0, f"bind mounts do not work here: {probe.stderr!r}")
    try:
        start = time.monotonic()
        assert ats("install", "--root", root).returncode == 0
        took = time.monotonic() - start
        reference = store(root)
        old, new = [set()], [set(pinned_shas())]
        codes = set()
        for moment in (0.05, 0.3, 0.5, 0.7, 0.9):
            reset(root, pristine)
            proc = start_install(root)
            time.sleep(took * moment)
            remount_read_only(root)
            out, err = proc.communicate(timeout=120)
            codes.add(proc.returncode)
            if proc.returncode:
                lines = err.decode().splitlines()
                assert proc.returncode == 3 and len(lines) == 1, err
                assert lines[0].startswith("ats: error: "), err
            assert roots_held(root) in (old, new), f"at {moment}"
            subprocess.run(["mount", "-o", "remount,bind,rw", str(root)], check=True)
            assert ats("install", "--root", root).returncode == 0
            assert store(root) == reference, f"remount at {moment}: did not converge"
        print(f"exit codes when remounted read-only mid-run: {sorted(codes)}")
    finally:
        subprocess.run(["umount", str(root)], check=False)
