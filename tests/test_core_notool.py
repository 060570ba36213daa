"""The no-tool family: files OpenSSL reads by default, written by ats itself.

Real: debian-bare (minbase + openssl, no CA package), judged by its own
openssl. Synthetic roots (distroless-like: nothing but os-release) are judged
by the host's openssl reading the files ats wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers import (
    DATA,
    FIXTURES,
    INTERMEDIATES,
    LEAF_TIME,
    ats,
    chroot,
    leaf_and_issuer,
    one_error_line,
    pem_shas,
    pinned_shas,
    synthetic_root,
    tree_digest,
)

DISTROLESS = """PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
"""
FX = "/tmp/ats-fx"


def host_verify(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "verify", *map(str, args)], capture_output=True, text=True, check=False
    )


def files_only(digest: dict) -> dict:
    """Entries that are not directories, and not ats's own state."""
    return {
        k: v
        for k, v in digest.items()
        if v[0] != 0o040000 and not k.startswith("var/lib/ats-roots")
    }


def with_fixtures(root):
    shutil.copytree(FIXTURES, root / FX.lstrip("/"))


@pytest.mark.rootfs
def test_debian_bare_is_served_by_its_own_openssl(rootfs):
    root = rootfs("debian-bare:bookworm", with_fixtures)
    before = tree_digest(root)
    assert not (root / "usr/sbin/update-ca-certificates").exists()
    proc = chroot(root, "openssl", "verify", f"{FX}/r2m02.pem")
    assert proc.returncode != 0, proc.stdout
    assert ats("verify", "--root", root).returncode == 1

    proc = ats("install", "--root", root)
    assert proc.returncode == 0, proc.stderr
    assert "family: notool" in proc.stdout
    assert "note: debian without /usr/sbin/update-ca-certificates" in proc.stdout
    assert "note: OPENSSLDIR /usr/lib/ssl" in proc.stdout
    assert ats("verify", "--root", root).returncode == 0

    def judge(*store):
        for name in INTERMEDIATES:
            proc = chroot(root, "openssl", "verify", *store, f"{FX}/{name}.pem")
            assert proc.returncode == 0, (store, name, proc.stdout + proc.stderr)
        for n in (1, 2, 3, 4):
            leaf, issuer = leaf_and_issuer(n)
            args = ["-attime", LEAF_TIME, "-untrusted", f"{FX}/{issuer.name}"]
            proc = chroot(root, "openssl", "verify", *store, *args, f"{FX}/{leaf.name}")
            assert proc.returncode == 0, (store, leaf.name, proc.stdout + proc.stderr)

    judge()  # OpenSSL's defaults: OPENSSLDIR/cert.pem and OPENSSLDIR/certs
    judge("-no-CApath", "-no-CAstore", "-CAfile", "/usr/lib/ssl/cert.pem")
    judge("-no-CAfile", "-no-CAstore", "-CApath", "/usr/lib/ssl/certs")  # hash links only

    # Negative control for the links: same files, links gone -> CApath fails.
    certs = root / "etc/ssl/certs"  # /usr/lib/ssl/certs -> /etc/ssl/certs
    links = [p for p in certs.iterdir() if p.is_symlink() and p.name.endswith(".0")]
    assert len(links) == 5
    for link in links:
        link.unlink()
    capath = ["-no-CAfile", "-no-CAstore", "-CApath", "/usr/lib/ssl/certs"]
    assert chroot(root, "openssl", "verify", *capath, f"{FX}/r2m02.pem").returncode != 0
    proc = ats("install", "--root", root)  # puts back exactly the links
    assert proc.returncode == 0 and proc.stdout.count("link ") == 5, proc.stdout
    judge(*capath)

    assert ats("uninstall", "--root", root).returncode == 0
    assert files_only(tree_digest(root)) == files_only(before)
    assert chroot(root, "openssl", "verify", f"{FX}/r2m02.pem").returncode != 0


def test_distroless_like_root_with_only_os_release(tmp_path):
    root = synthetic_root(tmp_path / "root", DISTROLESS)
    assert ats("verify", "--root", root).returncode == 1
    proc = ats("install", "--root", root)
    assert proc.returncode == 0, proc.stderr
    assert "family: notool" in proc.stdout
    assert "debian without /usr/sbin/update-ca-certificates" in proc.stdout
    assert ats("verify", "--root", root).returncode == 0

    for bundle in ("usr/lib/ssl/cert.pem", "etc/ssl/certs/ca-certificates.crt"):
        assert sorted(pem_shas((root / bundle).read_bytes())) == sorted(pinned_shas())
    certs = root / "usr/lib/ssl/certs"
    links = sorted(p for p in certs.iterdir() if p.is_symlink())
    assert len(links) == 5
    for link in links:  # each name is what OpenSSL computes for its target
        real = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash", "-in", str(link)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert link.name == real + ".0"
    for name in ("r2m01", "r4m02", "e2m03", "e3m04"):
        pem = FIXTURES / f"{name}.pem"
        assert host_verify("-no-CAfile", "-no-CAstore", "-CApath", certs, pem).returncode == 0
        no_store = host_verify("-no-CAfile", "-no-CAstore", "-no-CApath", pem)
        assert no_store.returncode != 0  # negative control: it is the store that does it

    assert ats("uninstall", "--root", root).returncode == 0
    left = files_only(tree_digest(root))
    assert list(left) == ["etc/os-release"]


