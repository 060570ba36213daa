"""Debian bookworm for real: a root file system from mmdebstrap (or the bases
cache), the Amazon roots deselected the Debian way, then `ats` installs,
verifies and uninstalls, and the rootfs's own openssl is the judge."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from helpers import (
    AFTER_LEAVES,
    FIXTURES,
    INTERMEDIATES,
    LEAF_TIME,
    ats,
    chroot,
    deselect_amazon,
    leaf_and_issuer,
    one_error_line,
    pem_shas,
    pinned_shas,
    require,
    tree_digest,
)

pytestmark = pytest.mark.rootfs

BUNDLE = "etc/ssl/certs/ca-certificates.crt"
ANCHORS = "usr/local/share/ca-certificates"
FX = "/tmp/ats-fx"  # the fixtures, inside the root


def with_fixtures(root):
    shutil.copytree(FIXTURES, root / FX.lstrip("/"))


def no_amazon(root):
    deselect_amazon(root, "--fresh")
    with_fixtures(root)


@pytest.fixture
def deb(rootfs):
    return rootfs("debian:bookworm", no_amazon)


def ossl_verify(root, *args):
    return chroot(root, "openssl", "verify", *args)


def bundle(root) -> bytes:
    return (root / BUNDLE).read_bytes()


def test_negative_control_then_install_then_openssl_in_the_rootfs_verifies(deb):
    pins = pinned_shas()
    # Negative controls: the roots are gone, and both ats and openssl say so.
    before = ats("verify", "--root", deb)
    assert before.returncode == 1, before.stdout + before.stderr
    assert before.stdout.count("MISSING") == 5
    assert not set(pins) & set(pem_shas(bundle(deb)))
    proc = ossl_verify(deb, "-CApath", "/etc/ssl/certs", f"{FX}/r2m02.pem")
    assert proc.returncode != 0 and "unable to get local issuer" in proc.stdout + proc.stderr
    leaf, issuer = leaf_and_issuer(1)
    proc = ossl_verify(
        deb, "-attime", LEAF_TIME, "-untrusted", f"{FX}/{issuer.name}", f"{FX}/{leaf.name}"
    )
    assert proc.returncode != 0

    proc = ats("install", "--root", deb)
    assert proc.returncode == 0, proc.stderr
    assert "run /usr/sbin/update-ca-certificates" in proc.stdout
    proc = ats("verify", "--root", deb)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("trusted") == 5 and "/usr/lib/ssl/certs" in proc.stdout

    # The rootfs's own openssl, through its CApath and through its defaults.
    for name in INTERMEDIATES:
        for store in (["-CApath", "/etc/ssl/certs"], []):
            proc = ossl_verify(deb, *store, f"{FX}/{name}.pem")
            assert proc.returncode == 0, (name, store, proc.stdout + proc.stderr)
    for n in (1, 2, 3, 4):
        leaf, issuer = leaf_and_issuer(n)
        args = ["-untrusted", f"{FX}/{issuer.name}", f"{FX}/{leaf.name}"]
        proc = ossl_verify(deb, "-attime", LEAF_TIME, "-CApath", "/etc/ssl/certs", *args)
        assert proc.returncode == 0, (leaf.name, proc.stdout + proc.stderr)
        late = ossl_verify(deb, "-attime", AFTER_LEAVES, "-CApath", "/etc/ssl/certs", *args)
        assert late.returncode != 0 and "expired" in late.stdout + late.stderr

    # Each root exactly once in the compiled bundle, one anchor file each.
    shas = pem_shas(bundle(deb))
    assert [shas.count(p) for p in pins] == [1] * 5
    assert sorted(p.name for p in (deb / ANCHORS).iterdir()) == sorted(
        f"ats-{f}.crt"
        for f in ("AmazonRootCA1", "AmazonRootCA2", "AmazonRootCA3")
        + ("AmazonRootCA4", "SFSRootCAG2")
    )


def test_roots_survive_update_ca_certificates_fresh(deb):
    assert ats("install", "--root", deb).returncode == 0
    chroot(deb, "update-ca-certificates", "--fresh", check=True)
    proc = ats("verify", "--root", deb)
    assert proc.returncode == 0, proc.stdout
    assert ossl_verify(deb, "-CApath", "/etc/ssl/certs", f"{FX}/e3m04.pem").returncode == 0
    assert [pem_shas(bundle(deb)).count(p) for p in pinned_shas()] == [1] * 5


def test_second_install_changes_nothing(deb):
    assert ats("install", "--root", deb).returncode == 0
    first = tree_digest(deb)
    proc = ats("install", "--root", deb)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout and "run " not in proc.stdout
    assert tree_digest(deb) == first
    manifest = (deb / "var/lib/ats-roots/manifest").read_text().splitlines()
    assert len(manifest) == len(set(manifest)) == 5


def test_uninstall_removes_only_ours(deb):
    original = bundle(deb)
    certs_dir = tree_digest(deb / "etc/ssl/certs")
    assert ats("install", "--root", deb).returncode == 0
    installed = bundle(deb)
    assert installed != original
    proc = ats("uninstall", "--root", deb)
    assert proc.returncode == 0, proc.stderr
    assert bundle(deb) == original
    assert tree_digest(deb / "etc/ssl/certs") == certs_dir
    assert list((deb / ANCHORS).iterdir()) == []
    assert (deb / "var/lib/ats-roots/manifest").read_text() == ""
    assert ats("verify", "--root", deb).returncode == 1


def test_uninstall_keeps_the_systems_own_amazon_roots(rootfs):
    """On stock Debian the roots are already there; ats adds its anchors after
    the system's certificates and takes back exactly those."""
    deb = rootfs("debian:bookworm")
    original = bundle(deb)
    pins = pinned_shas()
    assert [pem_shas(original).count(p) for p in pins] == [1] * 5
    assert ats("install", "--root", deb).returncode == 0
    installed = bundle(deb)
    assert installed.startswith(original)  # the system's own bytes, untouched
    assert sorted(pem_shas(installed[len(original) :])) == sorted(pins)
    assert ats("uninstall", "--root", deb).returncode == 0
    assert bundle(deb) == original
    assert ats("verify", "--root", deb).returncode == 0  # still trusted: the system's


