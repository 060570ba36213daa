"""Java key stores without Java: read the trusted certificates of a JKS,
JCEKS or PKCS#12 store, and add certificates to one.

JKS is a small, fixed format (magic, version, entries, then a keyed SHA-1
over the password and everything before it), so it is read and written here
with the standard library: pyjks, the one Python library for it, pulls in
twofish, which has no wheels, and the images install offline from wheels
only. The tests check this code against pyjks and keytool both ways.
Existing entries are copied byte for byte (private keys stay encrypted and
untouched); new trusted entries go after them and the digest is redone.

PKCS#12 (the JDK's default since 9, and cacerts' format since JDK 18) goes
through cryptography, whose serialize_java_truststore writes the attribute
that makes Java treat a certificate as a trust anchor.
"""

from __future__ import annotations

import hashlib
import struct
import time
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from ats_roots import _portable
from ats_roots.trust.roots import load_der_quietly

JKS_MAGIC = 0xFEEDFEED
JCEKS_MAGIC = 0xCECECECE
_PRIVATE_KEY, _TRUSTED_CERT, _SECRET_KEY = 1, 2, 3
_WHITENER = b"Mighty Aphrodite"  # the constant Sun's JKS mixes into its digest
DEFAULT_PASSWORD = "changeit"  # noqa: S105 - every JDK's cacerts password, public


class KeystoreError(ValueError):
    """A store that cannot be read, or cannot be changed safely."""


@dataclass
class Keystore:
    format: str  # jks, jceks or pkcs12
    trusted: list[tuple[str, bytes]] = field(default_factory=list)  # (alias, DER)
    keys: int = 0  # private or secret key entries
    integrity: str = "not checked"  # ok, wrong password, not checked, none

    def fingerprints(self) -> set[str]:
        return {_portable.sha256_hex(der) for _, der in self.trusted}


def sniff(head: bytes) -> str | None:
    """The store format from its first bytes, or None."""
    if len(head) >= 4:
        magic = struct.unpack(">I", head[:4])[0]
        if magic == JKS_MAGIC:
            return "jks"
        if magic == JCEKS_MAGIC:
            return "jceks"
    # PKCS#12 is a DER SEQUENCE with a long-form length, version INTEGER 3.
    if len(head) >= 8 and head[0] == 0x30 and head[1] in (0x82, 0x83, 0x84):
        at = 2 + (head[1] & 0x7F)
        if head[at : at + 3] == b"\x02\x01\x03":
            return "pkcs12"
    return None


def read(data: bytes, password: str | None = DEFAULT_PASSWORD) -> Keystore:
    kind = sniff(data[:16])
    if kind in ("jks", "jceks"):
        return _read_jks(data, password, kind)
    if kind == "pkcs12":
        return _read_pkcs12(data, password)
    raise KeystoreError("not a JKS, JCEKS or PKCS#12 key store")


def add_trusted(data: bytes, certs: list[tuple[str, bytes]], password: str | None) -> bytes:
    """The store with certs (alias, DER) added as trusted entries; those it
    already trusts are skipped. Refuses what it cannot write faithfully."""
    store = read(data, password)
    have = store.fingerprints()
    aliases = {a for a, _ in store.trusted}
    new = []
    for alias, der in certs:
        if _portable.sha256_hex(der) in have:
            continue
        while alias in aliases:
            alias += "-ats"
        aliases.add(alias)
        new.append((alias, der))
    if not new:
        return data
    if store.format in ("jks", "jceks"):
        if store.integrity != "ok":
            raise KeystoreError(
                f"its integrity check fails with the given password ({store.integrity}); "
                "pass the store's password"
            )
        return _append_jks(data, new, password or "", store.format)
    return _rewrite_pkcs12(data, store, new, password)


