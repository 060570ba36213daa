"""RHEL, Arch and SUSE compile their stores with p11-kit. Their tools
(update-ca-trust, trust extract-compat, SUSE's update-ca-certificates) cannot
run here: no such root file system can be made on this host (no RHEL, Arch or
SUSE packages are reachable), and a hand-written stand-in would test nothing.

What is real: the host's own p11-kit `trust`, pointed at the synthetic root's
source directory exactly as each distro's p11-kit is built to read it
(--with-trust-paths: /etc/pki/ca-trust/source, /etc/ca-certificates/trust-source,
/etc/pki/trust), reads the anchors `ats` wrote and extracts them as CA
anchors, which is the first thing each distro's tool does. The tool's command
line is checked as planned, and the rest of the plan is applied for real."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import pem_shas, pinned_shas, require, require_root, synthetic_root

from ats_roots.system import families
from ats_roots.system.plan import apply
from ats_roots.system.target import Target
from ats_roots.trust.certs import ats_certs

pytestmark = pytest.mark.rootfs

MODULE_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")
CASES = {
    "rhel": (
        'ID="rocky"\nID_LIKE="rhel centos fedora"\n',
        "/usr/bin/update-ca-trust",
        ["extract"],
        "/etc/pki/ca-trust/source",
    ),
    "arch": (
        "ID=arch\n",
        "/usr/bin/trust",
        ["extract-compat"],
        "/etc/ca-certificates/trust-source",
    ),
    "suse": (
        'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n',
        "/usr/sbin/update-ca-certificates",
        [],
        "/etc/pki/trust",
    ),
}


def p11_anchors(source: Path, work: Path) -> set[str]:
    """SHA-256 of every CA anchor the host's p11-kit trust module finds in
    source (and nowhere else: its module config is replaced in a private
    mount namespace)."""
    mods = work / "modules"
    shutil.rmtree(mods, ignore_errors=True)
    mods.mkdir(parents=True)
    (mods / "p11-kit-trust.module").write_text(
        "module: p11-kit-trust.so\npriority: 1\ntrust-policy: yes\n"
        f"x-init-reserved: paths={source}\n"
    )
    out = work / "anchors.pem"
    out.unlink(missing_ok=True)
    binds = " && ".join(f'mount --bind "$1" {d}' for d in MODULE_DIRS if Path(d).is_dir())
    script = (
        f"{binds} && trust extract --format=pem-bundle --filter=ca-anchors "
        '--purpose=server-auth --overwrite "$2"'
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(mods), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return set(pem_shas(out.read_bytes())) if out.exists() else set()


@pytest.fixture(scope="module")
def p11kit():
    require_root("trust", "unshare")
    require(
        any(Path(d, "p11-kit-trust.module").exists() for d in MODULE_DIRS),
        "the host has no p11-kit trust module",
    )


@pytest.mark.parametrize("family", sorted(CASES))
def test_p11_kit_reads_the_anchors_ats_writes(p11kit, tmp_path, family):
    os_release, tool, args, source = CASES[family]
    root = synthetic_root(tmp_path / "root", os_release, tools=[tool])
    target = Target(str(root))
    fam = families.detect(target)
    assert fam.name == family
    source_dir = root / source.lstrip("/")
    source_dir.mkdir(parents=True, exist_ok=True)
    assert p11_anchors(source_dir, tmp_path) == set()  # negative control

    plan = fam.plan_install(target, ats_certs(), set())
    assert plan.commands == [[tool, *args]]
    plan.commands.clear()  # the distro's tool: see the module docstring
    apply(plan)
    assert p11_anchors(source_dir, tmp_path) == set(pinned_shas())

    plan = fam.plan_uninstall(target)
    assert plan.commands == [[tool, *args]]
    plan.commands.clear()
    apply(plan)
    assert p11_anchors(source_dir, tmp_path) == set()
