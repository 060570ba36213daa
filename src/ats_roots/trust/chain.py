"""Validate a recorded chain against a store as the image's own TLS does.

The verdict is OpenSSL's (trust/ossl.py: the host's libcrypto 3, with the
default profile and with -x509_strict, which Python 3.13+ sets). `cryptography`'s
strict RFC 5280 verifier gives a second opinion; where it rejects what OpenSSL
accepts, the weakness is named on a line of its own, because a stricter
client (or the next version of a root program) will refuse it.
"""

from __future__ import annotations

import datetime
import re
import warnings
from dataclasses import dataclass, field

from ats_roots import _portable
from ats_roots.errors import BadInput
from ats_roots.trust import calendar


def load_der_quietly(der: bytes):
    """cryptography is imported here, not at module import: `ats` starts fast."""
    from ats_roots.trust.roots import load_der_quietly as load

    return load(der)


PROFILE_TEXT = {
    "default": "OpenSSL default (curl, Postfix, Python <= 3.12)",
    "strict": "OpenSSL -x509_strict (Python 3.13+)",
}


def parse_time(text: str) -> datetime.datetime:
    """A unix time or an ISO 8601 date-time (UTC when no offset is given)."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--at {text!r}: give an ISO 8601 time or a unix time") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def load_chain_ders(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as f:
            blocks = _portable.pem_blocks(f.read(), strict=True)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    except _portable.PemError as exc:
        raise BadInput(f"{path}: not a PEM chain: it {exc}") from None
    ders = [der for _, der in blocks]
    for der in ders:
        try:
            load_der_quietly(der)
        except ValueError as exc:
            raise BadInput(f"{path}: a block does not parse as X.509 ({exc})") from None
    return ders


def default_host(leaf) -> str | None:
    from cryptography import x509

    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    names = san.get_values_for_type(x509.DNSName)
    return names[0] if names else None


def subject_of(der: bytes) -> str:
    return load_der_quietly(der).subject.rfc4514_string()


def display_name(der: bytes) -> str:
    """CN, else OU, else the whole subject: 'Starfield Class 2 Certification Authority'."""
    from cryptography.x509.oid import NameOID

    subject = load_der_quietly(der).subject
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME):
        values = subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return subject.rfc4514_string()


@dataclass
class Profile:
    name: str  # default, strict
    ok: bool
    error: str = ""
    depth: int = -1
    path: list[bytes] = field(default_factory=list)
    partial_only: bool = False  # fails, but passes for clients accepting partial chains

    def to_json(self) -> dict:
        doc = {"ok": self.ok, "path": [subject_of(d) for d in self.path]}
        if self.path and self.ok:
            doc["anchor"] = subject_of(self.path[-1])
            doc["anchor_sha256"] = _portable.colon_hex(_portable.sha256_hex(self.path[-1]))
        if not self.ok:
            doc.update(error=self.error, depth=self.depth, partial_chain_ok=self.partial_only)
        return doc


@dataclass
class ChainResult:
    host: str
    at: datetime.datetime
    engine: str  # "OpenSSL 3.0.19 ..." or the fallback's note
    profiles: dict[str, Profile]
    second_opinion: str = ""  # cryptography's error where it rejects; "" when it accepts
    weaknesses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fallback: bool = False

    @property
    def ok(self) -> bool:
        """The verdict of OpenSSL's default profile: what most of the image's clients do."""
        return self.profiles["default"].ok

    @property
    def path(self) -> list[str]:
        return [subject_of(d) for d in self.profiles["default"].path]

    def to_json(self) -> dict:
        doc = {
            "ok": self.ok,
            "host": self.host,
            "at": self.at.isoformat(),
            "engine": self.engine,
            "profiles": {k: p.to_json() for k, p in self.profiles.items()},
            "path": self.path if self.ok else [],
            "second_opinion": {"engine": "cryptography (RFC 5280)", "error": self.second_opinion},
            "weaknesses": self.weaknesses,
            "warnings": self.warnings,
        }
        default = self.profiles["default"]
        if self.ok:
            doc["anchor_sha256"] = _portable.colon_hex(_portable.sha256_hex(default.path[-1]))
        else:
            doc["error"] = default.error
        return doc

    def lines(self) -> list[str]:
        out = []
        default = self.profiles["default"]
        if self.ok:
            out.append(f"chain ok for {self.host}: " + " <- ".join(self.path))
        else:
            out.append(f"chain FAILED for {self.host}: {default.error}")
        for name, p in self.profiles.items():
            if self.fallback:  # no OpenSSL verdict to show: the engine line says why
                break
            what = PROFILE_TEXT[name]
            if p.ok:
                out.append(f"  {name:7} ok      {what}; anchor {display_name(p.path[-1])}")
            else:
                partial = "; OK for clients that accept partial chains" if p.partial_only else ""
                out.append(f"  {name:7} FAILED  {what}: {p.error} (depth {p.depth}){partial}")
        out.append(f"  engine  {self.engine}")
        out += [f"weakness: {w}" for w in self.weaknesses]
        out += [f"warning: {w}" for w in self.warnings]
        return out


def check_chain(
    chain_ders: list[bytes],
    anchors_der: list[bytes],
    at: datetime.datetime,
    host: str | None,
    warn_days: int = calendar.WARN_DAYS,
) -> ChainResult:
    """OpenSSL's verdicts for a chain (leaf first) against anchors, plus the
    second opinion, the named weaknesses and the calendar's warnings."""
    if not chain_ders:
        raise BadInput("the chain holds no certificate")
    leaf = load_der_quietly(chain_ders[0])
    host = host or default_host(leaf)
    if not host:
        raise BadInput("the leaf names no DNS host; pass --host")
    strict_error = _cryptography_verdict(chain_ders, anchors_der, at, host)
    try:
        from ats_roots.trust import ossl

        with ossl.Anchors(anchors_der) as store:
            profiles = {
                name: _openssl_profile(ossl, name, flags, chain_ders, store, at, host)
                for name, flags in ossl.PROFILES.items()
            }
        engine = f"{ossl.version_text()} (this host's libcrypto, as the image's OpenSSL 3 decides)"
        fallback = False
    except ImportError as exc:  # ctypes missing from a cut-down Python
        profiles, engine, fallback = _fallback(strict_error, chain_ders, anchors_der, str(exc))
    except RuntimeError as exc:  # ossl.Unavailable
        profiles, engine, fallback = _fallback(strict_error, chain_ders, anchors_der, str(exc))
    result = ChainResult(host, at, engine, profiles, strict_error, fallback=fallback)
    default = profiles["default"]
    if default.ok and strict_error:
        result.weaknesses = _weaknesses(default.path, profiles["strict"], strict_error, at)
    if default.ok:
        result.warnings = calendar.chain_warnings(default.path, at, warn_days)
    return result


