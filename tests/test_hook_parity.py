"""The hook and `ats install` must leave the same trust store behind, on
every family the hook can meet.

Both run one install core (system/_core.py; scripts/gen-hook inlines it into
the hook), but each feeds it its own way: the hook detects the family of '/'
from inside, finds its tool, reads what the store trusts and takes the lock
with its own few lines. This test is what fails if the two drift: two copies
of the same real root file system, one patched by `ats install --root`, the
other by the generated hook run as root inside it (chroot, the root's own
python3, no CMD), must end with identical trust-store files (type, mode,
owner, bytes or link target), manifest and tool runs.

The families, and what is real in each:
  debian  Debian 12 without the Amazon roots: its update-ca-certificates.
  alpine  Alpine 3.23 (musl python) without them: its update-ca-certificates.
  notool  Debian 12 with no CA package (python3-minimal): appends and hash links.
  rhel, suse, arch: no such root file system can be made here (no registry,
          no packages), so each is that Debian root given the family's
          layout: its os-release ID, and its tool where the family's tool
          lives. SUSE's tool is update-ca-certificates at Debian's own path,
          so it is Debian's real one; for RHEL (update-ca-trust extract) and
          Arch (trust extract-compat) the tool is a shell script that records
          its command line in the root, then runs Debian's real tool. What
          these three prove: the same family picked, the same anchors (path,
          mode, bytes), the same manifest, the same command line run.
          Debian's tool compiles none of these anchors, so `ats install`
          ends with exit 1 ("still not trusted after install") and the hook
          with its private bundle; both after the same changes.
          (tests/test_core_p11kit.py runs the host's p11-kit on such anchors.)

Its negative control: the same comparison with a hook whose copy of the core
records another fingerprint in the manifest must find the difference.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import HOOK, ats, hook_edited, tree_digest

pytestmark = pytest.mark.rootfs

TOOL_LOG = "/var/lib/ats-parity/tool.log"
# Everything a trust-store install may touch, on any family (and the tool log).
STORE_PATHS = (
    "etc/ssl",
    "usr/lib/ssl",
    "usr/local/share/ca-certificates",
    "etc/pki",
    "etc/ca-certificates",
    "var/lib/ca-certificates",
    "var/lib/ats-roots",
    "var/lib/ats-parity",
)
DEBIAN_TOOL = "/usr/sbin/update-ca-certificates"


def _shim(root: Path, inner: str) -> None:
    """The family's tool: records its command line, then runs Debian's real one."""
    path = root / inner.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> {TOOL_LOG}\nexec {DEBIAN_TOOL}\n')
    path.chmod(0o755)


def _as_family(os_release: str, tool: str | None):
    def prepare(root: Path) -> None:
        (root / "etc/os-release").unlink()
        (root / "usr/lib/os-release").write_text(os_release)
        (root / "etc/os-release").symlink_to("../usr/lib/os-release")
        (root / "var/lib/ats-parity").mkdir(parents=True)
        if tool:
            _shim(root, tool)

    prepare.__name__ = "as_" + os_release.split("\n")[0].split("=")[1].strip('"')
    return prepare


# family -> (base, prepare, the family the hook must say it used)
CASES = {
    "debian": ("debian-noamazon:bookworm", None, "debian"),
    "alpine": ("alpine-python-noamazon:3.23", None, "alpine"),
    "notool": ("debian-bare:bookworm", None, "notool"),
    "rhel": (
        "debian-noamazon:bookworm",
        _as_family('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "/usr/bin/update-ca-trust"),
        "rhel",
    ),
    "suse": (
        "debian-noamazon:bookworm",
        _as_family('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', None),
        "suse",
    ),
    "arch": (
        "debian-noamazon:bookworm",
        _as_family("ID=arch\n", "/usr/bin/trust"),
        "arch",
    ),
}


def store_digest(root: Path) -> dict[str, tuple]:
    """path -> (type, mode, owner, group, sha256 or link target) under STORE_PATHS."""
    return {
        os.path.join(top, path): entry
        for top in STORE_PATHS
        for path, entry in tree_digest(root / top).items()
    }


def run_hook(root: Path, hook_text: str) -> subprocess.CompletedProcess:
    """The hook as root inside root, by the root's own python3, patch only.
    A container always has /dev/null; an unpacked root may not."""
    (root / "tmp" / "ats-hook").write_text(hook_text)
    if not (root / "dev" / "null").exists():
        (root / "dev").mkdir(exist_ok=True)
        os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    python = "/usr/local/bin/python3" if (root / "usr/local/bin/python3").exists() else "python3"
    return subprocess.run(
        ["chroot", str(root), python, "/tmp/ats-hook"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ATS_HOOK_VERBOSE": "1",
        },
        check=False,
    )


def compare(rootfs, case: str, hook_text: str) -> list[str]:
    """Paths whose store entries differ after `ats install` and after the hook."""
    base, prepare, said = CASES[case]
    by_ats, by_hook = rootfs(base, prepare), rootfs(base, prepare)
    before = store_digest(by_ats)
    proc = ats("install", "--root", by_ats, timeout=300)
    if prepare is None:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:  # Debian's tool compiles none of the family's anchors: all written, none trusted
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "still not trusted after install" in proc.stderr, proc.stderr
    after_ats = store_digest(by_ats)
    assert after_ats != before, "ats install changed nothing: the comparison would be empty"
    if case in ("rhel", "arch"):  # the shim ran: its command lines are compared too
        assert TOOL_LOG.lstrip("/") in after_ats, sorted(after_ats)[:20]
    hooked = run_hook(by_hook, hook_text)
    assert hooked.returncode == 0, hooked.stderr
    assert f"added the Amazon roots to the system store ({said}: " in hooked.stderr, hooked.stderr
    after_hook = store_digest(by_hook)
    return sorted(
        p for p in set(after_ats) | set(after_hook) if after_ats.get(p) != after_hook.get(p)
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_hook_and_ats_install_agree(rootfs, case):
    differ = compare(rootfs, case, HOOK.read_text())
    assert not differ, f"hook and ats install differ on: {differ[:10]}"


def test_a_hook_whose_core_drifts_is_caught(rootfs):
    """Negative control: the hook's copy of the core records another
    fingerprint for each anchor; the comparison must see the manifest differ."""
    right = 'plan.manifest.append(record("anchor", inner, cert.sha256))'
    broken = hook_edited(right, right.replace("cert.sha256)", "cert.sha256[::-1])"))
    differ = compare(rootfs, "debian", broken)
    assert differ == ["var/lib/ats-roots/manifest"], differ


def test_a_refusal_is_the_same_refusal(rootfs):
    """Where the core refuses (a directory where an anchor goes), both refuse
    with the same line before any change: ats with exit 3, the hook by
    leaving the store as it was and making its private bundle instead."""

    def anchor_is_a_dir(root: Path) -> None:
        (root / "usr/local/share/ca-certificates/ats-AmazonRootCA1.crt").mkdir(parents=True)

    base = CASES["debian"][0]
    by_ats, by_hook = rootfs(base, anchor_is_a_dir), rootfs(base, anchor_is_a_dir)
    before = store_digest(by_ats)
    proc = ats("install", "--root", by_ats, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    why = "ats-AmazonRootCA1.crt: is a directory where ats writes a file; nothing was changed"
    assert line.startswith("ats: error: ") and line.endswith(why), proc.stderr
    hooked = run_hook(by_hook, HOOK.read_text())
    assert hooked.returncode == 0, hooked.stderr
    assert f"system store unchanged (/usr/local/share/ca-certificates/{why})" in hooked.stderr
    assert "private CA bundle" in hooked.stderr, hooked.stderr
    assert store_digest(by_ats) == before == store_digest(by_hook)
