"""`ats verify` reads a store the way the target's OpenSSL loads it: CApath
as OpenSSL looks a subject up there (<subject hash>.0, .1, ... up to the first
absent file or one without a certificate; OpenSSL 3 also any <hash>.<digits>),
never a certificate under another name; and a bundle with a block that does
not decode as nothing at all. On real Debian roots without the Amazon roots,
each case is judged by the root's own `openssl verify` (its defaults:
/usr/lib/ssl/cert.pem -> /etc/ssl/certs/ca-certificates.crt, and CApath
/usr/lib/ssl/certs -> /etc/ssl/certs), and ats must say the same of Amazon
Root CA 1."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import DATA, FIXTURES, ats, chroot, deselect_amazon

from ats_roots import _portable
from ats_roots.trust.roots import PINS, SUBJECT_HASHES

ROOT1 = (DATA / "AmazonRootCA1.pem").read_bytes()
ROOT2 = (DATA / "AmazonRootCA2.pem").read_bytes()
H1 = SUBJECT_HASHES["AmazonRootCA1.pem"]
CERTS = "etc/ssl/certs"
BUNDLE = "ca-certificates.crt"  # what files[BUNDLE] is appended to
BAD = b"-----BEGIN CERTIFICATE-----\nMIIB!!notbase64\n-----END CERTIFICATE-----\n"

# name -> (files written into /etc/ssl/certs, whether OpenSSL finds the root
# on bookworm (3.0, which also searches the directory as a store) and bullseye (1.1.1)).
CASES = {
    "under its hash": ({f"{H1}.0": ROOT1}, (True, True)),
    "under another name": ({"00000000.0": ROOT1, "AmazonRootCA1.pem": ROOT1}, (False, False)),
    "after a gap": ({f"{H1}.1": ROOT1}, (True, False)),
    "second of its hash": ({f"{H1}.0": ROOT2, f"{H1}.1": ROOT1}, (True, True)),
    "as .10": ({f"{H1}.10": ROOT1}, (True, False)),
    "upper-case hash": ({f"{H1.upper()}.0": ROOT1}, (True, False)),
    "as .r0": ({f"{H1}.r0": ROOT1}, (True, False)),
    "as .0.pem": ({f"{H1}.0.pem": ROOT1}, (False, False)),
    # Appended to the bundle: the control. Bullseye's OpenSSL has no cert.pem
    # link to it, so there only CApath counts, for OpenSSL and ats alike.
    BUNDLE: ({BUNDLE: ROOT1}, (True, False)),
    f"{BUNDLE}, then a block that is not base64": ({BUNDLE: ROOT1 + BAD}, (False, False)),
    "after a file with no certificate": (
        {f"{H1}.0": b"no PEM\n", f"{H1}.1": ROOT1},
        (False, False),
    ),
}
# The roots to judge by: bookworm's OpenSSL 3.0, bullseye's 1.1.1.
SYSTEMS = {"debian:bookworm": 0, "debian:bullseye": 1}


def test_subject_hash_pins_are_openssls():
    for filename in PINS:
        path = DATA / filename
        proc = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash", "-in", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        der = _portable.pem_blocks(path.read_bytes())[0][1]
        assert proc.stdout.strip() == SUBJECT_HASHES[filename] == _portable.subject_hash(der)


def no_amazon(root):
    deselect_amazon(root, "--fresh")


@pytest.mark.rootfs
@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_capath_lookup_agrees_with_openssl(rootfs, system):
    root = rootfs(system, no_amazon)
    (root / "tmp/r2m02.pem").write_bytes((FIXTURES / "r2m02.pem").read_bytes())
    # The bundle OpenSSL also reads (/usr/lib/ssl/cert.pem links to it) must
    # not hold the root: only CApath decides.
    cafile = root / CERTS / BUNDLE
    assert _portable.sha256_hex(_portable.pem_blocks(ROOT1)[0][1]) not in {
        _portable.sha256_hex(der) for _, der in _portable.pem_blocks(cafile.read_bytes())
    }
    verdicts = {}
    for name, (files, expected) in CASES.items():
        original = (root / CERTS / BUNDLE).read_bytes()
        for path, data in files.items():
            (root / CERTS / path).write_bytes(original + data if path == BUNDLE else data)
        proc = chroot(root, "openssl", "verify", "/tmp/r2m02.pem")
        openssl_ok = proc.returncode == 0 and "OK" in proc.stdout
        report = json.loads(ats("verify", "--root", root, "--json").stdout)
        row = next(r for r in report["roots"] if r["name"] == "Amazon Root CA 1")
        verdicts[name] = (openssl_ok, row["trusted"], expected[SYSTEMS[system]])
        for path in files:
            (root / CERTS / path).unlink()
        (root / CERTS / BUNDLE).write_bytes(original)
    # Every case: OpenSSL as expected (so the cases mean what they say) and ats with it.
    assert {n: (o, a) for n, (o, a, _) in verdicts.items()} == {
        n: (e, e) for n, (_, _, e) in verdicts.items()
    }


def test_a_bundle_openssl_cannot_load_holds_no_root(tmp_path):
    """--bundle: the same rule, and one line, never a traceback."""
    leaf = FIXTURES / "r2m02.pem"
    for name, data, ok in (("good.pem", ROOT1, True), ("bad.pem", ROOT1 + BAD, False)):
        path = tmp_path / name
        path.write_bytes(data)
        argv = ["openssl", "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(path)]
        proc = subprocess.run([*argv, str(leaf)], capture_output=True, timeout=30)
        assert (proc.returncode == 0) is ok, proc.stderr
        proc = ats("verify", "--bundle", path)
        assert proc.stdout.startswith(
            "trusted  Amazon Root CA 1" if ok else "MISSING  Amazon Root CA 1"
        )
        # One line either way (the other four roots are missing), never a traceback.
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
        assert ("OpenSSL loads no certificate from this file" in proc.stdout) is not ok