SYSTEM = [FIXTURES / f"{n}.pem" for n in ("rootca1", "rootca2", "r2m01")]


def system_bundle(final_newline=True) -> bytes:
    data = b"# the system's bundle, with comments\n\n"
    for pem in SYSTEM:
        data += b"# " + pem.name.encode() + b"\n" + pem.read_bytes()
    return data if final_newline else data.rstrip(b"\n")


@pytest.mark.parametrize("final_newline", [True, False])
def test_uninstall_gives_back_the_exact_bytes(tmp_path, final_newline):
    original = system_bundle(final_newline)
    root = synthetic_root(
        tmp_path / "root", 'ID="debian"\n', files={"/etc/ssl/certs/ca-certificates.crt": original}
    )
    before = tree_digest(root)
    assert ats("install", "--root", root).returncode == 0
    installed = (root / "etc/ssl/certs/ca-certificates.crt").read_bytes()
    assert installed.startswith(original)
    assert pem_shas(installed)[3:] == pinned_shas()
    assert ats("uninstall", "--root", root).returncode == 0
    assert (root / "etc/ssl/certs/ca-certificates.crt").read_bytes() == original
    assert files_only(tree_digest(root)) == files_only(before)


def test_uninstall_keeps_a_copy_the_system_added_itself(tmp_path):
    """After ats appended Amazon Root CA 1, something else appended it too:
    that copy is not ats's, and uninstall leaves it."""
    root = synthetic_root(
        tmp_path / "root",
        'ID="debian"\n',
        files={"/etc/ssl/certs/ca-certificates.crt": system_bundle()},
    )
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    assert ats("install", "--root", root).returncode == 0
    ca1 = (DATA / "AmazonRootCA1.pem").read_bytes()
    with open(bundle, "ab") as f:
        f.write(b"# added by the system\n" + ca1)
    assert ats("uninstall", "--root", root).returncode == 0
    assert bundle.read_bytes() == system_bundle() + b"# added by the system\n" + ca1


def test_existing_absolute_links_are_read_inside_the_root(tmp_path):
    """A root whose CApath already holds Amazon Root CA 1 through an absolute
    link (Debian's layout) to a place that exists only inside the root: ats
    must see it there (verify), and not add a second one (install)."""
    ca1 = (DATA / "AmazonRootCA1.pem").read_bytes()
    inner = "/opt/ats-test-only/Amazon_Root_CA_1.crt"
    assert not os.path.exists(inner)
    root = synthetic_root(tmp_path / "root", 'ID="debian"\n', files={inner: ca1})
    certs = root / "etc/ssl/certs"
    certs.mkdir(parents=True)
    (certs / "Amazon_Root_CA_1.pem").symlink_to(inner)
    (certs / "ce5e74ef.0").symlink_to("Amazon_Root_CA_1.pem")

    proc = ats("verify", "--root", root, "--family", "notool", "--json")
    import json

    roots = {r["name"]: r for r in json.loads(proc.stdout)["roots"]}
    assert roots["Amazon Root CA 1"]["where"] == ["/etc/ssl/certs"]
    assert roots["Amazon Root CA 2"]["where"] == []

    proc = ats("install", "--root", root, "--family", "notool", "--dry-run")
    assert proc.returncode == 0
    assert "ats-AmazonRootCA1.pem" not in proc.stdout
    assert proc.stdout.count(" for CApath)") == 4


def test_a_failure_midway_puts_everything_back(tmp_path):
    """The bundle is written first; then a directory where a CApath file must
    go makes the rename fail: the bundle must be the old one again."""
    root = synthetic_root(
        tmp_path / "root",
        'ID="debian"\n',
        files={"/etc/ssl/certs/ca-certificates.crt": system_bundle()},
    )
    obstacle = root / "usr/lib/ssl/certs/ats-SFSRootCAG2.pem"
    obstacle.mkdir(parents=True)
    before = tree_digest(root)
    proc = ats("install", "--root", root)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "ats-SFSRootCAG2.pem" in line and "nothing was changed" in line
    # Byte-identical: refused before the first write, the lock file taken back too.
    assert tree_digest(root) == before
    # Positive control: without the obstacle the same command succeeds.
    obstacle.rmdir()
    assert ats("install", "--root", root).returncode == 0


def test_two_installs_at_once_end_as_one(tmp_path):
    roots = []
    for name in ("one", "both"):
        roots.append(
            synthetic_root(
                tmp_path / name,
                'ID="debian"\n',
                files={"/etc/ssl/certs/ca-certificates.crt": system_bundle()},
            )
        )
    one, both = roots
    assert ats("install", "--root", one).returncode == 0
    argv = [sys.executable, "-m", "ats_roots", "install", "--root", str(both)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert sum(b"nothing to do" in r[0] for r in results) == 1, results
    assert tree_digest(both) == tree_digest(one)
    manifest = (both / "var/lib/ats-roots/manifest").read_text().splitlines()
    assert len(manifest) == len(set(manifest))
    bundle = (both / "etc/ssl/certs/ca-certificates.crt").read_bytes()
    assert [pem_shas(bundle).count(p) for p in pinned_shas()] == [1] * 5
