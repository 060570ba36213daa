"""Reading stores out of a root: bytes by inner path, certificates in PEM."""

from __future__ import annotations

import base64
import re

from ats_roots import _portable
from ats_roots.audit import names
from ats_roots.system.target import Target
from ats_roots.trust.roots import load_der_quietly

_PLAIN = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)
# OpenSSL's "trusted certificate" form (RHEL's ca-bundle.trust.crt): the
# certificate's DER followed by its trust settings.
_TRUSTED = re.compile(
    rb"-----BEGIN TRUSTED CERTIFICATE-----\r?\n(.*?)-----END TRUSTED CERTIFICATE-----", re.S
)


def read_inner(target: Target, inner: str) -> bytes | None:
    """The file at inner (symlinks followed inside the root), if it is a
    regular file no bigger than any trust store."""
    host = target.path(target.resolve(inner))
    try:
        with open(host, "rb") as f:
            data = f.read(names.MAX_STORE + 1)
    except OSError:
        return None
    return data if len(data) <= names.MAX_STORE else None


def certificates(data: bytes) -> list[bytes]:
    """DER of every certificate in a PEM file, plain or OpenSSL-trusted."""
    ders = []
    for pattern in (_PLAIN, _TRUSTED):
        for match in pattern.finditer(data):
            try:  # one damaged block must not hide the others
                der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
                ders.append(_first_tlv(der) if pattern is _TRUSTED else der)
            except (ValueError, IndexError):
                continue
    return ders


def _first_tlv(blob: bytes) -> bytes:
    """The leading DER SEQUENCE of blob: the certificate, without trust settings."""
    if blob[0] != 0x30:
        raise ValueError("not a DER sequence")
    length, pos = blob[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, pos = int.from_bytes(blob[2 : 2 + count], "big"), 2 + count
    return blob[: pos + length]


# Every certificate read, by SHA-256: content-addressed, so never stale. Stores
# keep fingerprints only; recognising a root by its key (model.Store.held)
# looks the certificates up here.
KNOWN_DERS: dict[str, bytes] = {}


def fingerprints(ders: list[bytes]) -> set[str]:
    out = set()
    for der in ders:
        sha = _portable.sha256_hex(der)
        KNOWN_DERS.setdefault(sha, der)
        out.add(sha)
    return out


def is_ca(der: bytes) -> bool:
    """A CA certificate: basicConstraints CA:TRUE, or a self-signed v1 root."""
    from cryptography import x509

    try:
        cert = load_der_quietly(der)
    except ValueError:
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.issuer == cert.subject
