"""Bad input exits 2 and the environment refusing exits 3, each with one line
on stderr, and the root is byte-identical afterwards (every entry hashed).

The root is a Debian-like synthetic root with a bundle and a stub tool: had
ats gone on past the check, it would have written anchors (and the digest
would differ) before failing to run the stub."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import (
    DATA,
    FIXTURES,
    ats,
    make_ca,
    one_error_line,
    require_root,
    synthetic_root,
    tree_digest,
)

DEB_TOOL = "/usr/sbin/update-ca-certificates"


@pytest.fixture
def root(tmp_path):
    bundle = (FIXTURES / "rootca1.pem").read_bytes() + (FIXTURES / "r2m01.pem").read_bytes()
    return synthetic_root(
        tmp_path / "root",
        "ID=debian\n",
        tools=[DEB_TOOL],
        files={"/etc/ssl/certs/ca-certificates.crt": bundle},
    )


def refused(root, code, *args, user=None) -> str:
    before = tree_digest(root)
    proc = ats(*args, user=user)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    line = one_error_line(proc)
    assert tree_digest(root) == before
    return line


def extra_ca(root, path, code=2) -> str:
    return refused(root, code, "install", "--root", root, "--extra-ca", path)


def test_positive_control_a_good_extra_ca_is_accepted(root, tmp_path):
    proc = ats("install", "--root", root, "--dry-run", "--extra-ca", make_ca(tmp_path / "ok.pem"))
    assert proc.returncode == 0, proc.stderr
    assert "ats-extra-" in proc.stdout


def test_not_pem(root, tmp_path):
    (tmp_path / "notes.txt").write_text("this is not a certificate\n")
    line = extra_ca(root, tmp_path / "notes.txt")
    assert "notes.txt" in line and "not a PEM CA certificate" in line


def test_der_is_not_pem(root, tmp_path):
    import subprocess

    der = subprocess.run(
        ["openssl", "x509", "-outform", "DER", "-in", str(DATA / "AmazonRootCA1.pem")],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "ca.der").write_bytes(der)
    assert "not a PEM CA certificate" in extra_ca(root, tmp_path / "ca.der")


def test_garbage_between_pem_blocks(root, tmp_path):
    good = make_ca(tmp_path / "a.pem", name="A").read_bytes()
    other = make_ca(tmp_path / "b.pem", name="B").read_bytes()
    (tmp_path / "mixed.pem").write_bytes(good + b"garbage in the middle\n" + other)
    assert "not PEM between or around" in extra_ca(root, tmp_path / "mixed.pem")
    # Comments and blank lines between blocks are fine (RHEL/Debian bundles have them).
    (tmp_path / "commented.pem").write_bytes(b"# site CA\n\n" + good + b"\n# other\n" + other)
    proc = ats("install", "--root", root, "--dry-run", "--extra-ca", tmp_path / "commented.pem")
    assert proc.returncode == 0, proc.stderr


def test_a_private_key_is_not_a_ca(root, tmp_path):
    import trustme
    cert = trustme.CA().issue_cert("x.example")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    assert "PRIVATE KEY block" in extra_ca(root, tmp_path / "key.pem")


def test_a_leaf_given_as_extra_ca(root):
    leaf = FIXTURES / "valid.rootca1.demo.amazontrust.com.pem"
    line = extra_ca(root, leaf)
    assert "valid.rootca1.demo.amazontrust.com is not a CA certificate" in line


def test_an_expired_extra_ca(root, tmp_path):
    line = extra_ca(root, make_ca(tmp_path / "old.pem", expired=True, name="Old CA"))
    assert "CN=Old CA expired on" in line


def test_a_missing_extra_ca_file(root, tmp_path):
    assert "cannot read" in extra_ca(root, tmp_path / "nope.pem")


def test_missing_os_release(tmp_path):
    root = synthetic_root(tmp_path / "root", None, tools=[DEB_TOOL])
    line = refused(root, 2, "install", "--root", root)
    assert "os-release: missing" in line and "--family" in line
    # Positive control: the same root with an os-release is understood.
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text("ID=debian\n")
    assert ats("install", "--root", root, "--dry-run").returncode == 0


def test_os_release_that_cannot_be_read(tmp_path):
    root = synthetic_root(tmp_path / "root", None, tools=[DEB_TOOL])
    (root / "etc/os-release").mkdir(parents=True)
    assert "os-release: unreadable" in refused(root, 2, "install", "--root", root)


@pytest.mark.rootfs
def test_os_release_unreadable_for_the_user(public_tmp):
    """chmod 000 does not stop root, so run as nobody: the real EACCES path."""
    require_root("setpriv")
    root = synthetic_root(public_tmp / "root", "ID=debian\n", tools=[DEB_TOOL])
    (root / "etc/os-release").chmod(0o000)
    line = refused(root, 2, "install", "--root", root, user="65534")
    assert "unreadable (Permission denied)" in line


def test_unknown_distribution(tmp_path):
    root = synthetic_root(tmp_path / "root", 'ID="plan9"\nID_LIKE="bell-labs"\n')
    line = refused(root, 2, "install", "--root", root)
    assert "unknown distribution ['plan9', 'bell-labs']" in line


def test_root_that_does_not_exist(tmp_path):
    line = refused(tmp_path, 2, "install", "--root", tmp_path / "nowhere")
    assert "nowhere: no such directory" in line


@pytest.mark.rootfs
def test_not_root_is_refused_with_3(public_tmp):
    require_root("setpriv")
    root = synthetic_root(
        public_tmp / "root", "ID=debian\n", files={"/etc/ssl/certs/ca-certificates.crt": b""}
    )
    line = refused(root, 3, "install", "--root", root, user="65534")
    assert "Permission denied" in line


def test_verify_bad_inputs(root, tmp_path):
    (tmp_path / "chain.txt").write_text("not a chain\n")
    line = refused(root, 2, "verify", "--root", root, "--chain", tmp_path / "chain.txt")
    assert "not a PEM chain" in line
    chain = FIXTURES / "valid.rootca1.demo.amazontrust.com.pem"
    line = refused(root, 2, "verify", "--root", root, "--chain", chain, "--at", "yesterday")
    assert "--at 'yesterday'" in line
    line = refused(root, 2, "verify", "--bundle", tmp_path / "missing.pem")
    assert "missing.pem: cannot read" in line


def test_a_closed_pipe_is_no_traceback():
    """`ats roots --json | head -1`: the reader went away; no traceback, exit 0."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before ats writes a byte
    proc = subprocess.run([sys.executable, "-m", "ats_roots", "roots", "--json"], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    os.close(write)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
