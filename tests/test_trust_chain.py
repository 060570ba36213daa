"""The issue's reproduction: a real public chain (valid.rootca1.demo.amazontrust.com,
Amazon RSA 2048 M03) carried up through both legacy cross-signs (Amazon Root
CA 1 by Starfield Services G2, G2 by Starfield Class 2), against a bundle
without the Amazon roots but with Starfield Class 2, as older stores are.
OpenSSL's default accepts it; ats says OK with that path and names the
anchor's weakness; -x509_strict (Python 3.13+) refuses it, and ats says so."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import FIXTURES, LEAF_TIME, ats, openssl_verify

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"
CLASS2 = "OU=Starfield Class 2 Certification Authority,O=Starfield Technologies\\, Inc.,C=US"


def files(tmp_path, with_class2_cross=True):
    leaf = FIXTURES / "valid.rootca1.demo.amazontrust.com.pem"
    parts = [FIXTURES / "r2m03.pem", FIXTURES / "rootca1.pem"]
    if with_class2_cross:
        parts.append(LEGACY / "SFSRootCAG2-by-StarfieldClass2.pem")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(p.read_bytes() for p in [leaf, *parts]))
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(b"".join(p.read_bytes() for p in parts))
    # an older store: Starfield Class 2, none of the five ATS roots
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((LEGACY / "StarfieldClass2CA.pem").read_bytes())
    return leaf, chain, untrusted, bundle


def openssl(bundle, untrusted, leaf, *flags):
    return openssl_verify(bundle, untrusted, leaf, *flags, at=LEAF_TIME, purpose="sslserver")


def test_legacy_cross_signed_path_is_ok_with_the_weakness_named(tmp_path):
    leaf, chain, untrusted, bundle = files(tmp_path)
    assert openssl(bundle, untrusted, leaf).returncode == 0
    strict = openssl(bundle, untrusted, leaf, "-x509_strict")
    assert strict.returncode != 0 and "not marked critical" in strict.stdout + strict.stderr

    proc = ats("verify", "--bundle", bundle, "--chain", chain, "--at", LEAF_TIME)
    out = proc.stdout
    ok_line = next(x for x in out.splitlines() if x.startswith("chain "))
    assert ok_line.startswith("chain ok for valid.rootca1.demo.amazontrust.com: "), out
    assert ok_line.split(": ", 1)[1].split(" <- ") == [
        "CN=valid.rootca1.demo.amazontrust.com",
        "CN=Amazon RSA 2048 M03,O=Amazon,C=US",
        "CN=Amazon Root CA 1,O=Amazon,C=US",
        "CN=Starfield Services Root Certificate Authority - G2,O=Starfield Technologies\\, "
        "Inc.,L=Scottsdale,ST=Arizona,C=US",
        CLASS2,
    ]
    assert "  default ok      " in out and "anchor Starfield Class 2 Certification Authority" in out
    assert "  strict  FAILED  " in out and "Basic Constraints of CA cert not marked critical" in out
    weakness = next(x for x in out.splitlines() if x.startswith("weakness: "))
    assert weakness.startswith("weakness: anchor Starfield Class 2 Certification Authority: ")
    assert "basicConstraints not critical" in weakness
    assert "accepted by OpenSSL" in weakness
    assert "a root on its way out of public stores" in weakness
    # the store lacks the five roots, so verify as a whole fails; the chain line is OK
    assert proc.returncode == 1 and "roots missing" in proc.stderr

    doc = json.loads(
        ats("verify", "--bundle", bundle, "--chain", chain, "--at", LEAF_TIME, "--json").stdout
    )["chain"]
    assert doc["ok"] and doc["profiles"]["default"]["anchor"] == CLASS2
    assert not doc["profiles"]["strict"]["ok"] and doc["weaknesses"] == [weakness[10:]]


def test_without_the_class2_cross_sign_there_is_no_path(tmp_path):
    """Negative control: the same store, the chain without G2's cross-sign."""
    leaf, chain, untrusted, bundle = files(tmp_path, with_class2_cross=False)
    assert openssl(bundle, untrusted, leaf).returncode != 0
    proc = ats("verify", "--bundle", bundle, "--chain", chain, "--at", LEAF_TIME)
    assert "chain FAILED for valid.rootca1.demo.amazontrust.com" in proc.stdout, proc.stdout
    assert "weakness" not in proc.stdout and proc.returncode == 1


def test_a_modern_store_has_no_weakness(tmp_path):
    """Positive control: with Amazon Root CA 1 trusted, the path stops there
    and both profiles accept it."""
    leaf, chain, untrusted, bundle = files(tmp_path)
    bundle.write_bytes(
        b"".join(
            (FIXTURES / f"{n}.pem").read_bytes()
            for n in (
                "AmazonRootCA1",
                "AmazonRootCA2",
                "AmazonRootCA3",
                "AmazonRootCA4",
                "SFSRootCAG2",
            )
        )
    )
    proc = ats("verify", "--bundle", bundle, "--chain", chain, "--at", LEAF_TIME)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  strict  ok      " in proc.stdout and "weakness" not in proc.stdout


def test_without_libcrypto_3_the_verdict_says_it_is_not_openssls(tmp_path):
    """ATS_LIBCRYPTO names a library that is not there: cryptography decides,
    and says so; the legacy chain it refuses is FAILED, not passed off as OpenSSL's."""
    import os

    leaf, chain, untrusted, bundle = files(tmp_path)
    env = {**os.environ, "ATS_LIBCRYPTO": str(tmp_path / "no-libcrypto.so")}
    proc = ats("verify", "--bundle", bundle, "--chain", chain, "--at", LEAF_TIME, env=env)
    assert "chain FAILED for valid.rootca1.demo.amazontrust.com" in proc.stdout, proc.stdout
    assert "no OpenSSL 3 libcrypto here" in proc.stdout and "cryptography" in proc.stdout
    assert "  default " not in proc.stdout


def test_a_target_without_openssl_3_is_named(tmp_path):
    """The verdict is OpenSSL 3's; a root file system shipping only 1.1 gets a note."""
    from ats_roots.trust import ossl

    lib = tmp_path / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libcrypto.so.1.1").write_bytes(b"\x7fELF")
    assert "libcrypto.so.1.1, not OpenSSL 3" in ossl.version_note(str(tmp_path))
    (lib / "libcrypto.so.3").write_bytes(b"\x7fELF")
    assert ossl.version_note(str(tmp_path)) == ""


def test_weakness_lines_for_generated_chains():
    """What OpenSSL accepts and the strict verifier refuses is named, per
    certificate where a fault can be told, else by cryptography's message."""
    import trust_pki

    from ats_roots.trust import chain

    cases = {c[0]: c for c in trust_pki.cases() if c[0].startswith("p256/rsa ")}

    def weaknesses(what):
        return chain.check_chain(*cases[f"p256/rsa {what}"][1:]).weaknesses

    (w,) = weaknesses("partial wildcard f*.example.com for foo.example.com")
    assert w.startswith("a strict RFC 5280 verifier (cryptography) rejects it: ")
    assert w.endswith("accepted by OpenSSL (default and -x509_strict)")
    (w,) = weaknesses("legacy intermediate")
    assert w.startswith("intermediate Inter p256/rsa: basicConstraints not critical, no keyUsage")
    assert "rejected by -x509_strict: Basic Constraints of CA cert not marked critical" in w
    assert weaknesses("good") == []  # the control: a modern chain has none
