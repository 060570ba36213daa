"""Validate a recorded chain against a store, with cryptography's verifier."""

from __future__ import annotations

import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from ats_roots import _portable
from ats_roots.errors import BadInput
from ats_roots.trust.roots import load_der_quietly


def parse_time(text: str) -> datetime.datetime:
    """A unix time or an ISO 8601 date-time (UTC when no offset is given)."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--at {text!r}: give an ISO 8601 time or a unix time") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def load_chain(path: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as f:
            blocks = _portable.pem_blocks(f.read(), strict=True)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    except _portable.PemError as exc:
        raise BadInput(f"{path}: not a PEM chain: it {exc}") from None
    try:
        return [load_der_quietly(der) for _, der in blocks]
    except ValueError as exc:
        raise BadInput(f"{path}: a block does not parse as X.509 ({exc})") from None


def default_host(leaf: x509.Certificate) -> str | None:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    names = san.get_values_for_type(x509.DNSName)
    return names[0] if names else None


def verify_chain(chain, anchors_der, at: datetime.datetime, host: str | None) -> dict:
    """{'ok', 'host', 'path' or 'error'}: the path found up to an anchor."""
    leaf, intermediates = chain[0], chain[1:]
    host = host or default_host(leaf)
    if not host:
        raise BadInput("the leaf names no DNS host; pass --host")
    if not anchors_der:
        return {"ok": False, "host": host, "error": "the store holds no certificates"}
    store = verification.Store([load_der_quietly(d) for d in anchors_der])
    verifier = (
        verification.PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(host))
    )
    try:
        path = verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        return {"ok": False, "host": host, "error": str(exc)}
    return {
        "ok": True,
        "host": host,
        "path": [c.subject.rfc4514_string() for c in path],
        "anchor_sha256": _portable.colon_hex(
            _portable.sha256_hex(path[-1].public_bytes(Encoding.DER))
        ),
    }