def test_verify_chain(deb):
    leaf, issuer = leaf_and_issuer(1)
    chain = deb.parent / "chain.pem"
    chain.write_bytes(leaf.read_bytes() + issuer.read_bytes())
    # Negative control first: the roots are not in this store.
    proc = ats("verify", "--root", deb, "--chain", chain, "--at", LEAF_TIME)
    assert proc.returncode == 1 and "chain FAILED" in proc.stdout

    assert ats("install", "--root", deb).returncode == 0
    for n in (1, 2, 3, 4):
        leaf, issuer = leaf_and_issuer(n)
        chain.write_bytes(leaf.read_bytes() + issuer.read_bytes())
        proc = ats("verify", "--root", deb, "--chain", chain, "--at", LEAF_TIME)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        line = next(x for x in proc.stdout.splitlines() if x.startswith("chain ok"))
        assert f"valid.rootca{n}.demo.amazontrust.com" in line
        assert line.endswith(f"CN=Amazon Root CA {n},O=Amazon,C=US"), line
        late = ats("verify", "--root", deb, "--chain", chain, "--at", AFTER_LEAVES)
        assert late.returncode == 1 and "certificate has expired" in late.stdout  # OpenSSL's words

    leaf, issuer = leaf_and_issuer(1, "expired")
    chain.write_bytes(leaf.read_bytes() + issuer.read_bytes())
    proc = ats("verify", "--root", deb, "--chain", chain, "--at", LEAF_TIME)
    assert proc.returncode == 1 and "chain FAILED" in proc.stdout
    # ... and it is the time that fails it: inside its own two days it passes.
    proc = ats("verify", "--root", deb, "--chain", chain, "--at", "2024-03-14T12:00:00Z")
    assert proc.returncode == 0, proc.stdout


def test_extra_ca_is_trusted_by_the_rootfs_openssl(deb, tmp_path):
    import trustme
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "site-ca.pem"))
    server = ca.issue_cert("internal.example")
    (deb / "tmp/server.pem").write_bytes(server.cert_chain_pems[0].bytes())
    assert ossl_verify(deb, "/tmp/server.pem").returncode != 0

    proc = ats("install", "--root", deb, "--extra-ca", tmp_path / "site-ca.pem")
    assert proc.returncode == 0, proc.stderr
    assert ossl_verify(deb, "/tmp/server.pem").returncode == 0
    assert ats("uninstall", "--root", deb).returncode == 0
    assert ossl_verify(deb, "/tmp/server.pem").returncode != 0


def test_two_installs_at_once_end_as_one(rootfs):
    one = rootfs("debian:bookworm", no_amazon)
    assert ats("install", "--root", one).returncode == 0
    both = rootfs("debian:bookworm", no_amazon)
    argv = [sys.executable, "-m", "ats_roots", "install", "--root", str(both)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    outs = [r[0].decode() for r in results]
    assert sum("nothing to do" in o for o in outs) == 1, outs
    assert sum("run /usr/sbin/update-ca-certificates" in o for o in outs) == 1, outs
    for inner in (BUNDLE, "var/lib/ats-roots/manifest"):
        assert (both / inner).read_bytes() == (one / inner).read_bytes(), inner
    assert tree_digest(both / ANCHORS) == tree_digest(one / ANCHORS)
    assert tree_digest(both / "etc/ssl/certs") == tree_digest(one / "etc/ssl/certs")


def test_failing_tool_leaves_the_bundle_intact(deb):
    tool = deb / "usr/sbin/update-ca-certificates"
    real = tool.read_bytes()
    tool.write_text("#!/bin/sh\necho 'E: disk on fire' >&2\nexit 1\n")
    certs_dir = tree_digest(deb / "etc/ssl/certs")
    proc = ats("install", "--root", deb)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "failed with exit 1" in line and "disk on fire" in line
    assert tree_digest(deb / "etc/ssl/certs") == certs_dir
    # Once the tool works again, the same command completes the job.
    tool.write_bytes(real)
    assert ats("install", "--root", deb).returncode == 0
    assert ats("verify", "--root", deb).returncode == 0


def test_read_only_root_is_refused_unchanged(deb):
    require_unshare()
    before = tree_digest(deb)
    script = 'mount --bind -o ro "$1" "$1" && exec "$2" -m ats_roots install --root "$1"'
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(deb), sys.executable],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Read-only file system" in one_error_line(proc)
    assert tree_digest(deb) == before


def test_unprivileged_user_is_refused_unchanged(deb):
    before = tree_digest(deb)
    proc = ats("install", "--root", deb, user="65534")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    one_error_line(proc)
    assert tree_digest(deb) == before
    # Positive control: the same command as root does install.
    assert ats("install", "--root", deb).returncode == 0


def require_unshare():
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    require(probe.returncode == 0, "unshare -m does not work here")
