"""The four reproductions of issue 9, as a new user met them, each a test
that failed before the safe-path primitive and the check-before-change
install, and passes now. (The third, the patch layer, is
test_hostile_images.py::test_tool_turns_a_directory_into_a_link_to_the_host.)
"""

from __future__ import annotations

import os
import subprocess

import pytest
from corpus import Checker, debian_notool, link, make_sentinel
from helpers import ats, tree_digest


def test_1_var_lib_linked_outside_keeps_lock_and_manifest_inside(tmp_path):
    """DIR/var/lib -> a directory outside DIR: the lock and the manifest
    used to be created outside DIR."""
    host = make_sentinel(tmp_path)
    root = debian_notool(tmp_path / "root")
    link(root, "/var/lib", str(host / "var/lib"))
    Checker(root, host).run(["install", "--root", str(root)], 0)
    assert not (host / "var/lib/ats-roots").exists()
    inside = root / str(host / "var/lib/ats-roots").lstrip("/")  # where the target sees it
    assert (inside / "manifest").is_file() and (inside / "lock").is_file()


def test_1_a_long_chain_of_links_no_longer_lands_outside(tmp_path):
    """41+ links made the old resolve() give up and hand back a path that
    still held a link, and the write followed it out of DIR."""
    host = make_sentinel(tmp_path)
    root = debian_notool(tmp_path / "root")
    for i in range(45):
        link(root, f"/var/l{i}", f"l{i + 1}")
    link(root, "/var/l45", str(host / "var/lib"))
    link(root, "/var/lib", "l0")
    Checker(root, host).run(["install", "--root", str(root)], 3, "more than 40 symbolic links")
    assert not (host / "var/lib/ats-roots").exists()


@pytest.mark.rootfs
def test_2_read_only_commands_run_nothing_from_the_target(rootfs, tmp_path):
    """verify, install --dry-run and audit used to execute the tree's own
    openssl/python3 through chroot as root, with the caller's environment."""
    root = rootfs("debian-bare:bookworm")
    for tool in ("usr/bin/openssl", "usr/bin/python3"):
        path = root / tool
        real = None
        if path.exists():
            real = root / (tool + ".real")
            os.rename(path, real)
        name = os.path.basename(tool)
        rest = f'exec /{tool}.real "$@"' if real else "exit 0"
        path.write_text(f"#!/bin/sh\nenv > /tmp/ran-{name}\n{rest}\n")
        path.chmod(0o755)
    env = dict(os.environ, SECRET_TOKEN="s3cr3t-from-the-caller")
    for args in (["verify"], ["install", "--dry-run"], ["audit"]):
        proc = ats(*args, "--root", root, env=env)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        assert sorted(p.name for p in (root / "tmp").glob("ran-*")) == [], args
    # Negative control: the marker scripts do run when something runs them.
    subprocess.run(["chroot", str(root), "/usr/bin/openssl", "version"], check=True,
                   capture_output=True, env=env, timeout=30)
    assert "s3cr3t-from-the-caller" in (root / "tmp/ran-openssl").read_text()


@pytest.mark.rootfs
def test_4_not_root_owner_gets_exit_3_and_nothing_changed(rootfs, tmp_path):
    """A non-root user who owns the tree used to get the anchors and the
    manifest written, then exit 3."""
    root = rootfs("debian-noamazon:bookworm")
    subprocess.run(["chown", "-R", "65534:65534", str(root)], check=True)
    os.chmod(root.parent, 0o755)
    before = tree_digest(root)
    proc = ats("install", "--root", root, user="65534")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "not root, so cannot chroot" in proc.stderr and "nothing was changed" in proc.stderr
    assert tree_digest(root) == before
    # Positive control: as root the same tree installs.
    assert ats("install", "--root", root).returncode == 0
    assert tree_digest(root) != before
