"""Alpine 3.23 for real, from the bases cache (scripts/build-bases).

Alpine has no openssl command (only libssl), so the judges are: curl inside
the rootfs doing a real TLS handshake against a local server whose CA we
install with --extra-ca (the rootfs's own TLS stack reads the store ats
changed), and the host's openssl checking the Amazon chains against exactly
the files the rootfs's tool compiled (CAfile, and for the no-tool family
CApath too, whose links ats writes relative)."""

from __future__ import annotations

import subprocess

import pytest
from helpers import (
    AFTER_LEAVES,
    FIXTURES,
    INTERMEDIATES,
    LEAF_TIME,
    ats,
    chroot,
    deselect_amazon,
    https_server,
    leaf_and_issuer,
    pem_shas,
    pinned_shas,
    tree_digest,
)

pytestmark = pytest.mark.rootfs

BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def no_amazon(root):
    deselect_amazon(root)


def no_amazon_no_tool(root):
    """As above, then remove the ca-certificates package (its tool) with apk:
    what is left is ca-certificates-bundle's file, as in most alpine images."""
    no_amazon(root)
    chroot(root, "apk", "--no-network", "del", "ca-certificates", check=True)
    assert not (root / "usr/sbin/update-ca-certificates").exists()


def host_verify(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "verify", *map(str, args)], capture_output=True, text=True, check=False
    )


def chains_verify(store: list) -> None:
    """Every intermediate, and every valid leaf at its time, against store;
    the leaves fail after they expired."""
    for name in INTERMEDIATES:
        proc = host_verify(*store, FIXTURES / f"{name}.pem")
        assert proc.returncode == 0, (name, proc.stdout + proc.stderr)
    for n in (1, 2, 3, 4):
        leaf, issuer = leaf_and_issuer(n)
        proc = host_verify(*store, "-attime", LEAF_TIME, "-untrusted", issuer, leaf)
        assert proc.returncode == 0, (leaf.name, proc.stdout + proc.stderr)
        late = host_verify(*store, "-attime", AFTER_LEAVES, "-untrusted", issuer, leaf)
        assert late.returncode != 0


def cafile(root, inner=BUNDLE) -> list:
    return ["-no-CApath", "-no-CAstore", "-CAfile", root / inner]


@pytest.fixture
def alp(rootfs):
    return rootfs("alpine:3.23", no_amazon)


def test_alpine_with_its_tool(alp):
    original = (alp / BUNDLE).read_bytes()
    proc = ats("verify", "--root", alp)
    assert proc.returncode == 1 and proc.stdout.count("MISSING") == 5
    assert host_verify(*cafile(alp), FIXTURES / "r2m02.pem").returncode != 0

    proc = ats("install", "--root", alp)
    assert proc.returncode == 0, proc.stderr
    assert "family: alpine" in proc.stdout
    assert "run /usr/sbin/update-ca-certificates" in proc.stdout
    assert ats("verify", "--root", alp).returncode == 0
    chains_verify(cafile(alp))
    assert [pem_shas((alp / BUNDLE).read_bytes()).count(p) for p in pinned_shas()] == [1] * 5

    # The distro's own later run keeps them.
    chroot(alp, "update-ca-certificates", check=True)
    assert ats("verify", "--root", alp).returncode == 0

    # Twice is once.
    first = tree_digest(alp)
    proc = ats("install", "--root", alp)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout
    assert tree_digest(alp) == first

    assert ats("uninstall", "--root", alp).returncode == 0
    assert (alp / BUNDLE).read_bytes() == original
    assert ats("verify", "--root", alp).returncode == 1


def curl_in(root, url) -> subprocess.CompletedProcess:
    return chroot(root, "curl", "-sS", "--max-time", "20", url)


@pytest.fixture
def site(tmp_path):
    """A local HTTPS server with a certificate from a private CA (trustme)."""
    import trustme
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "site-ca.pem"))
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello").write_text("hello from the site\n")
    with https_server(tmp_path / "www", tmp_path / "server.pem", tmp_path / "server.pem") as url:
        yield url + "hello", tmp_path / "site-ca.pem"


def test_curl_in_alpine_trusts_an_extra_ca(alp, site):
    url, ca = site
    proc = curl_in(alp, url)
    assert proc.returncode == 60, proc.stdout + proc.stderr  # untrusted issuer
    assert ats("install", "--root", alp, "--extra-ca", ca).returncode == 0
    proc = curl_in(alp, url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from the site\n"
    assert ats("uninstall", "--root", alp).returncode == 0
    assert curl_in(alp, url).returncode == 60


def test_alpine_without_the_tool_gets_the_no_tool_family(rootfs, site):
    alp = rootfs("alpine:3.23", no_amazon_no_tool)
    url, ca = site
    original = tree_digest(alp / "etc/ssl")
    assert ats("verify", "--root", alp).returncode == 1
    assert host_verify(*cafile(alp), FIXTURES / "r2m02.pem").returncode != 0
    assert curl_in(alp, url).returncode == 60

    proc = ats("install", "--root", alp, "--extra-ca", ca)
    assert proc.returncode == 0, proc.stderr
    assert "family: notool" in proc.stdout
    assert "alpine without /usr/sbin/update-ca-certificates" in proc.stdout
    assert "run " not in proc.stdout
    assert ats("verify", "--root", alp).returncode == 0
    chains_verify(cafile(alp, "etc/ssl/cert.pem"))
    chains_verify(["-no-CAfile", "-no-CAstore", "-CApath", alp / "etc/ssl/certs"])
    proc = curl_in(alp, url)
    assert proc.returncode == 0, proc.stderr

    assert ats("uninstall", "--root", alp).returncode == 0
    assert tree_digest(alp / "etc/ssl") == original
    assert curl_in(alp, url).returncode == 60
