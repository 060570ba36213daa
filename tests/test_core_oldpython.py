"""The install core under the oldest Pythons the hook runs on (3.6, 3.7):
the generated hook's own copy of system/_core.py plans and applies a no-tool
install on a synthetic root, and leaves what `ats install --family notool`
(this Python, the package's copy) leaves on another copy of that root.

The hook only reaches its core as root on a writable store, which the hook's
own tests under old Pythons never are (they run it unprivileged); this runs
the core there directly, through the hook's loader (core())."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from helpers import REPO, ats, make_ca, need, tree_digest

HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"
OLD_PYTHONS = {
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python3",
    "3.7": "/root/.pyenv/versions/3.7.16/bin/python3",
}
# The hook's parts loaded as it loads them, then its core on ROOT (argv[2]).
SCRIPT = r"""
import runpy, sys
ns = runpy.run_path(sys.argv[1], run_name="ats_hook_under_test")["need"].__globals__
for part in ("fast", "settle", "full"):
    ns["need"](part)
C = ns["core"]()
target = C.Local(sys.argv[2])
ossl = C.openssl_dir(target)[0]
plan = C.notool_plan(C.Plan("notool", target), target, ossl, ossl + "/certs", ns["ROOT_CERTS"])
C.preflight(plan)
C.apply(plan, checked=True)
print("\n".join(plan.lines()))
"""


def _root(path, site_ca: bytes):
    """A root with no tool: a bundle with one CA and no final newline."""
    (path / "etc/ssl/certs").mkdir(parents=True)
    (path / "etc/os-release").write_text("ID=scratchy\n")
    (path / "etc/ssl/cert.pem").write_bytes(site_ca.rstrip(b"\n"))
    return path


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_the_hooks_core_under_old_python_does_what_ats_does(tmp_path, version):
    python = OLD_PYTHONS[version]
    need(os.path.exists(python), f"no python {version} at {python}", "OLD_PYTHON")
    site_ca = make_ca(tmp_path / "site.pem").read_bytes()
    by_hook = _root(tmp_path / "hook", site_ca)
    by_ats = tmp_path / "ats"
    shutil.copytree(by_hook, by_ats, symlinks=True)
    before = tree_digest(by_hook)
    proc = subprocess.run([python, "-c", SCRIPT, str(HOOK), str(by_hook)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "family: notool" in proc.stdout and "write /etc/ssl/cert.pem" in proc.stdout
    done = ats("install", "--root", by_ats, "--family", "notool")
    assert done.returncode == 0, done.stdout + done.stderr
    after_hook, after_ats = tree_digest(by_hook), tree_digest(by_ats)
    assert after_hook != before  # the negative control: the comparison is not of two no-ops
    after_ats.pop("var/lib/ats-roots/lock")  # ats's lock; the script takes none
    assert after_hook == after_ats
