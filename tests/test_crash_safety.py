"""Crash safety of `ats install --root` on a real Debian root file system.

SIGKILL at ATS_CRASH_KILLS (default 50, as the issue asks) moments spread over a
whole install (a fixed seed, so a failure is reproduced by its moment); the kill
takes ats and everything running inside the target (the distro tool too),
as a power cut would. After each: every bundle parses and holds either the
old set of roots or the new one, never part of it, and a second install
converges to exactly the tree a clean install makes. Then the same for a
full disk (a small tmpfs: refused before the first write, the target
byte-identical) and for a read-only remount in the middle of a run.

Where a kill's time goes (Debian base, 2 cores): the second install (the real
update-ca-certificates, about 1 s even with nothing to do), the wait before the
kill (0.6 of an install on average), and comparing the whole tree (11,000
entries). So kills run ATS_CRASH_WORKERS at a time (default: two where there
are two cores), each on its own copy of the root, and the tree is compared by
hashing again only the files whose inode, size, mtime or ctime changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import ats, pem_shas, pinned_shas, require, require_root, tree_digest

pytestmark = pytest.mark.rootfs
BASE = "debian-noamazon:bookworm"
BUNDLES = ("etc/ssl/certs/ca-certificates.crt",)
# What an install (or the tool under it) changes; reset from the pristine copy.
MUTABLE = ("etc/ssl/certs", "usr/local/share/ca-certificates", "var/lib/ats-roots", "tmp", "dev")
KILLS = int(os.environ.get("ATS_CRASH_KILLS", "50"))
WORKERS = max(1, int(os.environ.get("ATS_CRASH_WORKERS", min(2, os.cpu_count() or 1))))
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


class Store:
    """store(root) again and again, as cheap as an lstat an entry: a regular
    file's hash is kept while its (inode, size, mtime, ctime) stay the same.
    Every write moves ctime, and nothing in userspace sets it back; the
    install that writes runs seconds after the last comparison, far past the
    kernel's timestamp tick, so a changed file is always hashed again."""

    def __init__(self, root):
        self.root = str(root)
        self.hashes: dict = {}

    def __call__(self) -> dict:
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            if rel_dir == "tmp" or rel_dir.startswith("tmp/"):
                continue
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, self.root)
                st = os.lstat(path)
                kind = stat.S_IFMT(st.st_mode)
                meta = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                if stat.S_ISLNK(st.st_mode):
                    body = os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    cached = self.hashes.get(rel)
                    if cached and cached[0] == key:
                        body = cached[1]
                    else:
                        with open(path, "rb") as f:
                            body = hashlib.sha256(f.read()).hexdigest()
                        self.hashes[rel] = (key, body)
                else:
                    body = None
                out[rel] = (*meta, body)
        return out


def roots_held(root) -> list[set]:
    pinned = set(pinned_shas())
    out = []
    for inner in BUNDLES:
        data = (root / inner).read_bytes()
        assert data.count(b"-----BEGIN") == data.count(b"-----END"), f"{inner}: cut in half"
        out.append(set(pem_shas(data)) & pinned)
    return out


