"""Shared fixtures: real root file systems, unpacked once per session and
copied per test.

Tarballs come from scripts/build-bases (.cache/bases/manifest.json); for the
two Debian ones the tests can build their own with mmdebstrap into
.cache/test-rootfs/ (kept across runs). Tests marked `rootfs` skip when
that is impossible (not root, no tarball, no tool), and fail instead when
ATS_REQUIRE_ROOTFS=1, as CI sets it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import require, require_root

REPO = Path(__file__).resolve().parents[1]
BASES_MANIFEST = REPO / ".cache" / "bases" / "manifest.json"
OWN_TARS = REPO / ".cache" / "test-rootfs"
# What the tests can make themselves when build-bases has not run.
OWN_RECIPES = {
    "debian:bookworm": "ca-certificates,openssl",
    "debian-bare:bookworm": "openssl",
    "debian:bullseye": "ca-certificates,openssl",  # OpenSSL 1.1.1: tests/test_verify_as_openssl.py
}


def rootfs_tar(name: str) -> Path | None:
    try:
        entry = json.loads(BASES_MANIFEST.read_text())[name]
        tar = REPO / entry["tar"]
        if tar.is_file():
            return tar
    except (OSError, ValueError, KeyError):
        pass
    own = OWN_TARS / (name.replace(":", "-") + ".tar")
    if own.is_file():
        return own
    if name in OWN_RECIPES and shutil.which("mmdebstrap") and os.geteuid() == 0:
        OWN_TARS.mkdir(parents=True, exist_ok=True)
        # A partial name of this process's own: two xdist workers may build at once.
        partial = own.with_suffix(f".partial-{os.getpid()}")
        suite = name.split(":")[1]
        subprocess.run(
            ["mmdebstrap", "--quiet", "--format=tar", "--variant=minbase"]
            + [f"--include={OWN_RECIPES[name]}", suite, str(partial)],
            check=True,
        )
        partial.rename(own)
        return own
    return None


def _scratch_base() -> str | None:
    """tmpfs when there is room: copying a 200 MB tree there takes 0.5 s, not 4."""
    try:
        st = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and st.f_bavail * st.f_frsize > (4 << 30):
            return "/dev/shm"
    except OSError:
        pass
    return None


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    path = Path(tempfile.mkdtemp(prefix="ats-tests-", dir=_scratch_base()))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pristine(scratch):
    """pristine(name, prepare=None) -> an unpacked root, shared by the session:
    never change it; copy it with the `rootfs` fixture. prepare(dir) runs once."""
    made: dict = {}

    def get(name: str, prepare=None) -> Path:
        key = (name, getattr(prepare, "__name__", None))
        if key not in made:
            require_root("tar", "chroot")
            tar = rootfs_tar(name)
            require(tar is not None, f"no root file system tarball for {name}")
            dest = scratch / ("pristine-" + "-".join(filter(None, key)).replace(":", "-"))
            dest.mkdir()
            subprocess.run(
                ["tar", "-xpf", str(tar), "-C", str(dest), "--numeric-owner"], check=True
            )
            if prepare:
                prepare(dest)
            made[key] = dest
        return made[key]

    return get


@pytest.fixture
def rootfs(pristine, scratch):
    """rootfs(name, prepare=None) -> a fresh copy of a pristine root for this test."""
    copies = []

    def copy(name: str, prepare=None) -> Path:
        src = pristine(name, prepare)
        dest = Path(tempfile.mkdtemp(dir=scratch)) / "root"
        dest.parent.chmod(0o755)  # so that an unprivileged user can reach it
        subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
        copies.append(dest.parent)
        return dest

    yield copy
    for path in copies:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def public_tmp():
    """A temporary directory that an unprivileged user can reach (tmp_path
    lives under a 0700 directory of root's)."""
    path = Path(tempfile.mkdtemp(prefix="ats-public-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
