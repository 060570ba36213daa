"""Certificates made by the tests for the trust tests: a builder over
`cryptography` (RSA and ECDSA keys made once per session), and the chain
cases of the differential test.

Every case is (name, chain DERs leaf first, anchor DERs, time, host). The
cases cover what TLS verifiers disagree on: cross-signs, legacy roots
(basicConstraints not critical, no key identifiers, no keyUsage), validity,
host names and wildcards, EKU, path length, name constraints, and chains
missing an intermediate."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import itertools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
KINDS = ("rsa", "p256", "p384")


@functools.cache
def key(kind: str, n: int):
    """Key number n of a kind, made once per session."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1() if kind == "p256" else ec.SECP384R1())


_SERIAL = itertools.count(1000)


@dataclass
class Cert:
    name: str
    key: object
    cert: x509.Certificate = None

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)


@dataclass
class Spec:
    """What to put in a certificate; defaults make a good modern CA."""

    ca: bool = True
    bc: bool = True  # basicConstraints present
    bc_critical: bool = True
    path_length: int | None = None
    key_usage: bool = True
    key_ids: bool = True  # subject and authority key identifiers
    eku: tuple = ()
    sans: tuple = ()
    ips: tuple = ()
    not_before: datetime.datetime = T0 - 365 * DAY
    not_after: datetime.datetime = T0 + 3650 * DAY
    permitted: tuple = ()
    excluded: tuple = ()
    extra: list = field(default_factory=list)


def name(text: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ATS trust tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, text),
        ]
    )


def make(subject: str, subject_key, spec: Spec, issuer: Cert | None = None) -> Cert:
    """A certificate for subject_key, signed by issuer (self-signed if None)."""
    issuer_name = issuer.cert.subject if issuer else name(subject)
    signer = issuer.key if issuer else subject_key
    pub = subject_key.public_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer_name)
        .public_key(pub)
        .serial_number(next(_SERIAL))
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    if spec.bc:
        b = b.add_extension(
            x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length if spec.ca else None),
            critical=spec.bc_critical,
        )
    if spec.key_usage:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=not spec.ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=spec.ca,
                crl_sign=spec.ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if spec.key_ids:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    if spec.eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
    if spec.sans or spec.ips:
        names = [x509.DNSName(s) for s in spec.sans]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ips]
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if spec.permitted or spec.excluded:
        b = b.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(d) for d in spec.permitted] or None,
                excluded_subtrees=[x509.DNSName(d) for d in spec.excluded] or None,
            ),
            critical=True,
        )
    for ext, critical in spec.extra:
        b = b.add_extension(ext, critical=critical)
    algorithm = (
        hashes.SHA384()
        if isinstance(signer, ec.EllipticCurvePrivateKey) and (signer.curve.name == "secp384r1")
        else hashes.SHA256()
    )
    return Cert(subject, subject_key, b.sign(signer, algorithm))


def leaf_spec(*sans, **kw) -> Spec:
    kw.setdefault("eku", (ExtendedKeyUsageOID.SERVER_AUTH,))
    kw.setdefault("not_before", T0 - 30 * DAY)
    kw.setdefault("not_after", T0 + 60 * DAY)
    return Spec(ca=False, sans=sans, **kw)


LEGACY = Spec(bc_critical=False, key_usage=False, key_ids=False)


def cases():
    """The generated chains: [(name, chain, anchors, at, host)]."""
    out = []
    kinds = list(itertools.product(KINDS, KINDS))  # (CA key kind, leaf key kind)
    for i, (ck, lk) in enumerate(kinds):
        out += _family(f"{ck}/{lk}", ck, lk, i)
    return out


