"""keystore.py against independent implementations: pyjks writes and checks
JKS, cryptography PKCS#12, keytool (when the host has a JDK) both."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import audit_plants as plants
import jks
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from helpers import need

from ats_roots.formats import keystore
from ats_roots.trust.certs import ats_certs

pytestmark = pytest.mark.filterwarnings(  # SFS Root G2's serial number is 0
    "ignore::cryptography.utils.CryptographyDeprecationWarning"
)
ATS = [(c.slug.lower(), c.der) for c in ats_certs()]
ATS_DER = {der for _, der in ATS}


@pytest.fixture(scope="module")
def cas():
    return plants.test_cas(3)


def test_sniff():
    assert keystore.sniff(bytes.fromhex("feedfeed00000002")) == "jks"
    assert keystore.sniff(bytes.fromhex("cececece00000002")) == "jceks"
    assert keystore.sniff(plants.p12_truststore(plants.test_cas(1))[:16]) == "pkcs12"
    assert keystore.sniff(b"-----BEGIN CERTIFICATE-----") is None
    assert keystore.sniff(b"\x30\x82\x01\x00\x30") is None  # a certificate, not PKCS#12


def test_reads_a_pyjks_store(cas):
    store = keystore.read(plants.jks_store(cas))
    assert store.format == "jks" and store.integrity == "ok"
    assert [der for _, der in store.trusted] == [plants.der_of(ca) for ca in cas]
    assert keystore.read(plants.jks_store(cas), "wrong").integrity == "wrong password"


def test_adds_roots_pyjks_verifies_digest_and_entries(cas):
    original = plants.jks_store(cas)
    patched = keystore.add_trusted(original, ATS, "changeit")
    loaded = jks.KeyStore.loads(patched, "changeit")  # checks the keyed SHA-1
    assert {e.cert for e in loaded.certs.values()} == ATS_DER | {plants.der_of(c) for c in cas}
    assert patched[12:100] == original[12:100]  # existing entries kept byte for byte
    assert keystore.add_trusted(patched, ATS, "changeit") == patched  # nothing twice


def test_private_key_entries_survive_untouched(cas):
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    entry = jks.PrivateKeyEntry.new("server", [plants.der_of(cas[0])], pkcs8, "pkcs8")
    store = jks.KeyStore.new("jks", [entry, jks.TrustedCertEntry.new("ca", plants.der_of(cas[1]))])
    patched = keystore.add_trusted(store.saves("changeit"), ATS, "changeit")
    loaded = jks.KeyStore.loads(patched, "changeit")
    loaded.private_keys["server"].decrypt("changeit")
    assert loaded.private_keys["server"].pkey_pkcs8 == pkcs8
    assert keystore.read(patched).keys == 1


def test_jceks_trusted_entries(cas):
    """pyjks reads JCEKS but cannot write it: make one from a JKS (same layout
    for trusted entries, other magic), digest done here from the format."""
    body = b"\xce\xce\xce\xce" + plants.jks_store(cas)[4:-20]
    key = "changeit".encode("utf-16-be")
    jceks = body + hashlib.sha1(key + b"Mighty Aphrodite" + body).digest()
    assert jks.KeyStore.loads(jceks, "changeit").store_type == "jceks"
    patched = keystore.add_trusted(jceks, ATS, "changeit")
    assert len(jks.KeyStore.loads(patched, "changeit").certs) == 8


def test_refuses_to_sign_with_a_wrong_password(cas):
    with pytest.raises(keystore.KeystoreError, match="integrity"):
        keystore.add_trusted(plants.jks_store(cas, "s3cret"), ATS, "changeit")


def test_truncated_and_foreign_data():
    with pytest.raises(keystore.KeystoreError, match="truncated"):
        keystore.read(bytes.fromhex("feedfeed0000000200000001"))
    with pytest.raises(keystore.KeystoreError):
        keystore.read(b"just text")


def test_pkcs12_with_password_stays_encrypted(cas):
    data = plants.p12_truststore(cas, serialization.BestAvailableEncryption(b"changeit"))
    assert keystore.read(data).integrity == "ok"
    patched = keystore.add_trusted(data, ATS, "changeit")
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(patched, None)
    loaded = pkcs12.load_pkcs12(patched, b"changeit")
    assert len(loaded.additional_certs) == 8
    assert {c.friendly_name for c in loaded.additional_certs} >= {
        b"test-root-0",
        b"ats-sfsrootcag2",
    }


def test_pkcs12_without_password_stays_without(cas):
    """Like the JDK's own cacerts: no MAC at all, so that any password opens it."""
    patched = keystore.add_trusted(plants.p12_truststore(cas), ATS, "changeit")
    assert keystore.read(patched).integrity == "none"
    assert len(pkcs12.load_pkcs12(patched, None).additional_certs) == 8
    assert len(pkcs12.load_pkcs12(patched, b"any password").additional_certs) == 8


def test_pkcs12_wrong_password_and_key_stores(cas):
    data = plants.p12_truststore(cas, serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(keystore.KeystoreError, match="password"):
        keystore.read(data, "changeit")
    with_key = pkcs12.serialize_key_and_certificates(
        b"k", cas[0]._private_key, cas[0]._certificate, None, serialization.NoEncryption()
    )
    with pytest.raises(keystore.KeystoreError, match="private keys"):
        keystore.add_trusted(with_key, ATS, None)


KEYTOOL = shutil.which("keytool")


def keytool_list(path, storepass: str | None = "changeit") -> str:
    need(KEYTOOL is not None, "no keytool on the host", "TOOLS")
    password = ["-storepass", storepass] if storepass is not None else []
    return subprocess.run(
        [KEYTOOL, "-list", "-keystore", str(path), *password],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.parametrize("kind", ["jks", "pkcs12", "pkcs12-nopass"])
def test_keytool_reads_what_ats_writes(tmp_path, cas, kind):
    need(KEYTOOL is not None, "no keytool on the host", "TOOLS")
    data = {
        "jks": lambda: plants.jks_store(cas),
        "pkcs12": lambda: plants.p12_truststore(
            cas, serialization.BestAvailableEncryption(b"changeit")
        ),
        "pkcs12-nopass": lambda: plants.p12_truststore(cas),
    }[kind]()
    original = tmp_path / "original"
    original.write_bytes(data)
    # Negative control: the three CAs, no root yet (no password: keytool lists
    # a password-less PKCS#12 only when asked for none).
    before = keytool_list(original, None if kind == "pkcs12-nopass" else "changeit")
    assert before.count("trustedCertEntry") == 3 and "ats-amazonrootca1" not in before
    path = tmp_path / "cacerts"
    path.write_bytes(keystore.add_trusted(data, ATS, "changeit"))
    listing = keytool_list(path)
    assert listing.count("trustedCertEntry") == 8
    assert "ats-amazonrootca1" in listing


def test_reads_what_keytool_writes(tmp_path, cas):
    need(KEYTOOL is not None, "no keytool on the host", "TOOLS")
    pem = tmp_path / "ca.pem"
    pem.write_bytes(cas[0].cert_pem.bytes())
    for store_type in ("JKS", "PKCS12"):
        path = tmp_path / f"store.{store_type}"
        subprocess.run(
            [
                KEYTOOL,
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                str(pem),
                "-keystore",
                str(path),
                "-storetype",
                store_type,
                "-storepass",
                "changeit",
            ],
            capture_output=True,
            check=True,
        )
        store = keystore.read(path.read_bytes(), "changeit")
        assert (store.integrity, len(store.trusted)) == ("ok", 1)
        assert store.trusted[0] == ("ca", plants.der_of(cas[0]))
