"""Certificates to install: the pinned roots plus checked site CAs."""

from __future__ import annotations

from collections import namedtuple

from ats_roots import _portable
from ats_roots.errors import BadInput
from ats_roots.trust.roots import load_der_quietly, load_roots, now


# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
class Cert(namedtuple("Cert", ["slug", "name", "sha256", "pem", "der"])):
    """A certificate to install: a pinned root or a checked extra CA."""

    # slug: file-name stem, e.g. ats-AmazonRootCA1
    __slots__ = ()


def ats_certs() -> list[Cert]:
    return [Cert(r.slug, r.name, r.sha256, r.pem, r.der) for r in load_roots()]


def load_extra_ca(path: str) -> list[Cert]:
    """Every certificate in a site CA file, refused unless each is a valid CA."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    try:
        blocks = _portable.pem_blocks(data, strict=True)
    except _portable.PemError as exc:
        raise BadInput(f"{path}: not a PEM CA certificate: it {exc}") from None
    out = []
    for pem, der in blocks:
        try:
            cert = load_der_quietly(der)
            # The checks the hook makes, by the same code (it has no X.509 parser).
            is_ca, not_after, _ = _portable.cert_facts(der)
        except (ValueError, IndexError) as exc:
            raise BadInput(f"{path}: a block does not parse as X.509 ({exc})") from None
        subject = cert.subject.rfc4514_string()
        if not is_ca:
            raise BadInput(
                f"{path}: {subject} is not a CA certificate (no basicConstraints CA:TRUE); "
                "give the root that issued it"
            )
        if not_after < now().strftime("%Y%m%d%H%M%S"):
            day = f"{not_after[:4]}-{not_after[4:6]}-{not_after[6:8]}"
            raise BadInput(f"{path}: {subject} expired on {day}")
        sha = _portable.sha256_hex(der)
        out.append(Cert("ats-extra-" + sha[:16], subject, sha, pem, der))
    return out


def certs_to_install(extra_ca_paths: list[str] | None) -> list[Cert]:
    certs = ats_certs()
    seen = {c.sha256 for c in certs}
    for path in extra_ca_paths or []:
        for cert in load_extra_ca(path):
            if cert.sha256 not in seen:
                seen.add(cert.sha256)
                certs.append(cert)
    return certs