def _family(tag: str, ck: str, lk: str, i: int):
    root = make(f"Root {tag}", key(ck, 0), Spec())
    inter = make(f"Inter {tag}", key(ck, 1), Spec(path_length=0), root)
    leaf_key = key(lk, 2)
    host = "www.example.com"

    def leaf(issuer=inter, *sans, **kw):
        return make(f"Leaf {tag}", leaf_key, leaf_spec(*(sans or (host,)), **kw), issuer)

    good = leaf()
    cases = []

    def add(what, chain, anchors, at=T0, h=host):
        cases.append((f"{tag} {what}", [c.der for c in chain], [a.der for a in anchors], at, h))

    # validity and the host
    add("good", [good, inter], [root])
    add("good, root sent too", [good, inter, root], [root])
    add("expired leaf", [good, inter], [root], T0 + 90 * DAY)
    add("leaf not yet valid", [good, inter], [root], T0 - 45 * DAY)
    add("wrong host", [good, inter], [root], h="other.example.com")
    add("host differs in case", [good, inter], [root], h="WWW.Example.COM")
    add("parent domain", [good, inter], [root], h="example.com")
    old_inter = make(f"Inter {tag}", key(ck, 1), Spec(path_length=0, not_after=T0 - DAY), root)
    add("expired intermediate", [good, old_inter], [root])
    add("no anchor", [good, inter], [])
    add("missing intermediate", [good], [root])
    add("intermediate as anchor only", [good], [inter])
    add("intermediate and root as anchors", [good], [inter, root])
    add("self-signed root in chain, not trusted", [good, inter, root], [])
    # wildcards
    wild = leaf(inter, "*.example.com")
    for h in ("a.example.com", "example.com", "a.b.example.com", "A.EXAMPLE.COM", ".example.com"):
        add(f"wildcard *.example.com for {h}", [wild, inter], [root], h=h)
    partial = leaf(inter, "f*.example.com")
    for h in ("foo.example.com", "bar.example.com"):
        add(f"partial wildcard f*.example.com for {h}", [partial, inter], [root], h=h)
    deep = leaf(inter, "*.*.example.com")
    add("double wildcard", [deep, inter], [root], h="a.b.example.com")
    tld = leaf(inter, "*.com")
    add("wildcard of a TLD", [tld, inter], [root], h="example.com")
    addressed = leaf(inter, "www.example.com", ips=("192.0.2.10",))
    for h in ("192.0.2.10", "192.0.2.11"):
        add(f"IP address {h}", [addressed, inter], [root], h=h)
    # EKU
    client = leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    add("clientAuth only", [client, inter], [root])
    add("no EKU", [leaf(eku=()), inter], [root])
    anyeku = leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH))
    add("client and server EKU", [anyeku, inter], [root])
    code = leaf(eku=(ExtendedKeyUsageOID.CODE_SIGNING,))
    add("codeSigning only", [code, inter], [root])
    inter_eku = make(
        f"Inter {tag}",
        key(ck, 1),
        Spec(path_length=0, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
        root,
    )
    add("intermediate EKU clientAuth", [good, inter_eku], [root])
    # path length and CA bits
    inter2 = make(f"Inter2 {tag}", key(ck, 3), Spec(), inter)
    leaf2 = leaf(inter2)
    add("path length exceeded", [leaf2, inter2, inter], [root])
    inter_free = make(f"Inter {tag}", key(ck, 1), Spec(), root)
    add("path length free", [leaf2, inter2, inter_free], [root])
    not_ca = make(f"Inter {tag}", key(ck, 1), Spec(ca=False), root)
    add("intermediate not a CA", [good, not_ca], [root])
    no_ku = make(f"Inter {tag}", key(ck, 1), Spec(path_length=0, key_usage=False), root)
    add("intermediate without keyUsage", [good, no_ku], [root])
    no_bc = make(f"Inter {tag}", key(ck, 1), Spec(bc=False), root)
    add("intermediate without basicConstraints", [good, no_bc], [root])
    # name constraints
    nc = make(f"Inter {tag}", key(ck, 1), Spec(permitted=("example.com",)), root)
    add("name constraints permit", [good, nc], [root])
    other = leaf(nc, "www.example.org")
    add("name constraints forbid", [other, nc], [root], h="www.example.org")
    ex = make(f"Inter {tag}", key(ck, 1), Spec(excluded=("www.example.com",)), root)
    add("name constraints exclude", [good, ex], [root])
    # legacy roots and cross-signs
    legacy = make(f"Legacy Root {tag}", key(ck, 4), LEGACY)
    cross = make(f"Root {tag}", key(ck, 0), Spec(), legacy)  # the root, issued by legacy
    add("cross-signed to a legacy root", [good, inter, cross], [legacy])
    add("cross-signed, both anchors", [good, inter, cross], [legacy, root])
    add("cross-signed, new root only", [good, inter, cross], [root])
    add("cross-sign as anchor", [good, inter], [cross])
    legacy_inter = make(f"Inter {tag}", key(ck, 1), Spec(path_length=0), legacy)
    add("issued by a legacy root", [good, legacy_inter], [legacy])
    legacy_mid = make(f"Inter {tag}", key(ck, 1), LEGACY, root)
    add("legacy intermediate", [good, legacy_mid], [root])
    expired_cross = make(f"Root {tag}", key(ck, 0), Spec(not_after=T0 - DAY), legacy)
    add("expired cross-sign, legacy anchor", [good, inter, expired_cross], [legacy])
    add("expired cross-sign, new anchor", [good, inter, expired_cross], [legacy, root])
    return cases
