"""Roots recognised by key: the SPKI pins, the pure-Python self-signature
check in _portable (what the hook runs), and recognition of a store's roots
with a pin set of the tests' own keys (Amazon's private keys are not ours)."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest
import trust_pki
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import FIXTURES, LEAF_TIME, openssl_verify

from ats_roots import _portable
from ats_roots.trust import chain as trust_chain
from ats_roots.trust import keys
from ats_roots.trust.roots import SPKI_PINS, KeyPin, key_pins, load_roots

ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
OLD_PYTHON = "/root/.pyenv/versions/3.6.15/bin/python3"


def der_of(path: Path) -> bytes:
    return _portable.pem_blocks(path.read_bytes())[0][1]


def test_spki_pins_are_the_shipped_roots_keys():
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    for root in load_roots():
        spki = root.certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        assert _portable.spki_der(root.der) == spki
        assert _portable.sha256_hex(spki) == SPKI_PINS[root.filename]
    # the cross-signed copies carry the same keys; a leaf does not
    for n in (1, 2, 3, 4):
        assert (
            _portable.spki_sha256(der_of(FIXTURES / f"rootca{n}.pem"))
            == (SPKI_PINS[f"AmazonRootCA{n}.pem"])
        )
    leaf = der_of(FIXTURES / "valid.rootca1.demo.amazontrust.com.pem")
    assert _portable.spki_sha256(leaf) not in SPKI_PINS.values()


@pytest.mark.parametrize("kind", trust_pki.KINDS)
def test_self_signature_check_agrees_with_cryptography(kind):
    """RSA (SHA-256), P-256 (SHA-256), P-384 (SHA-384); every byte of the
    signature or the signed part matters; a cert naming itself but signed by
    another key is refused."""
    root = trust_pki.make(f"Self {kind}", trust_pki.key(kind, 10), trust_pki.Spec())
    root.cert.verify_directly_issued_by(root.cert)  # cryptography agrees it is self-signed
    assert _portable.self_signed(root.der)
    for pos in (len(root.der) - 3, 40, 120):
        bad = bytearray(root.der)
        bad[pos] ^= 0x01
        assert not _portable.self_signed(bytes(bad)), pos
    other = trust_pki.key(kind, 11)
    forged = _impostor(root, other)
    assert _portable.spki_sha256(forged.der) == _portable.spki_sha256(root.der)
    assert not _portable.self_signed(forged.der)


def test_self_signature_check_on_the_real_roots():
    for root in load_roots():
        assert _portable.self_signed(root.der), root.name
    assert _portable.self_signed(der_of(FIXTURES.parent / "legacy" / "StarfieldClass2CA.pem"))
    for n in (1, 2, 3, 4):  # issued by Starfield Services G2, not by themselves
        assert not _portable.self_signed(der_of(FIXTURES / f"rootca{n}.pem"))


def _impostor(root, signer_key):
    """A certificate with root's subject, issuer and public key, signed by another key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    c = root.cert
    b = (
        x509.CertificateBuilder()
        .subject_name(c.subject)
        .issuer_name(c.issuer)
        .public_key(c.public_key())
        .serial_number(c.serial_number + 1)
        .not_valid_before(c.not_valid_before_utc)
        .not_valid_after(c.not_valid_after_utc)
    )
    for ext in c.extensions:
        b = b.add_extension(ext.value, ext.critical)
    algorithm = (
        hashes.SHA384()
        if isinstance(signer_key, ec.EllipticCurvePrivateKey)
        and (signer_key.curve.name == "secp384r1")
        else hashes.SHA256()
    )
    return trust_pki.Cert(root.name, signer_key, b.sign(signer_key, algorithm))


@pytest.fixture(scope="module")
def own():
    """A pinned root of the tests' own key, a second self-signed certificate
    of the same key, and a pin set naming the first."""
    k = trust_pki.key("p256", 20)
    pinned = trust_pki.make("Own Root", k, trust_pki.Spec())
    later = trust_pki.make(
        "Own Root",
        k,
        trust_pki.Spec(not_after=trust_pki.T0 + 7000 * trust_pki.DAY),
    )
    pin = KeyPin("Own Root", _portable.sha256_hex(pinned.der), _portable.spki_sha256(pinned.der))
    return pinned, later, [pin]


def test_two_self_signed_certificates_of_one_key_are_both_recognised(own):
    pinned, later, pins = own
    assert pinned.der != later.der
    (held,) = keys.recognise([pinned.der], pins)
    assert held.how == keys.PINNED and held.trusted and held.note == ""
    (held,) = keys.recognise([later.der], pins)
    assert held.how == keys.SAME_KEY and held.trusted
    assert "another self-signed certificate of its key" in held.note
    assert "not the pinned one" in held.note


