"""The hostile-tree corpus, synthetic trees: each case a small tree built
here that aims a write at the host sentinel (or at ats itself), run through
install --dry-run, verify, install, verify, uninstall and audit (see
corpus.py for the three assertions made after every command).

Documented outcomes: a link that the target itself would follow is
followed the target's way (absolute links start at the target's top), so
the write lands inside the target and the install succeeds (exit 0); a
layout with no safe reading (a `..` past the top, a loop, more than 40
links, a non-directory in the middle, a FIFO, device or directory where a
file goes) is refused with exit 3 and one line naming the path and the
link, and the target stays byte-identical.
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from corpus import Checker, debian_notool, link, make_sentinel
from helpers import synthetic_root

OK = {"install": (0, None)}


def refused(words: str) -> dict:
    """Every command that reads the store refuses, with the same line."""
    return {"install": (3, words), "verify-before": (3, words), "audit": (3, words)}


def var_to_host(root, host):
    debian_notool(root)
    link(root, "/var", str(host / "var"))


def var_lib_to_host(root, host):
    debian_notool(root)
    link(root, "/var/lib", str(host / "var/lib"))


def etc_to_host(root, host):
    debian_notool(root, "/usr/lib/os-release")
    shutil.rmtree(root / "etc")
    link(root, "/etc", str(host / "etc"))


def etc_ssl_to_host(root, host):
    debian_notool(root)
    (root / "etc/ssl/certs").rmdir()
    link(root, "/etc/ssl", str(host / "etc/ssl"))


def etc_ssl_certs_to_host(root, host):
    debian_notool(root)
    link(root, "/etc/ssl/certs", str(host / "etc/ssl/certs"))


def etc_pki_to_host(root, host):
    synthetic_root(root, "ID=rhel\n")  # RHEL without update-ca-trust: no-tool, /etc/pki/tls
    link(root, "/etc/pki", str(host / "etc/pki"))


def openssl_dir_to_host(root, host):
    debian_notool(root)
    (root / "usr/lib/ssl").rmdir()
    link(root, "/usr/lib/ssl", str(host / "etc/ssl"))


def dotdot_climb(root, host):
    """A relative link with more `..` than the tree is deep, aimed at the host."""
    debian_notool(root)
    (root / "etc/ssl/certs").rmdir()
    link(root, "/etc/ssl", "../" * 30 + str(host / "etc/ssl").lstrip("/"))


def dotdot_only(root, host):
    """The store's state directory a link of bare `..`s: from /var/lib, the
    third climbs out (the host's /var/lib, were ats to follow it as Python would)."""
    debian_notool(root)
    link(root, "/var/lib/ats-roots", "../../..")


def dotdot_in_the_bundle_link(root, host):
    """The bundle a link that climbs past the top, then down to the host's bundle."""
    debian_notool(root)
    bundle = "etc/ssl/certs/ca-certificates.crt"
    link(root, "/" + bundle, "../../../../../../../../" + str(host / bundle).lstrip("/"))


def bundle_to_host_file(root, host):
    debian_notool(root)
    bundle = "etc/ssl/certs/ca-certificates.crt"
    link(root, "/" + bundle, str(host / bundle))


def manifest_and_lock_to_host(root, host):
    debian_notool(root)
    link(root, "/var/lib/ats-roots/manifest", str(host / "var/lib/host-state"))
    link(root, "/var/lib/ats-roots/lock", str(host / "var/lib/lock"))


def hash_dir_to_host(root, host):
    debian_notool(root)
    link(root, "/usr/lib/ssl/certs", str(host / "etc/ssl/certs"))


def loop(root, host):
    debian_notool(root)
    (root / "etc/ssl/certs").rmdir()
    link(root, "/etc/ssl/certs", "loop-b")
    link(root, "/etc/ssl/loop-b", "certs")


def chain_of_100(root, host):
    """ca-certificates.crt -> l1 -> ... -> l100 -> the host's bundle."""
    debian_notool(root)
    certs = root / "etc/ssl/certs"
    os.symlink("l1", certs / "ca-certificates.crt")
    for i in range(1, 100):
        os.symlink(f"l{i + 1}", certs / f"l{i}")
    os.symlink(str(host / "etc/ssl/certs/ca-certificates.crt"), certs / "l100")


def file_in_the_middle(root, host):
    debian_notool(root)
    (root / "etc/ssl/certs").rmdir()
    (root / "etc/ssl").rmdir()
    (root / "etc/ssl").write_text("not a directory\n")


def bundle_is_fifo(root, host):
    debian_notool(root)
    os.mkfifo(root / "etc/ssl/certs/ca-certificates.crt")


def bundle_is_device(root, host):
    debian_notool(root)
    os.mknod(root / "etc/ssl/certs/ca-certificates.crt", 0o600 | stat.S_IFCHR, os.makedev(1, 3))


def bundle_is_directory(root, host):
    debian_notool(root)
    (root / "etc/ssl/certs/ca-certificates.crt").mkdir()


def manifest_is_fifo(root, host):
    debian_notool(root)
    (root / "var/lib/ats-roots").mkdir(parents=True)
    os.mkfifo(root / "var/lib/ats-roots/manifest")


SPECIAL = "where ats writes a file"
CASES = {
    "var-to-host": (var_to_host, OK),
    "var-lib-to-host": (var_lib_to_host, OK),
    "etc-to-host": (etc_to_host, OK),
    "etc-ssl-to-host": (etc_ssl_to_host, OK),
    "etc-ssl-certs-to-host": (etc_ssl_certs_to_host, OK),
    "etc-pki-to-host": (etc_pki_to_host, OK),
    "openssl-dir-to-host": (openssl_dir_to_host, OK),
    "dotdot-climb-to-host": (
        dotdot_climb,
        {**refused("the link /etc/ssl -> ../../"), "uninstall": (0, None)},
    ),
    "dotdot-only-state-dir": (
        dotdot_only,
        {"install": (3, "/var/lib/ats-roots -> ../../.."), "uninstall": (3, "climbs past the top")},
    ),
    "dotdot-in-the-bundle-link": (
        dotdot_in_the_bundle_link,
        refused("the link /etc/ssl/certs/ca-certificates.crt -> ../../"),
    ),
    "bundle-absolute-link-to-host-file": (bundle_to_host_file, OK),
    "manifest-and-lock-links-to-host": (manifest_and_lock_to_host, OK),
    "hash-dir-to-host": (hash_dir_to_host, OK),
    "link-loop": (loop, refused("symbolic link loop at /etc/ssl/certs -> loop-b")),
    "chain-of-100-links": (chain_of_100, refused("more than 40 symbolic links")),
    "file-in-the-middle": (file_in_the_middle, refused("/etc/ssl is a file, not a directory")),
    "bundle-is-a-fifo": (bundle_is_fifo, refused("is a FIFO, not a regular file")),
    "bundle-is-a-device": (bundle_is_device, refused("is a character device")),
    "bundle-is-a-directory": (
        bundle_is_directory,
        {"install": (3, "is a directory where ats writes a file"), "verify-before": (1, None)},
    ),
    "manifest-is-a-fifo": (
        manifest_is_fifo,
        {"install": (3, "is a FIFO"), "uninstall": (3, "is a FIFO")},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_tree(tmp_path, case):
    build, expect = CASES[case]
    host = make_sentinel(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    build(root, host)
    Checker(root, host).every_command(expect)


def test_the_corpus_has_a_negative_control(tmp_path):
    """The checker catches a write that does land in the host sentinel."""
    host = make_sentinel(tmp_path)
    root = debian_notool(tmp_path / "root")
    checker = Checker(root, host)
    (host / "var/lib/host-state").write_text("changed\n")
    with pytest.raises(AssertionError, match="changed the host sentinel"):
        checker.run(["verify", "--root", str(root)], 1)