def _openssl_profile(ossl, name, flags, chain_ders, anchors, at, host) -> Profile:
    v = ossl.verify(chain_ders[0], chain_ders[1:], anchors, at, host, flags)
    profile = Profile(name, v.ok, v.error, v.depth, v.path)
    if not v.ok:
        partial = ossl.verify(
            chain_ders[0], chain_ders[1:], anchors, at, host, flags | ossl.X509_V_FLAG_PARTIAL_CHAIN
        )
        profile.partial_only = partial.ok
    return profile


def _fallback(strict_error, chain_ders, anchors, why):
    note = (
        f"no OpenSSL 3 libcrypto here ({why}): cryptography's RFC 5280 verifier "
        "decided; OpenSSL may accept legacy anchors it rejects"
    )
    ok = not strict_error
    profiles = {n: Profile(n, ok, strict_error, -1 if ok else 0) for n in ("default", "strict")}
    if ok:
        path = _cryptography_path(chain_ders, anchors)
        for p in profiles.values():
            p.path = path
    return profiles, note, True


def _cryptography_verdict(chain_ders, anchors_der, at, host) -> str:
    """cryptography's error for the chain, or "" when it accepts."""
    from cryptography import x509
    from cryptography.x509 import verification

    if not anchors_der:
        return "the store holds no certificates"
    certs = [load_der_quietly(d) for d in chain_ders]
    store = verification.Store([load_der_quietly(d) for d in anchors_der])
    builder = verification.PolicyBuilder().store(store).time(at)
    try:
        import ipaddress

        try:
            subject = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            subject = x509.DNSName(host)
        verifier = builder.build_server_verifier(subject)
        verifier.verify(certs[0], certs[1:])
    except (verification.VerificationError, ValueError) as exc:
        return str(exc) or exc.__class__.__name__
    return ""


def _cryptography_path(chain_ders, anchors_der) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    # Only for the fallback's display: the path cryptography found.
    from cryptography.x509 import verification

    certs = [load_der_quietly(d) for d in chain_ders]
    store = verification.Store([load_der_quietly(d) for d in anchors_der])
    verifier = verification.PolicyBuilder().store(store).build_client_verifier()
    try:
        path = verifier.verify(certs[0], certs[1:]).chain
    except verification.VerificationError:
        return chain_ders[:1]
    return [c.public_bytes(Encoding.DER) for c in path]


def _weaknesses(path: list[bytes], strict: Profile, strict_error: str, at) -> list[str]:
    """Name, per certificate of OpenSSL's path, what a strict RFC 5280 profile
    refuses in it; fall back to cryptography's own message."""
    out = []
    if strict.ok:
        strict_text = "accepted by OpenSSL (default and -x509_strict)"
    else:
        strict_text = f"accepted by OpenSSL (default; rejected by -x509_strict: {strict.error})"
    for depth, der in enumerate(path):
        faults = certificate_faults(der, is_ca=depth > 0)
        if not faults:
            continue
        role = "anchor" if depth == len(path) - 1 else "leaf" if depth == 0 else "intermediate"
        parts = [f"{role} {display_name(der)}: " + ", ".join(faults), strict_text]
        fate = calendar.fate(der, at)
        if fate:
            parts.append(fate)
        out.append("; ".join(parts))
    if not out:
        out.append(
            f"a strict RFC 5280 verifier (cryptography) rejects it: {strict_error}; {strict_text}"
        )
    return out


def certificate_faults(der: bytes, is_ca: bool) -> list[str]:
    """RFC 5280 profile faults that OpenSSL's default tolerates."""
    from cryptography import x509
    from cryptography.utils import CryptographyDeprecationWarning

    cert = load_der_quietly(der)
    faults = []
    if cert.version != x509.Version.v3:
        faults.append("not a v3 certificate")
    with warnings.catch_warnings():  # serial 0 (Starfield roots): the fault named below
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if cert.serial_number <= 0:
            faults.append("serial number not positive")
        exts = cert.extensions

    def ext(cls):
        try:
            return exts.get_extension_for_class(cls)
        except x509.ExtensionNotFound:
            return None

    if is_ca:
        bc = ext(x509.BasicConstraints)
        if bc is None:
            faults.append("no basicConstraints")
        elif not bc.critical:
            faults.append("basicConstraints not critical")
        if ext(x509.KeyUsage) is None:
            faults.append("no keyUsage")
        if ext(x509.SubjectKeyIdentifier) is None:
            faults.append("no subjectKeyIdentifier")
    if cert.issuer != cert.subject and ext(x509.AuthorityKeyIdentifier) is None:
        faults.append("no authorityKeyIdentifier")
    return faults
