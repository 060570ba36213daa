"""One conformance test of the declared family interface, run on every family
(the five tool families, no-tool, macOS and Windows), and the package
importing where there is no fcntl (Windows)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO, synthetic_root

from ats_roots.errors import EnvRefuses
from ats_roots.system import families, layout
from ats_roots.system.families import Family, NoTool
from ats_roots.system.openssl import OpenSSLPaths
from ats_roots.system.plan import Plan
from ats_roots.system.target import Target
from ats_roots.system.view import StoreView
from ats_roots.trust.certs import ats_certs

LINUX = {fam.name: fam for fam in (*families.TOOL_FAMILIES, NoTool())}
PLATFORM = {fam.name: fam for fam in families.PLATFORM_FAMILIES}
ALL = {**LINUX, **PLATFORM}


def _root_for(tmp_path, name: str) -> Target:
    """A synthetic root the family detects: its os-release ID and its tool."""
    lay = {lay.name: lay for lay in layout.TOOL_FAMILIES}.get(name)
    if lay is None:
        return Target(str(synthetic_root(tmp_path / "root", "ID=scratchy\n")))
    return Target(str(synthetic_root(tmp_path / "root", f"ID={lay.ids[0]}\n", lay.tools)))


def test_every_family_is_listed_and_named():
    assert sorted(ALL) == sorted(families.NAMES)


@pytest.mark.parametrize("name", sorted(ALL))
def test_family_implements_the_interface(name):
    assert isinstance(ALL[name], Family)


def test_the_interface_check_can_fail():
    class Half(Family):  # detect and plans, but no openssl() or verify()
        name = "half"

        def detect(self, target, os_ids):
            return False

        def plan_install(self, target, certs, trusted):
            return None

        def plan_uninstall(self, target):
            return None

    with pytest.raises(TypeError, match="abstract methods.*openssl"):
        Half()

    class Stranger:  # not declared a Family
        name = "stranger"

    assert not isinstance(Stranger(), Family)


@pytest.mark.parametrize("name", sorted(LINUX))
def test_linux_family_answers_every_question(tmp_path, name):
    fam = LINUX[name]
    target = _root_for(tmp_path, name)
    ids = (
        ["scratchy"]
        if name == "notool"
        else [{f.name: f for f in layout.TOOL_FAMILIES}[name].ids[0]]
    )
    assert fam.detect(target, ids) is True
    assert fam.detect(_root_for(tmp_path / "other", "notool"), ["scratchy"]) is (name == "notool")
    paths = fam.openssl(target)
    assert isinstance(paths, OpenSSLPaths) and paths.openssl_dir.startswith("/")
    assert paths.cafile == paths.openssl_dir + "/cert.pem"
    files = fam.store_files(target)
    assert files and all(f.startswith("/") for f in files)
    view = fam.verify(target)
    assert isinstance(view, StoreView) and view.trusted() == set()  # an empty store
    plan = fam.plan_install(target, ats_certs(), set())
    assert isinstance(plan, Plan) and plan.family == name and not plan.empty
    assert (fam.tool(target) is None) == (name == "notool")
    if fam.tool(target):
        assert plan.commands and plan.commands[-1][0] == fam.tool(target)
    undo = fam.plan_uninstall(target)
    assert isinstance(undo, Plan) and undo.empty  # nothing was installed


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_platform_family_plans_and_says_verify_is_not_available(name):
    fam = PLATFORM[name]
    here = Target("/")
    assert fam.detect(here, []) is False  # this machine is Linux
    plan = fam.plan_install(here, ats_certs(), set())
    assert len(plan.commands) == 5 and all(c[0] == fam.tool(here) for c in plan.commands)
    assert isinstance(fam.plan_uninstall(here), Plan)
    assert fam.openssl(here).openssl_dir == "" and fam.store_files(here) == []
    with pytest.raises(EnvRefuses, match="verify is not available"):
        fam.verify(here)


def test_openssl_dir_comes_from_the_targets_libcrypto_not_the_family(tmp_path):
    """A Debian-like root whose libcrypto was built for /opt/ssl: that is where
    its OpenSSL reads, whatever Debian's default; without it, the default."""
    lib = b'\x00junk\x00OPENSSLDIR: "/opt/ssl"\x00more'
    rel = "ID=debian\n"
    with_lib = synthetic_root(
        tmp_path / "a", rel, layout.DEBIAN.tools, {"/usr/lib/x86_64-linux-gnu/libcrypto.so.3": lib}
    )
    without = synthetic_root(tmp_path / "b", rel, layout.DEBIAN.tools)
    debian = LINUX["debian"]
    assert debian.openssl(Target(str(with_lib))) == (
        "/opt/ssl",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    )
    assert debian.openssl(Target(str(without))) == ("/usr/lib/ssl", None)


def test_package_imports_without_fcntl():
    """Windows has no fcntl: the package, the CLI and the families still import."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import ats_roots.cli, ats_roots.system.families, ats_roots.system.install\n"
        "import ats_roots._portable as p; assert p.fcntl is None\n"
        "print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    control = subprocess.run(
        [sys.executable, "-c", "import ats_roots._portable as p; print(p.fcntl)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "module 'fcntl'" in control.stdout  # on Linux it is the real one
