"""The hook's private directory, attacked: another user plants
`ats-hook-<uid>` in the shared base directory as a link to a directory the
victim may write (a world-writable stand-in for the host's /etc). The hook
must not write through it: it makes a fresh private directory instead, and
its own files go in through the safe-path primitive (inlined by gen-hook)."""

from __future__ import annotations

import os
import shutil
import subprocess

from corpus import make_sentinel
from helpers import REPO, require, require_root, tree_digest

HOOK = REPO / "hooks" / "ats-hook"


def run_hook(base, *args):
    python = shutil.which("python3", path="/usr/bin:/bin")
    require(python is not None, "needs a system python3 for the hook")
    argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python,
            str(HOOK), "--private", "--dir", str(base), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_planted_private_dir_link_is_not_followed(public_tmp):
    require_root("setpriv")
    host = make_sentinel(public_tmp)
    target = host / "etc"
    os.chmod(target, 0o777)  # the attack would succeed if the hook followed the link
    base = public_tmp / "base"
    base.mkdir()
    os.chmod(base, 0o1777)
    os.symlink(str(target), base / "ats-hook-65534")
    before = tree_digest(host)
    proc = run_hook(base, "--", "true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tree_digest(host) == before
    fresh = [p for p in base.iterdir() if p.name.startswith("ats-hook-65534-")]
    assert len(fresh) == 1 and not fresh[0].is_symlink(), list(base.iterdir())
    # Negative control: with no link planted, the stable name itself is used.
    (base / "ats-hook-65534").unlink()
    proc = run_hook(base, "--", "true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (base / "ats-hook-65534").is_dir()