def test_a_pinned_key_with_a_bad_signature_is_not_recognised(own):
    pinned, later, pins = own
    forged = _impostor(later, trust_pki.key("p256", 21))
    (held,) = keys.recognise([forged.der], pins)
    assert held.how == keys.ABSENT and not held.trusted
    broken = bytearray(later.der)
    broken[-2] ^= 0xFF
    (held,) = keys.recognise([bytes(broken)], pins)
    assert held.how == keys.ABSENT
    # positive control: the same store plus the good certificate holds it
    (held,) = keys.recognise([forged.der, bytes(broken), later.der], pins)
    assert held.how == keys.SAME_KEY


def test_unpinned_keys_are_not_roots(own):
    _, _, pins = own
    stranger = trust_pki.make("Own Root", trust_pki.key("p256", 22), trust_pki.Spec())
    (held,) = keys.recognise([stranger.der], pins)
    assert held.how == keys.ABSENT


def test_a_store_with_only_the_cross_signed_root_ca_1(tmp_path):
    """rootca1.pem (Amazon Root CA 1 issued by Starfield Services G2) is an
    anchor only for partial-chain clients: ats says so, and `openssl verify`
    agrees for the default profile and with -partial_chain."""
    cross = FIXTURES / "rootca1.pem"
    held = {h.name: h for h in keys.recognise([der_of(cross)])}
    ca1 = held["Amazon Root CA 1"]
    assert ca1.how == keys.CROSS_ONLY and not ca1.trusted
    assert "partial chains" in ca1.note
    assert all(h.how == keys.ABSENT for n, h in held.items() if n != "Amazon Root CA 1")

    leaf = FIXTURES / "valid.rootca1.demo.amazontrust.com.pem"
    issuer = FIXTURES / "r2m03.pem"
    chain = [der_of(leaf), der_of(issuer)]
    at = datetime.datetime.fromtimestamp(LEAF_TIME, datetime.timezone.utc)
    result = trust_chain.check_chain(chain, [der_of(cross)], at, None)
    assert not result.ok and result.profiles["default"].partial_only

    def openssl(*flags):
        return openssl_verify(cross, issuer, leaf, *flags, at=LEAF_TIME)

    default = openssl()
    assert default.returncode != 0, default.stdout
    partial = openssl("-partial_chain")
    assert partial.returncode == 0 and partial.stdout.strip().endswith(": OK"), partial.stdout
    # With the self-signed Amazon Root CA 1 beside it, the store holds the root;
    # but OpenSSL 3 takes the first trusted certificate of the subject: with the
    # cross-signed copy first it builds through it and fails, as the CLI does.
    root = der_of(FIXTURES / "AmazonRootCA1.pem")
    for order, want in (([root, der_of(cross)], True), ([der_of(cross), root], False)):
        assert trust_chain.check_chain(chain, order, at, None).ok is want
        bundle = tmp_path / "both.pem"
        bundle.write_bytes(b"".join(_pem(d) for d in order))
        cli = openssl_verify(bundle, issuer, leaf, at=LEAF_TIME)
        assert (cli.returncode == 0) is want, cli.stdout
        ca1 = {h.name: h for h in keys.recognise(order)}["Amazon Root CA 1"]
        assert ca1.how == keys.PINNED
        assert ("cross-signed copy of its key comes first" in ca1.note) is (not want)


def _pem(der: bytes) -> bytes:
    import ssl

    return ssl.DER_cert_to_PEM_cert(der).encode()


def test_the_default_pin_set_is_amazons():
    assert [p.name for p in key_pins()] == [
        "Amazon Root CA 1",
        "Amazon Root CA 2",
        "Amazon Root CA 3",
        "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2",
    ]


def test_portable_key_functions_on_python_3_6(own, tmp_path):
    """The hook runs these on python3 >= 3.6: the same answers there."""
    if not os.path.exists(OLD_PYTHON):
        if os.environ.get("ATS_REQUIRE_OLD_PYTHON") == "1":
            pytest.fail(f"python 3.6 is required (ATS_REQUIRE_OLD_PYTHON=1) at {OLD_PYTHON}")
        pytest.skip("no python 3.6 here")
    pinned, later, pins = own
    (tmp_path / "store.pem").write_bytes(later.pem + (FIXTURES / "rootca1.pem").read_bytes())
    portable = Path(_portable.__file__)
    store, ca1 = str(tmp_path / "store.pem"), SPKI_PINS["AmazonRootCA1.pem"]
    code = (
        "import sys, importlib.util as u\n"
        f"s = u.spec_from_file_location('p', {str(portable)!r}); P = u.module_from_spec(s)\n"
        "s.loader.exec_module(P)\n"
        f"ders = [d for _, d in P.pem_blocks(open({store!r}, 'rb').read())]\n"
        f"found = P.roots_by_key(ders, {{{pins[0].spki_sha256!r}, {ca1!r}}})\n"
        "print(sorted(kind for _, kind in found.values()))\n"
    )
    proc = subprocess.run(
        [OLD_PYTHON, "-c", code], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['cross-signed', 'self-signed']"
