"""_portable: the OpenSSL subject hash computed in pure Python, and PEM parsing."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest
from helpers import FIXTURES, need

from ats_roots import _portable


def openssl_hashes(paths, tmp) -> list[str]:
    """What OpenSSL names each certificate's hash link: one `openssl rehash`."""
    for n, path in enumerate(paths):
        shutil.copy(path, tmp / f"c{n:04}.pem")
    subprocess.run(["openssl", "rehash", str(tmp)], capture_output=True, check=True)
    by_file = {
        os.readlink(link): link.name.split(".")[0] for link in tmp.iterdir() if link.is_symlink()
    }
    return [by_file.get(f"c{n:04}.pem", "(duplicate)") for n in range(len(paths))]


def der_of(path) -> bytes:
    with open(path, "rb") as f:
        return _portable.pem_blocks(f.read(), strict=True)[0][1]


def test_subject_hash_matches_openssl_on_the_fixtures(tmp_path):
    paths = [p for p in sorted(FIXTURES.glob("*.pem")) if p.name != "rootca1.pem"]
    assert len(paths) == 36  # rootca1 is AmazonRootCA1's twin: rehash skips one
    assert [_portable.subject_hash(der_of(p)) for p in paths] == openssl_hashes(paths, tmp_path)


def test_subject_hash_matches_openssl_on_the_hosts_ca_store(tmp_path):
    """Some 140 roots with every string type real CAs use (UTF8, Printable,
    BMP, Teletex), multi-valued RDNs and odd spacing."""
    paths = sorted(glob.glob("/usr/share/ca-certificates/mozilla/*.crt"))
    need(len(paths) >= 100, "the host has no ca-certificates package", "TOOLS")
    assert [_portable.subject_hash(der_of(p)) for p in paths] == openssl_hashes(paths, tmp_path)


def test_subject_hash_is_of_the_subject_not_the_issuer():
    cross = der_of(FIXTURES / "rootca1.pem")  # Amazon Root CA 1, signed by Starfield
    self_signed = der_of(FIXTURES / "AmazonRootCA1.pem")
    assert _portable.subject_hash(cross) == _portable.subject_hash(self_signed) == "ce5e74ef"
    assert _portable.subject_hash(der_of(FIXTURES / "SFSRootCAG2.pem")) != "ce5e74ef"


def test_pem_blocks_strict():
    pem = (FIXTURES / "r2m01.pem").read_bytes()
    assert len(_portable.pem_blocks(b"# c\n\n" + pem + b"\n#x\n" + pem, strict=True)) == 2
    assert len(_portable.pem_blocks(pem.replace(b"\n", b"\r\n"), strict=True)) == 1
    for bad, why in [
        (pem + b"junk\n" + pem, "not PEM between"),
        (b"", "no PEM certificate"),
        (pem.replace(b"MII", b"M!I", 1), "not valid base64"),
        (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "X509 CRL block"),
    ]:
        with pytest.raises(_portable.PemError, match=why):
            _portable.pem_blocks(bad, strict=True)
    # Not strict (reading a system bundle): junk is skipped, certificates found.
    assert len(_portable.pem_blocks(pem + b"junk\n" + pem)) == 2


def test_cert_blocks_finds_what_the_pem_regex_finds():
    """cert_blocks (bytes.find) against _PEM_BLOCK on real bundles and on
    20,000 random strings of the pieces where the two could part."""
    import random

    real = [p.read_bytes() for p in sorted(FIXTURES.glob("*.pem"))]
    rnd = random.Random(7)
    pieces = [b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----", b"\r", b"\n"]
    pieces += [b"QUJD", b"x", b"-----BEGIN X-----"]
    made = [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(20000)]
    found = 0
    for data in real + made:
        want = [(m.group(0), m.group(1)) for m in _portable._PEM_BLOCK.finditer(data)]
        assert _portable.cert_blocks(data) == want, data
        found += len(want)
    assert found > 500  # the random strings do hold blocks (784 with this seed)


def test_libcrypto_major_reads_the_soname():
    major = _portable.libcrypto_major
    assert major("usr/lib/x86_64-linux-gnu/libcrypto.so.3") == 3
    assert major("/usr/lib/libcrypto.so.1.1") == 1
    assert major("libcrypto.3.dylib") is None and major(None) is None


WRITE_AND_SAY = """
import os, sys
if sys.argv[2] == "no-tempfile":
    sys.modules["tempfile"] = None  # as in a cut-down Python: importing it fails
from ats_roots import _portable
path = os.path.join(sys.argv[1], "bundle.pem")
_portable.atomic_write(path, b"new", mode=0o640)
print("tempfile" in sys.modules and sys.modules["tempfile"] is not None)
"""


@pytest.mark.parametrize("python", ["with-tempfile", "no-tempfile"])
def test_atomic_write_needs_no_tempfile(tmp_path, python):
    """A Python without tempfile (some images strip it) writes the same way: the
    file replaced whole, its mode, no temp file left; where tempfile is there,
    it is the one used (so the two runs take different paths)."""
    (tmp_path / "bundle.pem").write_bytes(b"old")
    done = subprocess.run([sys.executable, "-c", WRITE_AND_SAY, str(tmp_path), python],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(python == "with-tempfile")
    assert (tmp_path / "bundle.pem").read_bytes() == b"new"
    assert (tmp_path / "bundle.pem").stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["bundle.pem"]


def test_a_start_that_writes_nothing_imports_no_tempfile():
    """tempfile brings shutil and random: a read-only start must not pay for them."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from ats_roots import _portable; "
         "_portable.pem_blocks(b''); print(sorted({'tempfile', 'shutil'} & set(sys.modules)))"],
        capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