# --- JKS and JCEKS


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise KeystoreError("truncated key store")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u2(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u4(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def utf(self) -> str:
        return self.take(self.u2()).decode("utf-8", "replace")

    def cert(self, version: int) -> bytes:
        if version == 2:
            self.utf()  # certificate type, "X.509"
        return self.take(self.u4())


def _walk_jks(data: bytes, kind: str) -> tuple[int, list[tuple[str, bytes]], int, int]:
    """(version, trusted (alias, DER), key entries, end of entries)."""
    r = _Reader(data)
    r.u4()
    version = r.u4()
    if version not in (1, 2):
        raise KeystoreError(f"unknown {kind.upper()} version {version}")
    trusted, keys = [], 0
    for _ in range(r.u4()):
        tag = r.u4()
        alias = r.utf()
        r.take(8)  # creation time
        if tag == _TRUSTED_CERT:
            trusted.append((alias, r.cert(version)))
        elif tag == _PRIVATE_KEY:
            keys += 1
            r.take(r.u4())  # the encrypted key, left as it is
            for _ in range(r.u4()):
                r.cert(version)
        else:  # JCEKS secret keys are serialized Java objects: no way to skip them
            raise KeystoreError(f"holds a {kind.upper()} entry of type {tag}: ats cannot read it")
    return version, trusted, keys, r.pos


def _jks_digest(password: str, body: bytes) -> bytes:
    key = b"".join(struct.pack(">H", ord(c)) for c in password)
    return hashlib.sha1(key + _WHITENER + body).digest()  # noqa: S324 - the format's own MAC


def _read_jks(data: bytes, password: str | None, kind: str) -> Keystore:
    _, trusted, keys, end = _walk_jks(data, kind)
    store = Keystore(kind, trusted, keys)
    if password is not None:
        ok = data[end : end + 20] == _jks_digest(password, data[:end])
        store.integrity = "ok" if ok else "wrong password"
    return store


def _append_jks(data: bytes, new: list[tuple[str, bytes]], password: str, kind: str) -> bytes:
    version, _, _, end = _walk_jks(data, kind)
    count = struct.unpack(">I", data[8:12])[0]
    millis = int(time.time() * 1000)
    entries = b""
    for alias, der in new:
        name = alias.encode("utf-8")
        entries += struct.pack(">IH", _TRUSTED_CERT, len(name)) + name + struct.pack(">Q", millis)
        if version == 2:
            entries += struct.pack(">H", 5) + b"X.509"
        entries += struct.pack(">I", len(der)) + der
    body = data[:8] + struct.pack(">I", count + len(new)) + data[12:end] + entries
    return body + _jks_digest(password, body)


# --- PKCS#12


def _read_pkcs12(data: bytes, password: str | None) -> Keystore:
    # No password first: JDK 18+ cacerts has no MAC, opens with any password,
    # and must stay password-less when rewritten.
    tries = [(None, "none")] + ([(password.encode(), "ok")] if password else [])
    for secret, integrity in tries:
        try:
            with warnings.catch_warnings():  # SFS Root G2's serial number is 0
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                loaded = pkcs12.load_pkcs12(data, secret)
        except ValueError:
            continue
        trusted = [
            ((c.friendly_name or b"").decode("utf-8", "replace"), _der(c.certificate))
            for c in loaded.additional_certs
        ]
        return Keystore("pkcs12", trusted, 1 if loaded.key else 0, integrity)
    raise KeystoreError("cannot open the PKCS#12 store with the given password")


def _rewrite_pkcs12(data, store: Keystore, new, password: str | None) -> bytes:
    if store.keys:
        raise KeystoreError("holds private keys: a key store, not a trust store; left alone")
    if not hasattr(pkcs12, "serialize_java_truststore"):
        raise KeystoreError("this cryptography cannot write Java trust stores; upgrade it (45+)")
    certs = [
        pkcs12.PKCS12Certificate(load_der_quietly(der), alias.encode() or None)
        for alias, der in store.trusted + new
    ]
    if store.integrity == "none":
        # cryptography adds a MAC keyed with the empty password even here;
        # Java then fails the integrity check for any other password
        # (-storepass changeit). Drop it: no MAC, like the JDK's own cacerts.
        return _without_mac(pkcs12.serialize_java_truststore(certs, serialization.NoEncryption()))
    encryption = serialization.BestAvailableEncryption(password.encode())
    return pkcs12.serialize_java_truststore(certs, encryption)


def _without_mac(pfx: bytes) -> bytes:
    """PFX ::= SEQUENCE { version, authSafe ContentInfo, macData MacData OPTIONAL }:
    the same SEQUENCE without its third element."""
    _, body = _tlv(pfx, 0)
    version_end, _ = _tlv(pfx, body)
    auth_end, _ = _tlv(pfx, version_end)
    content = pfx[body:auth_end]
    return b"\x30" + _der_length(len(content)) + content


def _tlv(data: bytes, at: int) -> tuple[int, int]:
    """(end of the element at `at`, start of its content)."""
    length, start = data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    return start + length, start


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