def kill_everything_in(root, proc) -> None:
    """SIGKILL ats and everything it started or that runs inside the target, as
    a power cut would: all stopped first, and seen stopped (a stop is
    delivered later than kill() returns, and a process not yet stopped can
    still fork), again until no new one turns up, then all killed. By
    descent, not only by root: a child between its fork and its chroot still
    has the host's root, and one that outlived the kill would run the tool
    beside the next install."""
    stopped: set[int] = set()
    new = {proc.pid}
    while new:
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
        _wait_stopped(new)
        new = (_descendants(stopped) | _inside(root)) - stopped
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_stopped(pids: set[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        states = _processes()
        waiting = {p for p in waiting if p in states and states[p][1] not in "TtZX"}
        if waiting:
            time.sleep(0.001)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state), from /proc/PID/stat (the name may hold ')')."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(pid)] = (int(fields[1]), fields[0])
    return out


def _descendants(pids: set[int]) -> set[int]:
    parents = {p: ppid for p, (ppid, _) in _processes().items()}
    found, grew = set(pids), True
    while grew:
        more = {p for p, ppid in parents.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _inside(root) -> set[int]:
    """Processes whose root or cwd is inside the target."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for link in ("root", "cwd"):
            try:
                seen = os.readlink(f"/proc/{pid}/{link}")
            except OSError:
                continue
            if seen == str(root) or seen.startswith(f"{root}/"):
                found.add(int(pid))
    return found


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


def timed_installs(roots) -> float:
    """One clean install on every copy at once; how long the slowest took
    (the kills run as many at a time, so their moments are spread over an
    install made under the same load)."""
    start = time.monotonic()
    procs = [start_install(root) for root in roots]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode() + err.decode()
    return time.monotonic() - start


def kill_series(root, pristine, moments, took, old, new, reference) -> dict:
    """Reset, start an install, SIGKILL it at each moment, check, converge."""
    same = Store(root)
    assert same() == reference  # the cache starts from the clean install
    outcomes = {"old": 0, "new": 0}
    # How long an install takes under the load of now (the machine is shared):
    # each install after a kill that kept the old roots is a whole one.
    estimate = took
    for moment in moments:
        reset(root, pristine)
        proc = start_install(root)
        time.sleep(estimate * 1.2 * moment / 1000)
        kill_everything_in(root, proc)
        held = roots_held(root)
        assert held in (old, new), f"kill at {moment}/1000 of {estimate:.2f} s: {held}"
        outcomes["old" if held == old else "new"] += 1
        start = time.monotonic()
        again = ats("install", "--root", root)
        assert again.returncode == 0, f"kill at {moment}: {again.stdout}{again.stderr}"
        if held == old:
            estimate = (estimate + time.monotonic() - start) / 2
        assert same() == reference, f"kill at {moment}/1000: did not converge"
    return outcomes


def test_sigkill_at_random_moments_then_install_converges(rootfs, pristine):
    require_root("cp")
    clean = pristine(BASE)
    roots = [rootfs(BASE) for _ in range(WORKERS)]
    old = roots_held(roots[0])
    assert old == [set()]  # negative control: the base lacks them
    took = timed_installs(roots)
    reference = store(roots[0])
    new = roots_held(roots[0])
    assert new == [set(pinned_shas())]
    moments = sorted(random.Random(SEED).sample(range(1000), KILLS))
    start = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        series = [
            pool.submit(kill_series, root, clean, moments[i::WORKERS], took, old, new, reference)
            for i, root in enumerate(roots)
        ]
        outcomes = {"old": 0, "new": 0}
        for done in series:
            for key, count in done.result().items():
                outcomes[key] += count
    assert sum(outcomes.values()) == KILLS
    print(
        f"{KILLS} kills, {WORKERS} at a time, over installs of {took:.2f} s: bundle held "
        f"{outcomes}; {time.monotonic() - start:.1f} s"
    )


def test_a_tool_run_cut_between_its_links_and_its_bundle_is_run_again(debian):
    """Debian's tool makes its links and hash links, then moves its bundle into
    place: killed between the two, OpenSSL finds the roots through CApath while
    ca-certificates.crt lacks them. The mark the cut run leaves makes the next
    install run the tool again (the kill test above hit this one moment in a
    few runs, and said "did not converge")."""
    root, pristine = debian
    assert ats("install", "--root", root).returncode == 0
    bundle = root / BUNDLES[0]
    installed = bundle.read_bytes()
    shutil.copy2(pristine / BUNDLES[0], bundle)  # the bundle from before the tool's mv
    # control: without the mark, the links alone make the store look in place
    dry = ats("install", "--root", root, "--dry-run")
    assert dry.returncode == 0 and "nothing to do" in dry.stdout, dry.stdout
    (root / "var/lib/ats-roots/tool-running").write_bytes(b"")  # as the cut run left it
    again = ats("install", "--root", root)
    assert again.returncode == 0 and "update-ca-certificates" in again.stdout, again.stdout
    assert bundle.read_bytes() == installed
    assert not (root / "var/lib/ats-roots/tool-running").exists()


def test_the_cached_store_sees_every_change(debian):
    """Negative control of Store: a file rewritten with bytes of the same size
    (and its mtime put back) is hashed again; a removed entry and a changed
    link target are seen too."""
    root, _ = debian
    same = Store(root)
    first = same()
    assert first == store(root)
    target = root / "etc/debian_version"
    st = os.lstat(target)
    data = target.read_bytes()
    time.sleep(0.05)  # past the kernel's timestamp tick, as the installs always are
    target.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, same inode
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # the mtime put back
    changed = same()
    assert changed != first and changed == store(root)
    target.unlink()
    os.symlink("elsewhere", root / "etc/ats-test-link")
    assert same() == store(root) != changed


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
