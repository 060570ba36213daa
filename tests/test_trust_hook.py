"""The start-time hook recognises roots by key too (_portable.held_by_key):
a bundle named by SSL_CERT_FILE that holds another self-signed certificate
of a CA's key is left as set; without it the hook points SSL_CERT_FILE at a
private copy with the CA added. Run with --private (no system file is
touched) on this machine's python3 and on Python 3.6."""

from __future__ import annotations

import os
import subprocess

import pytest
import trust_pki
from helpers import DATA, REPO, ROOT_FILES

HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"
PYTHONS = {"host": "/usr/bin/python3", "3.6": "/root/.pyenv/versions/3.6.15/bin/python3"}


@pytest.mark.parametrize("python", sorted(PYTHONS))
def test_hook_counts_a_self_signed_certificate_of_the_key(tmp_path, python):
    exe = PYTHONS[python]
    if not os.path.exists(exe):
        if os.environ.get("ATS_REQUIRE_OLD_PYTHON") == "1":
            pytest.fail(f"{exe} is required (ATS_REQUIRE_OLD_PYTHON=1)")
        pytest.skip(f"no {exe}")
    k = trust_pki.key("p256", 40)
    old = trust_pki.T0 - 4000 * trust_pki.DAY  # valid today whatever T0 is
    pinned = trust_pki.make("Hook Own Root", k, trust_pki.Spec(not_before=old))
    other = trust_pki.make(
        "Hook Own Root", k, trust_pki.Spec(not_before=old, not_after=old + 9000 * trust_pki.DAY)
    )
    (tmp_path / "ca.pem").write_bytes(pinned.pem)
    ats = b"".join((DATA / n).read_bytes() for n in ROOT_FILES)
    # a certificate with the key and a broken signature does not count
    broken = bytearray(other.der)
    broken[-3] ^= 0x01
    import ssl

    bad = ssl.DER_cert_to_PEM_cert(bytes(broken)).encode()
    cases = {"same-key": (ats + other.pem, True), "none": (ats, False), "bad": (ats + bad, False)}
    for name, (bundle, kept) in cases.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(bundle)
        home = tmp_path / f"home-{name}"
        home.mkdir()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(home),
            "SSL_CERT_FILE": str(path),
        }
        argv = [
            exe,
            str(HOOK),
            "--private",
            "--no-java",
            "--extra-ca",
            str(tmp_path / "ca.pem"),
            "--",
            "/usr/bin/env",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        got = next(x for x in proc.stdout.splitlines() if x.startswith("SSL_CERT_FILE="))
        assert (got == f"SSL_CERT_FILE={path}") is kept, (name, got, proc.stderr)
